/* One deployment: its routes and traffic split, rollout history with canary steps, and a
   rollback (writers; confirmed first). */
"use strict";

Keel.page("deployment", async () => {
  const { $, api, can, chart, confirmAction, fill, h, links, num, table, time } = Keel;
  const name = document.body.dataset.name;
  const base = `/deployments/${encodeURIComponent(name)}`;

  async function load() {
    const [current, history] = await Promise.all([api(base), api(`${base}/history`)]);
    const spec = current.spec;
    fill("current", `Revision ${current.revision} (${current.status}) of model `, links.model(spec.model),
      `, applied by ${current.actor} at ${time(current.created_at)}`,
      spec.shadow && spec.shadow.length ? ` · shadow: ${spec.shadow.join(", ")}` : "");
    fill("routes", table([
      ["version", (r) => r.version],
      ["weight %", (r) => r.weight, { num: true }],
    ], spec.routes));
    fill("split");
    chart("split", [{
      type: "pie", labels: spec.routes.map((r) => r.version), values: spec.routes.map((r) => r.weight),
      hole: 0.4, textinfo: "label+percent", sort: false,
    }], { showlegend: false, height: 280 }, `traffic split: ${spec.routes.map((r) => `${r.version} ${r.weight}%`).join(", ")}`);
    fill("history", table([
      ["revision", (r) => r.revision, { num: true }],
      ["kind", (r) => r.kind + (r.restores ? ` (restores ${r.restores})` : "")],
      ["status", (r) => r.status],
      ["routes", (r) => r.spec.routes.map((x) => `${x.version} ${x.weight}%`).join(", ")],
      ["canary steps", (r) => r.steps && r.steps.length
        ? table([["step", (s) => s.step], ["weight %", (s) => s.weight, { num: true }], ["status", (s) => s.status],
          ["metrics", (s) => Object.entries(s.metrics || {}).map(([k, v]) => `${k}=${num(v)}`).join(" ")]], r.steps)
        : (r.spec.canary ? `canary ${r.spec.canary.steps.join("→")}%` : "")],
      ["by", (r) => r.actor],
      ["when", (r) => time(r.created_at)],
    ], history));
    $("rollback").hidden = !(await can("writer")) || !history.some((r) => r.revision < current.revision);
    return current;
  }

  /** Throughput, p99 latency and error rate over time, side by side, from the server's
      own records: the model server's counts of every interval (source "server"), its
      monitors' windows and its canary steps. */
  async function health() {
    const { points } = await api(`${base}/stats?limit=500`);
    fill("health");
    $("health-updated").textContent = `Read at ${time(Date.now())} UTC; read again every 30 s.`;
    if (!points.length) {
      fill("health", h("p", { class: "muted" },
        "Nothing measured yet: a running model server (keel serve) records its counts every interval, and a monitor's windows (keel monitor apply) and a canary's steps fill these charts too."));
      return;
    }
    const series = (key, scale = 1, from = points) => {
      const shown = from.filter((p) => p[key] !== null);
      return { x: shown.map((p) => new Date(p.at)), y: shown.map((p) => p[key] * scale), text: shown.map((p) => p.source) };
    };
    const layout = (title, y) => ({ title, height: 280, margin: { t: 40, b: 50 }, xaxis: { type: "date" }, yaxis: { title: { text: y }, rangemode: "tozero" } });
    const line = (key, name, scale, from) => ({ type: "scatter", mode: "lines+markers", name, hovertemplate: "%{y:.4g} at %{x}<br>%{text}<extra></extra>", ...series(key, scale, from) });
    const throughput = series("throughput_rps").y.length ? line("throughput_rps", "requests/s") : line("requests", "requests");
    chart("health", [throughput], layout("throughput", throughput.name), "throughput over time");
    chart("health", [line("p99_ms", "p99 ms")], layout("p99 latency", "ms"), "p99 latency over time");
    // the model server's counts of every interval, and of each canary step, as two lines
    const errors = [
      line("error_rate", "model server (5xx) %", 100, points.filter((p) => p.source === "server")),
      line("error_rate", "canary steps %", 100, points.filter((p) => p.source !== "server")),
    ].filter((trace) => trace.y.length);
    if (errors.length) {
      chart("health", errors, layout("error rate", "% of requests"), "error rate over time");
    } else {
      $("health").append(h("p", { class: "muted error-rate-none" },
        "Error rate: no failed-request counts yet; a running model server (keel serve) records them every interval."));
    }
  }

  $("rollback").addEventListener("click", async () => {
    const current = await api(base);
    const ok = await confirmAction(
      `Roll back ${name}?`,
      `Revision ${current.revision} stops serving and the spec that ran before it comes back as a new revision.`,
      "Roll back");
    if (!ok) return;
    try {
      const rollout = await api(`${base}/rollback`, { method: "POST" });
      Keel.status(`Rolled back: revision ${rollout.revision} now serves.`);
      await load();
    } catch (err) {
      Keel.status(err.message);
    }
  });
  await load();
  await health();
  // live: the health charts are read again every 30 s while the tab is in view
  const REFRESH_MS = 30_000;
  const refresh = async () => {
    if (document.visibilityState !== "visible") return;
    try {
      await health();
    } catch (err) {
      Keel.status(err.message);
    }
  };
  setInterval(refresh, REFRESH_MS);
});
