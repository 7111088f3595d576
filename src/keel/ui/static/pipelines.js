/* Pipelines: each pipeline with its triggers and last run, approvals waiting, recent runs,
   and which agent leads (it runs queued runs, fires triggers and resumes approved runs). */
"use strict";

Keel.page("pipelines", async () => {
  const { api, fill, h, table, time, url } = Keel;
  const P = KeelPipelines;
  const [pipelines, runs, waiting, agent] = await Promise.all([
    api("/pipelines"), api("/pipelines/-/runs?limit=20"), api("/approvals?status=pending"),
    api("/api/v1/agent"),
  ]);
  fill("pipelines", table([
    ["pipeline", (p) => h("a", { href: url(`pipelines/${encodeURIComponent(p.name)}`) }, p.name)],
    ["steps", (p) => p.steps.join(" → ")],
    ["triggers", (p) => p.triggers.length ? p.triggers.map(P.trigger).join("; ") : h("span", { class: "muted" }, "manual only")],
    ["last run", (p) => p.last_run ? P.runLink(p.name, p.last_run) : h("span", { class: "muted" }, "never run")],
    ["status", (p) => p.last_status ? P.state(p.last_status) : ""],
    ["when", (p) => time(p.last_run_at)],
  ], pipelines, { empty: "No pipelines yet: running a @keel.pipeline records one." }));
  await KeelApprovals.render("waiting", waiting);
  fill("recent", table([
    ["run", (r) => P.runLink(r.pipeline, r.id)],
    ["pipeline", (r) => r.pipeline],
    ["status", (r) => P.state(r.status)],
    ["trigger", (r) => P.trigger(r.trigger)],
    ["started", (r) => time(r.started_at || r.created_at)],
    ["took", (r) => (r.ended_at || r.status === "running" ? P.duration(r.started_at, r.ended_at) : "")],
  ], runs, { empty: "No runs yet." }));
  const mine = agent.this_server;
  fill("agent",
    agent.leader ? ["Leading: ", h("strong", { id: "agent-leader" }, agent.leader), ` (lease until ${time(agent.expires_at)}).`]
      : h("span", { id: "agent-leader", class: "muted" }, "No agent leads now: queued runs wait until one does (keel server or keel agent)."),
    mine ? ` This server's agent ${mine.holder} ${mine.leading ? "leads" : "stands by"}.`
      : " This server runs no agent of its own.");
  if (mine) {
    fill("agent-pass", h("h3", {}, "Its last pass"), table([
      ["what", (r) => r.what], ["project", (r) => r.project], ["name", (r) => r.name], ["detail", (r) => r.detail],
    ], mine.last_pass || [], { empty: "Its last pass did nothing." }));
  }
});
