/* Monitoring: each monitor's drift heat map (features x windows), the newest window's
   distributions against the reference, performance over time, and alerts with their actions. */
"use strict";

Keel.page("monitoring", async () => {
  const { $, api, badge, chart, fill, h, links, num, table, time } = Keel;
  const monitors = await api("/monitors");
  fill("monitors", table([
    ["monitor", (m) => m.name],
    ["deployment", (m) => links.deployment(m.deployment)],
    ["reference", (m) => m.reference],
    ["schedule", (m) => m.schedule],
    ["last window", (m) => time(m.last_window_end)],
    ["last verdict", (m) => (m.last_passed === null || m.last_passed === undefined ? "" : badge(m.last_passed, "passed", "breached"))],
  ], monitors, { empty: "No monitors yet: keel monitor apply records one." }));
  fill("monitor", monitors.map((m) => h("option", { value: m.name }, m.name)));

  let report = null;
  function distribution() {
    fill("distribution");
    const feature = $("feature").value;
    const d = report && report.distributions && report.distributions[feature];
    if (!d) return;
    const x = d.edges ? d.reference.map((_, i) => (d.edges[i] + d.edges[i + 1]) / 2) : (d.categories || d.values || []);
    chart("distribution", [
      { type: "bar", name: "reference", x, y: d.reference, opacity: 0.6 },
      { type: "bar", name: "current", x, y: d.current, opacity: 0.6 },
    ], { title: `${feature}: newest window against the reference`, barmode: "overlay", yaxis: { title: { text: "share" } } },
    `distribution of ${feature}, reference against current`);
  }

  async function show(name) {
    $("monitor-name").textContent = name;
    fill("heatmap");
    report = await api(`/monitors/${encodeURIComponent(name)}/report`);
    const results = [...report.results].sort((a, b) => a.window_start - b.window_start);
    const features = [...new Set(results.flatMap((r) => Object.keys(r.drift || {})))].sort();
    if (!results.length) {
      fill("heatmap", h("p", { class: "muted" }, "No results yet: the monitor has not run."));
    } else {
      chart("heatmap", [{
        type: "heatmap", z: features.map((f) => results.map((r) => (r.drift || {})[f] ?? null)),
        x: results.map((r) => time(r.window_end)), y: features, colorscale: "YlOrRd", zmin: 0,
        hovertemplate: "%{y} at %{x}: %{z:.3f}<extra></extra>",
      }], { title: "drift score by feature and window", height: Math.max(280, 140 + 50 * features.length),
        margin: { l: 110, b: 60 }, xaxis: { type: "category", title: { text: "window end" } }, yaxis: { type: "category" } },
      `drift heat map of ${features.length} features over ${results.length} windows`);
      // a window's performance: one number (the monitor's metric on all rows) or {metric: value}
      const scores = (r) => (typeof r.performance === "number" ? { [((report.spec || {}).performance || {}).metric || "performance"]: r.performance } : r.performance);
      const perf = results.filter((r) => r.performance !== null && r.performance !== undefined);
      if (perf.length) {
        const keys = Object.keys(scores(perf[0])).filter((k) => typeof scores(perf[0])[k] === "number");
        chart("heatmap", keys.map((k) => ({ type: "scatter", mode: "lines+markers", name: k,
          x: perf.map((r) => time(r.window_end)), y: perf.map((r) => scores(r)[k]) })),
        { title: "performance over time", xaxis: { type: "category" } }, "performance over time");
      }
    }
    const dist = Object.keys(report.distributions || {});
    fill("feature", dist.map((f) => h("option", { value: f }, f)));
    distribution();
  }
  $("monitor").addEventListener("change", () => show($("monitor").value));
  $("feature").addEventListener("change", distribution);
  if (monitors.length) await show(monitors[0].name);

  const writer = await Keel.can("writer");

  /** Who acknowledged or resolved the alert by hand, and their note. */
  function handled(a) {
    const parts = [];
    if (a.acknowledged_by) parts.push(`acknowledged by ${a.acknowledged_by} at ${time(a.acknowledged_at)}`);
    if (a.status === "resolved") parts.push(a.resolved_by ? `resolved by ${a.resolved_by} at ${time(a.resolved_at)}` : `resolved at ${time(a.resolved_at)}`);
    return h("span", { class: "handled" }, parts.join(" · "), a.comment ? [": ", h("q", {}, a.comment)] : "");
  }

  /** Acknowledge or Resolve buttons of an open alert (writers; the API refuses others). */
  function buttons(a) {
    if (!writer || a.status !== "open") return "";
    const act = async (verb, button) => {
      if (verb === "resolve" && !await Keel.confirmAction("Resolve this alert?",
        `${a.monitor}: ${a.message}. It reopens if its findings breach again within the cool-down.`, "Resolve")) return;
      button.disabled = true;
      try {
        const done = await api(`/alerts/${encodeURIComponent(a.id)}/${verb}`, { method: "POST", json: { comment: null } });
        Keel.status(`Alert ${verb === "resolve" ? "resolved" : "acknowledged"} by ${done.resolved_by || done.acknowledged_by}.`);
      } catch (err) {
        Keel.status(err.message);  // resolved meanwhile (409): the table shows it as it is now
      }
      await alerts();
    };
    const box = h("span", { class: "toolbar" });
    if (!a.acknowledged_by) {
      box.append(h("button", { type: "button", "aria-label": `Acknowledge alert ${a.id}`,
        onclick: (e) => act("acknowledge", e.currentTarget) }, "Acknowledge"));
    }
    box.append(h("button", { type: "button", class: "ok", "aria-label": `Resolve alert ${a.id}`,
      onclick: (e) => act("resolve", e.currentTarget) }, "Resolve"));
    return box;
  }

  async function alerts() {
    const list = await api(`/alerts?status=${$("alert-status").value}&limit=100`);
    fill("alerts", table([
      ["severity", (a) => h("span", { class: "badge bad" }, a.severity)],
      ["status", (a) => a.status],
      ["monitor", (a) => a.monitor],
      ["deployment", (a) => links.deployment(a.deployment)],
      ["message", (a) => a.message],
      ["seen", (a) => `${a.occurrences}× · first ${time(a.created_at)} · last ${time(a.last_seen)}`],
      ["actions", (a) => table([["action", (x) => x.type], ["status", (x) => badge(x.status === "ok", x.status, x.status)],
        ["detail", (x) => x.detail || ""]], a.actions || [], { empty: "none" })],
      ["handled", (a) => [handled(a), buttons(a)]],
    ], list, { empty: "No alerts.", rowClass: (a) => `alert-row ${a.status}` }));
  }
  $("alert-status").addEventListener("change", alerts);
  await alerts();
});
