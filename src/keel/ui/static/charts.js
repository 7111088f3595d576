/* Metric charts shared by the run and compare pages: series by step or time, smoothed. */
"use strict";

const KeelCharts = (() => {
  /** Exponential moving average with bias correction (as TensorBoard smooths). */
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0;
    return values.map((v, i) => {
      if (!Number.isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      return last / (1 - weight ** (i + 1));
    });
  }

  /** Points [key, value, step, ts] of one metric, as an x/y trace. */
  function trace(points, { name, xaxis = "step", weight = 0 } = {}) {
    const values = points.map((p) => (typeof p[1] === "string" ? Number(p[1]) : p[1]));
    return {
      type: "scatter", mode: points.length > 1 ? "lines" : "markers", name,
      x: points.map((p) => (xaxis === "time" ? new Date(p[3]) : p[2])),
      y: smooth(values, weight),
    };
  }

  async function history(runId, key) {
    return Keel.api(`/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(key)}`);
  }

  return { history, smooth, trace };
})();
