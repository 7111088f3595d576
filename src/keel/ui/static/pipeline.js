/* One pipeline: its params, triggers, steps (what each takes from which) and run history. */
"use strict";

Keel.page("pipeline", async () => {
  const { api, fill, pairs, table, time } = Keel;
  const P = KeelPipelines;
  const name = document.body.dataset.name;
  const [pipeline, runs] = await Promise.all([
    api(`/pipelines/${encodeURIComponent(name)}`),
    api(`/pipelines/-/runs?pipeline=${encodeURIComponent(name)}&limit=100`),
  ]);
  const spec = pipeline.spec || {};
  fill("summary", `Entry point ${spec.entrypoint || "?"} · recorded ${time(pipeline.created_at)} · `,
    `${runs.length} run(s) shown`);
  fill("params", pairs(Object.fromEntries(Object.entries(spec.params || {}).map(([k, p]) =>
    [k, `${p.type || "any"}${"default" in p ? ` = ${JSON.stringify(p.default)}` : " (required)"}`])), "No params."));
  fill("triggers", table([["trigger", (t) => P.trigger(t)]], spec.triggers || [],
    { empty: "No triggers: it runs when someone runs it." }));
  fill("steps", table([
    ["step", (s) => s.name],
    ["takes", (s) => Object.entries(s.inputs || {}).map(([k, v]) => `${k} ← ${v}`).join(", ")],
    ["params", (s) => Object.keys(s.params || {}).join(", ")],
    ["cached", (s) => (s.cache ? "yes" : "no")],
    ["retries", (s) => s.retries || 0, { num: true }],
  ], spec.steps || [], { empty: "No steps." }));
  fill("history", table([
    ["run", (r) => P.runLink(name, r.id)],
    ["status", (r) => P.state(r.status)],
    ["trigger", (r) => P.trigger(r.trigger)],
    ["params", (r) => Object.entries(r.params || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")],
    ["started", (r) => time(r.started_at || r.created_at)],
    ["took", (r) => (r.ended_at || r.status === "running" ? P.duration(r.started_at, r.ended_at) : "")],
  ], runs, { empty: "Never run.", rowClass: (r) => (r.status === "failed" ? "fail" : null) }));
});
