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

  async function health() {
    const monitors = (await api("/monitors")).filter((m) => m.deployment === name);
    if (!monitors.length) {
      fill("health", h("p", { class: "muted" }, "No monitor watches this deployment: keel monitor apply adds one."));
      return;
    }
    const report = await api(`/monitors/${encodeURIComponent(monitors[0].name)}/report`);
    const results = [...report.results].sort((a, b) => a.window_start - b.window_start);
    const x = results.map((r) => time(r.window_end));
    chart("health", [{ type: "bar", x, y: results.map((r) => r.rows), name: "requests" }],
      { title: `requests per window (${monitors[0].name})`, xaxis: { type: "category" } }, "requests per window");
    chart("health", [{ type: "scatter", mode: "lines+markers", x, y: results.map((r) => r.p99_ms), name: "p99 ms" }],
      { title: "p99 latency (ms)", xaxis: { type: "category" } }, "p99 latency per window");
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
});
