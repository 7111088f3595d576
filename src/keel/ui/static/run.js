/* One run: params, tags, metric charts (by step or time, smoothed), system metrics,
   artifacts with previews, code version, environment and a lineage link. */
"use strict";

function envSummary(env) {
  const python = env.python && typeof env.python === "object" ? env.python.version : env.python;
  const os = env.os && typeof env.os === "object" ? [env.os.system, env.os.release].filter(Boolean).join(" ") : env.os;
  const packages = env.packages ? Object.keys(env.packages).length : 0;
  return [python && `Python ${String(python).split(" ")[0]}`, os, packages && `${packages} packages`].filter(Boolean).join(" · ") || "Details";
}

Keel.page("run", async () => {
  const { $, api, chart, fill, h, num, pairs, table, time } = Keel;
  const runId = document.body.dataset.run;
  const run = await api(`/runs/${encodeURIComponent(runId)}`);
  $("run-name").textContent = run.name;
  document.title = `Run ${run.name} · keel`;
  fill("summary",
    h("span", { class: `badge ${run.status === "FAILED" ? "bad" : "ok"}` }, run.status), " ",
    `experiment ${run.experiment} · id ${run.id} · created ${time(run.created_at)}`,
    run.duration_s !== undefined && run.ended_at ? ` · ${((run.ended_at - run.started_at) / 1000).toFixed(1)} s` : "",
    run.parent_id ? [" · parent ", Keel.links.run(run.parent_id)] : "",
    run.error ? h("span", { class: "error" }, ` · ${run.error}`) : "");
  fill("params", pairs(run.params, "No params."));
  fill("tags", pairs(run.tags, "No tags."));

  const keys = Object.keys(run.metrics).sort();
  const histories = Object.fromEntries(await Promise.all(
    keys.map(async (key) => [key, await KeelCharts.history(run.id, key)])));

  function draw() {
    const xaxis = $("xaxis").value;
    const weight = Number($("smoothing").value);
    $("smoothing-value").textContent = weight.toFixed(2);
    fill("metrics");
    fill("system");
    const single = keys.filter((key) => histories[key].length <= 1);
    if (single.length) {  // one value each: a table says it better than a chart of a dot
      for (const [where, pick] of [["metrics", (k) => !k.startsWith("system/")], ["system", (k) => k.startsWith("system/")]]) {
        const rows = single.filter(pick);
        if (rows.length) $(where).append(table([["metric", (k) => k], ["value", (k) => run.metrics[k], { num: true }]], rows));
      }
    }
    for (const key of keys) {
      if (single.includes(key)) continue;
      const system = key.startsWith("system/");
      const points = histories[key];
      const traces = [KeelCharts.trace(points, { name: key, xaxis, weight: system ? 0 : weight })];
      if (weight && !system && points.length > 1) {
        traces.unshift({ ...KeelCharts.trace(points, { name: `${key} (raw)`, xaxis }), opacity: 0.3 });
      }
      chart(system ? "system" : "metrics", traces, {
        title: `${key}: ${num(run.metrics[key])}`, showlegend: false,
        xaxis: { title: { text: xaxis } },
      }, `${key} by ${xaxis}`);
    }
    if (!keys.some((k) => !k.startsWith("system/"))) fill("metrics", h("p", { class: "muted" }, "No metrics."));
    if (!keys.some((k) => k.startsWith("system/"))) fill("system", h("p", { class: "muted" }, "No system metrics (log_system_metrics=True records them)."));
  }
  $("xaxis").addEventListener("change", draw);
  $("smoothing").addEventListener("input", draw);
  draw();

  const artifactPath = (a) => `/runs/${encodeURIComponent(run.id)}/artifacts/${a.name.split("/").map(encodeURIComponent).join("/")}`;
  async function download(a) {
    const blob = await api(artifactPath(a), { blob: true });
    const link = h("a", { href: URL.createObjectURL(blob), download: a.name.split("/").pop() });
    link.click();
    URL.revokeObjectURL(link.href);
  }
  async function preview(a) {
    const blob = await api(artifactPath(a), { blob: true });
    const ext = a.name.split(".").pop().toLowerCase();
    let shown;
    if (a.name.endsWith(".plotly.json")) {  // a plotly figure logged with log_figure
      const figure = JSON.parse(await blob.text());
      fill("preview", h("h3", {}, `Preview of ${a.name}`));
      Keel.chart("preview", figure.data || [], { ...(figure.layout || {}), height: 360 }, a.name);
      return;
    } else if (ext === "parquet") {
      shown = h("p", { class: "muted" }, "A Parquet table: download it to read it (pandas.read_parquet).");
    } else if (["png", "jpg", "jpeg", "gif", "webp"].includes(ext)) {
      shown = h("img", { src: URL.createObjectURL(blob), alt: a.name, style: "max-width: 100%" });
    } else if (ext === "csv" || ext === "tsv") {
      const lines = (await blob.slice(0, 65536).text()).split("\n").filter(Boolean).slice(0, 21);
      const sep = ext === "csv" ? "," : "\t";
      const [head, ...rows] = lines.map((l) => l.split(sep));
      shown = table(head.map((title, i) => [title, (row) => row[i] ?? ""]), rows);
    } else {
      shown = h("pre", {}, await blob.slice(0, 65536).text());
    }
    fill("preview", h("h3", {}, `Preview of ${a.name}`), shown);
  }
  fill("artifacts", table([
    ["name", (a) => a.name],
    ["kind", (a) => a.kind],
    ["size", (a) => a.size, { num: true }],
    ["logged", (a) => time(a.created_at)],
    ["", (a) => [
      h("button", { type: "button", "aria-label": `Preview ${a.name}`, onclick: () => preview(a).catch((e) => Keel.status(e.message)) }, "Preview"), " ",
      h("button", { type: "button", "aria-label": `Download ${a.name}`, onclick: () => download(a).catch((e) => Keel.status(e.message)) }, "Download"),
    ]],
  ], run.artifacts || [], { empty: "No artifacts." }));
  fill("code", run.code ? pairs(Object.fromEntries(Object.entries(run.code).filter(([k]) => k !== "diff")), "None.") : h("p", { class: "muted" }, "Not recorded."),
    run.code && run.code.diff ? h("details", {}, h("summary", {}, "Uncommitted diff"), h("pre", {}, run.code.diff)) : null);
  fill("environment", run.environment
    ? h("details", {}, h("summary", {}, envSummary(run.environment)),
      h("pre", {}, JSON.stringify(run.environment, null, 2)))
    : h("p", { class: "muted" }, "Not recorded."));
});
