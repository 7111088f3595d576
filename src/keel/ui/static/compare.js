/* Compare 2-10 runs: overlaid metric charts and a param diff. */
"use strict";

Keel.page("compare", async () => {
  const { $, api, chart, fill, h, links, num } = Keel;
  const ids = [...new Set((new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean))];
  if (ids.length < 2 || ids.length > 10) {
    Keel.status(`Pick 2 to 10 runs to compare (got ${ids.length}): tick them on the Runs page.`);
    return;
  }
  const runs = await Promise.all(ids.map((id) => api(`/runs/${encodeURIComponent(id)}`)));
  fill("runs-head", h("p", {}, "Comparing ", runs.map((r, i) => [i ? ", " : "", links.run(r.id, r.name)])));

  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => !k.startsWith("system/")).sort();
  for (const key of keys) {
    const having = runs.filter((r) => key in r.metrics);
    const series = await Promise.all(having.map((r) => KeelCharts.history(r.id, key)));
    if (series.every((points) => points.length <= 1)) {  // one value each: bars, not dots
      chart("metrics", [{ type: "bar", x: having.map((r) => r.name), y: having.map((r) => r.metrics[key]) }],
        { title: key }, `${key} of each run`);
      continue;
    }
    const traces = series.map((points, i) => KeelCharts.trace(points, { name: having[i].name }));
    chart("metrics", traces, { title: key, xaxis: { title: { text: "step" } } }, `${key} of each run by step`);
  }
  if (!keys.length) fill("metrics", h("p", { class: "muted" }, "These runs logged no metrics."));

  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  function draw() {
    const only = $("only-diff").checked;
    const rows = params
      .map((p) => ({ key: p, values: runs.map((r) => r.params[p]) }))
      .map((row) => ({ ...row, differs: new Set(row.values.map(String)).size > 1 }))
      .filter((row) => !only || row.differs);
    const metricRows = keys.map((k) => ({ key: k, values: runs.map((r) => num(r.metrics[k])), metric: true }));
    const head = h("tr", {}, h("th", { scope: "col" }, "param"), runs.map((r) => h("th", { scope: "col" }, r.name)));
    const body = rows.map((row) => h("tr", { class: row.differs ? "differs" : null },
      h("th", { scope: "row" }, row.key), row.values.map((v) => h("td", {}, v ?? "—"))));
    const metricsBody = metricRows.map((row) => h("tr", {},
      h("th", { scope: "row" }, `metric ${row.key}`), row.values.map((v) => h("td", { class: "num" }, v))));
    fill("params", h("table", { id: "param-diff" }, h("thead", {}, head), h("tbody", {}, body, metricsBody)));
  }
  $("only-diff").addEventListener("change", draw);
  draw();
});
