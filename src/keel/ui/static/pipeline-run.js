/* One pipeline run: the DAG with each step's state (plain SVG, laid out by depth), each
   step's attempts, duration, cache hit, outputs, logs and traceback; the approvals it waits
   for (approvers decide here); Resume and Cancel for writers. */
"use strict";

Keel.page("pipeline-run", async () => {
  const { $, api, can, confirmAction, fill, h, links, pairs, table, time } = Keel;
  const P = KeelPipelines;
  const name = document.body.dataset.name;
  const runId = document.body.dataset.run;
  const runPath = `/pipelines/-/runs/${encodeURIComponent(runId)}`;
  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...children) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    el.append(...children);
    return el;
  };
  const writer = await can("writer");
  let run = null;
  let latest = {};

  /** An output as a link to its dataset or model page, or what it is in words. */
  function output(value) {
    const ref = String(value.ref || "");
    if (value.kind === "dataset_version") {
      const m = ref.match(/^(.*):v(\d+)$/);
      return m ? links.dataset(m[1], ref, m[2]) : ref;
    }
    if (value.kind === "model_version") {
      const m = ref.match(/^(.*):(\d+)$/);
      return m ? links.model(m[1], ref) : ref;
    }
    return h("span", { class: "muted" }, `${value.kind || "value"} ${ref.slice(0, 12)}`);
  }
  const outputs = (s) => Object.entries(s.outputs || {}).map(([k, v], i) =>
    [i ? ", " : "", k === "return" ? "" : `${k}: `, output(v)]);
  const cache = (s) => (s.cached_from ? h("span", { class: "badge ok" }, `hit (${s.cached_from.slice(0, 12)})`) : "");

  /** Steps of the spec (and any the run has that the spec no longer does), with edges. */
  function graph(spec) {
    const steps = (spec.steps || []).map((s) => ({ name: s.name, inputs: s.inputs || {} }));
    for (const s of run.steps) if (!steps.some((x) => x.name === s.step)) steps.push({ name: s.step, inputs: {} });
    const names = new Set(steps.map((s) => s.name));
    const edges = [];
    for (const s of steps) {
      for (const source of Object.values(s.inputs)) {
        const from = String(source).slice(0, String(source).lastIndexOf("."));
        if (names.has(from) && !edges.some(([a, b]) => a === from && b === s.name)) edges.push([from, s.name]);
      }
    }
    const depth = {};
    const depthOf = (n, seen = new Set()) => {
      if (n in depth) return depth[n];
      if (seen.has(n)) return 0;
      seen.add(n);
      const ins = edges.filter(([, b]) => b === n).map(([a]) => depthOf(a, seen) + 1);
      depth[n] = ins.length ? Math.max(...ins) : 0;
      return depth[n];
    };
    steps.forEach((s) => depthOf(s.name));
    return { steps, edges, depth };
  }

  function drawDag(spec) {
    const { steps, edges, depth } = graph(spec);
    const W = 180, H = 52, GX = 70, GY = 24, PAD = 16;
    // an edge that skips a column arcs over the boxes between, in room kept above them
    const skips = edges.some(([a, b]) => depth[b] - depth[a] > 1);
    const TOP = PAD + (skips ? 36 : 0);
    const columns = {};
    const at = {};
    for (const s of steps) {
      const d = depth[s.name];
      const row = (columns[d] = (columns[d] || 0) + 1) - 1;
      at[s.name] = { x: PAD + d * (W + GX), y: TOP + row * (H + GY) };
    }
    const width = PAD * 2 + (Math.max(...Object.values(depth), 0) + 1) * (W + GX) - GX;
    const height = TOP + PAD + Math.max(...Object.values(columns), 1) * (H + GY) - GY;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "group", "aria-label": `DAG of ${name} run ${runId.slice(0, 12)}` });
    root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
    for (const [a, b] of edges) {
      const p = at[a], q = at[b];
      const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H / 2, mx = (x1 + x2) / 2;
      const d = depth[b] - depth[a] > 1
        ? `M ${p.x + W / 2} ${p.y} C ${p.x + W / 2} ${TOP - 40}, ${q.x + W / 2} ${TOP - 40}, ${q.x + W / 2} ${q.y}`
        : `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
      root.append(svg("path", { class: "edge", d, "marker-end": "url(#arrow)", "data-from": a, "data-to": b }));
    }
    for (const s of steps) {
      const rec = latest[s.name];
      const state = rec ? rec.status : "not-run";
      const words = rec ? `${rec.status}${rec.cached_from ? ", from the cache" : ""}${rec.attempt > 1 ? `, ${rec.attempt} attempts` : ""}` : "not run";
      const { x, y } = at[s.name];
      const node = svg("g", { class: `node state-${state}`, tabindex: 0, role: "button", "data-step": s.name, "data-state": state, "aria-label": `step ${s.name}: ${words}` },
        svg("title", {}, `${s.name}: ${words}`),
        svg("rect", { x, y, width: W, height: H, rx: 6 }),
        svg("text", { x: x + 10, y: y + 20, class: "step-name" }, s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name),
        svg("text", { x: x + 10, y: y + 40, class: "step-state" }, rec ? `${rec.status}${rec.cached_from ? " · cached" : ""}` : "not run"));
      node.addEventListener("click", () => showStep(s.name));
      node.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showStep(s.name); }
      });
      root.append(node);
    }
    fill("dag", root);
    const seen = [...new Set(steps.map((s) => (latest[s.name] ? latest[s.name].status : "not-run")))];
    fill("legend", "States: ", seen.map((st) => [P.state(st === "not-run" ? "not run" : st), " "]));
  }

  async function showStep(step) {
    const rec = latest[step];
    $("step-box").hidden = false;
    fill("step-name", step);
    document.querySelectorAll("#dag .node").forEach((n) => n.classList.toggle("selected", n.dataset.step === step));
    if (!rec) {
      fill("step-detail", h("p", { class: "muted" }, "This step has not run in this run."));
      $("traceback").hidden = true;
      fill("logs", "");
      return;
    }
    const facts = [
      ["status", P.state(rec.status)], ["attempts", String(rec.attempt)],
      ["tries in this run", String(run.steps.filter((s) => s.step === step).length)],
      ["started", time(rec.started_at)], ["took", P.duration(rec.started_at, rec.ended_at)],
      ["cache", rec.cached_from ? cache(rec) : "not from the cache"],
      ["outputs", rec.outputs ? outputs(rec) : "none"],
    ];
    fill("step-detail", h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    $("traceback").hidden = !rec.error;
    fill("traceback", rec.error || "");
    fill("logs", "Loading…");
    const logs = await api(`${runPath}/logs?step=${encodeURIComponent(step)}`);
    const text = logs.map((l) => `--- attempt ${l.attempt} (${l.status}) ---\n${l.log || "(no output)"}`).join("\n");
    fill("logs", text || "(no output)");
  }

  async function load() {
    run = await api(runPath);
    latest = {};
    for (const s of run.steps) latest[s.step] = s;
    let spec = { steps: [] };
    try {
      spec = (await api(`/pipelines/${encodeURIComponent(run.pipeline)}`)).spec || spec;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    document.body.dataset.status = run.status;
    fill("summary", P.state(run.status), ` · trigger ${P.trigger(run.trigger)} · started ${time(run.started_at || run.created_at)}`,
      run.ended_at ? ` · took ${P.duration(run.started_at, run.ended_at)}` : "");
    fill("run-error", run.error || "");
    fill("params", pairs(run.params, "No params."));
    fill("trigger", pairs({ trigger: P.trigger(run.trigger), ...(run.options || {}) }));
    $("resume").hidden = !(writer && ["failed", "waiting", "cancelled"].includes(run.status));
    $("cancel").hidden = !(writer && ["queued", "waiting", "running"].includes(run.status));
    drawDag(spec);
    fill("steps", table([
      ["step", (s) => h("button", { type: "button", class: "link-button", onclick: () => showStep(s.step) }, s.step)],
      ["status", (s) => P.state(s.status)],
      ["attempts", (s) => s.attempt, { num: true }],
      ["started", (s) => time(s.started_at)],
      ["took", (s) => P.duration(s.started_at, s.ended_at)],
      ["cache", cache],
      ["outputs", outputs],
    ], run.steps, { empty: "No step has run yet.", rowClass: (s) => (s.status === "failed" ? "fail" : null) }));
    const approvals = await api(`/approvals?status=all&limit=1000&pipeline_run=${encodeURIComponent(runId)}`);
    $("approvals-box").hidden = !approvals.length;
    if (approvals.length) {
      await KeelApprovals.render("approvals", approvals, {
        onDecided: () => Keel.status("Decided: the agent resumes the run on its next pass."),
      });
    }
  }

  async function act(verb) {
    try {
      if (verb === "cancel" && !await confirmAction("Cancel this run?", `Run ${runId.slice(0, 12)} of ${name} stops; Resume picks it up again.`, "Cancel the run")) return;
      await api(`${runPath}/${verb}`, { method: "POST" });
      await load();
      Keel.status(verb === "resume" ? `Run ${run.status}: the agent resumes it on its next pass.` : `Run ${run.status}.`);
    } catch (err) {
      Keel.status(err.message);
    }
  }
  $("resume").addEventListener("click", () => act("resume"));
  $("cancel").addEventListener("click", () => act("cancel"));
  await load();
  const failed = run.steps.find((s) => s.status === "failed");
  if (failed) await showStep(failed.step);
});
