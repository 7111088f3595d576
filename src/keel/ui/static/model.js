/* One model: versions with aliases and approvals (approve/reject for approvers),
   evaluations against the champion, the model card and the audit history. */
"use strict";

Keel.page("model", async () => {
  const { $, api, badge, can, chart, fill, h, links, num, table, time } = Keel;
  const name = document.body.dataset.name;
  const base = `/models/${encodeURIComponent(name)}`;
  const approver = await can("approver");
  const CHART_METRICS = ["roc_auc", "accuracy", "f1", "precision", "recall", "r2", "rmse", "mae"];

  async function load() {
    const [versions, history, policy] = await Promise.all([
      api(`${base}/versions`), api(`${base}/history`), api(`${base}/policy`)]);
    const approvals = Object.fromEntries(await Promise.all(versions.map(async (v) =>
      [v.version, await api(`${base}/versions/${v.version}/approvals`)])));
    const aliases = versions.flatMap((v) => v.aliases.map((a) => `${a} → ${v.ref}`));
    const rules = Object.entries(policy.aliases || {}).map(([a, r]) =>
      `${a} needs ${r.approvals || 0} approval(s)${r.gate ? " and a passing gate" : ""}`);
    fill("aliases", aliases.length ? `Aliases: ${aliases.join(", ")}` : "No aliases.",
      rules.length ? h("span", { class: "muted" }, ` · policy: ${rules.join("; ")}`) : "");

    async function decide(version, decision) {
      await api(`${base}/versions/${version}/approvals`, { method: "POST", json: { decision } });
      Keel.status(`${name}:${version} ${decision}.`);
      await load();
    }
    fill("versions", table([
      ["version", (v) => v.ref],
      ["aliases", (v) => v.aliases.join(", ")],
      ["flavor", (v) => v.flavor],
      ["source run", (v) => v.run_id ? links.run(v.run_id) : ""],
      ["registered", (v) => time(v.created_at)],
      ["approvals", (v) => {
        const decisions = Object.entries(approvals[v.version] || {});
        return h("span", { class: "approvals", dataset: { version: v.version } },
          decisions.length ? decisions.map(([who, d]) => [badge(d === "approved", `${who}: approved`, `${who}: rejected`), " "]) : h("span", { class: "muted" }, "none"));
      }],
      ["", (v) => approver ? [
        h("button", { type: "button", class: "ok", "aria-label": `Approve ${v.ref}`, onclick: () => decide(v.version, "approved").catch((e) => Keel.status(e.message)) }, "Approve"), " ",
        h("button", { type: "button", class: "danger", "aria-label": `Reject ${v.ref}`, onclick: () => decide(v.version, "rejected").catch((e) => Keel.status(e.message)) }, "Reject"),
      ] : ""],
      ["lineage", (v) => v.run_id ? links.lineage(`run:${v.run_id}`) : ""],
    ], versions, { empty: "No versions." }));

    fill("history", table([
      ["when", (e) => time(e.at)],
      ["who", (e) => e.actor],
      ["did", (e) => e.action],
      ["details", (e) => JSON.stringify(e.details || {})],
    ], [...history].reverse(), { empty: "No history." }));
    return versions;
  }

  const versions = await load();
  fill("card-version", [...versions].reverse().map((v) => h("option", { value: v.version }, v.ref)));
  $("show-card").addEventListener("click", async () => {
    const html = await api(`${base}/versions/${$("card-version").value}/card`, { text: true });
    // The card is a page of its own: shown in a sandbox with no scripts and no access here.
    fill("card", h("iframe", { class: "card", sandbox: "", title: "Model card", srcdoc: html }));
  });

  const evaluations = (await Promise.all(versions.map(async (v) =>
    (await api(`${base}/versions/${v.version}/evaluations`)).map((e) => ({ ...e, ref: v.ref }))))).flat();
  if (!evaluations.length) {
    fill("evaluation", h("p", { class: "muted" }, "No evaluations yet: keel models evaluate records one."));
    return;
  }
  const latest = evaluations.sort((a, b) => b.created_at - a.created_at)[0];
  const result = latest.metrics || {};
  const m = result.metrics || {};
  const names = CHART_METRICS.filter((k) => m.candidate && k in m.candidate);
  const sides = [["candidate", result.candidate || latest.ref], ["against", result.against], ["baseline", "baseline"]]
    .filter(([side]) => m[side]);
  chart("evaluation", sides.map(([side, label]) => ({
    type: "bar", name: `${label}`, x: names, y: names.map((k) => m[side][k]),
  })), { title: `${result.candidate || latest.ref} vs ${result.against || "no champion"} on ${latest.data_ref}`, barmode: "group" },
  "evaluation metrics of the candidate against the champion");
  if (Array.isArray(result.backtest) && result.backtest.length) {  // metrics per time window
    const windows = result.backtest;
    const metric = CHART_METRICS.find((k) => windows.some((w) => w.candidate && k in w.candidate));
    chart("evaluation", sides.filter(([side]) => windows.some((w) => w[side])).map(([side, label]) => ({
      type: "scatter", mode: "lines+markers", name: label,
      x: windows.map((w) => String(w.window)), y: windows.map((w) => (w[side] || {})[metric] ?? null),
    })), { title: `back-test: ${metric} by window`, xaxis: { type: "category" } }, `back-test of ${metric} over time`);
  }
  const all = Object.keys(m.candidate || {});
  fill("evaluation-table", h("p", {}, "Gate: ", latest.gate || "none",
    latest.passed === null || latest.passed === undefined ? "" : [" ", badge(latest.passed, "passed", "failed")]),
  table([["metric", (k) => k], ...sides.map(([side, label]) => [label, (k) => num(m[side][k]), { num: true }])], all));
});
