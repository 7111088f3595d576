/* Overview: the project at a glance. */
"use strict";

Keel.page("overview", async () => {
  const { api, fill, h, links, num, table, time, url } = Keel;
  const [experiments, datasets, models, deployments, alerts, activity] = await Promise.all([
    api("/experiments"), api("/datasets"), api("/models"), api("/deployments"),
    api("/alerts?status=open&limit=20"), api("/activity?limit=20"),
  ]);
  fill("experiments", table([
    ["experiment", (e) => h("a", { href: url(`runs?experiment=${encodeURIComponent(e.name)}`) }, e.name)],
    ["runs", (e) => e.run_count, { num: true }],
    ["created", (e) => time(e.created_at)],
  ], experiments, { empty: "No experiments yet: keel.start_run() makes one." }));
  fill("datasets", table([
    ["dataset", (d) => links.dataset(d.name)],
    ["versions", (d) => d.versions, { num: true }],
    ["latest", (d) => d.latest ? d.latest.ref : ""],
    ["rows", (d) => d.latest && d.latest.row_count !== null ? num(d.latest.row_count) : ""],
  ], datasets, { empty: "No datasets yet: keel.log_dataset() versions one." }));
  fill("models", table([
    ["model", (m) => links.model(m.name)],
    ["versions", (m) => m.versions, { num: true }],
    ["aliases", (m) => Object.entries(m.aliases || {}).map(([a, v]) => `${a} → ${v}`).join(", ")],
  ], models, { empty: "No models yet: keel.register_model() registers one." }));
  fill("deployments", table([
    ["deployment", (d) => links.deployment(d.name)],
    ["revision", (d) => d.revision, { num: true }],
    ["status", (d) => d.status],
    ["routes", (d) => d.routes.map((r) => `${r.ref} ${r.weight}%`).join(", ")],
  ], deployments, { empty: "No deployments yet: keel deploy apply makes one." }));
  fill("alerts", table([
    ["severity", (a) => h("span", { class: "badge bad" }, a.severity)],
    ["monitor", (a) => h("a", { href: url("monitoring") }, a.monitor)],
    ["message", (a) => a.message],
    ["since", (a) => [time(a.created_at), a.acknowledged_by ? h("div", { class: "muted" }, `acknowledged by ${a.acknowledged_by}`) : ""]],
  ], alerts, { empty: "No open alerts." }));
  fill("activity", table([
    ["when", (e) => time(e.at)],
    ["who", (e) => e.actor],
    ["did", (e) => e.action],
    ["to", (e) => `${e.object_kind} ${String(e.object_id).slice(0, 24)}`],
  ], activity, { empty: "Nothing has happened yet." }));
  // approvals pipeline runs wait for (decided here by approvers)
  await KeelApprovals.render("waiting", await api("/approvals?status=pending&limit=20"));
});
