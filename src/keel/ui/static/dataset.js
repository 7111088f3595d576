/* One dataset: versions, schema, profile with per-column histograms, the diff of two
   versions, and validation reports with failing checks highlighted. */
"use strict";

Keel.page("dataset", async () => {
  const { $, api, badge, chart, fill, h, links, num, table, time } = Keel;
  const name = document.body.dataset.name;
  const versions = await api(`/datasets/${encodeURIComponent(name)}/versions`);
  const wanted = Number(new URLSearchParams(location.search).get("version")) || versions.at(-1)?.version;
  const refs = versions.map((v) => v.ref);

  fill("versions", table([
    ["version", (v) => v.ref],
    ["kind", (v) => v.kind],
    ["rows", (v) => v.row_count, { num: true }],
    ["size (bytes)", (v) => v.size, { num: true }],
    ["created", (v) => time(v.created_at)],
    ["description", (v) => v.description || ""],
    ["digest", (v) => h("code", {}, v.manifest_digest.slice(0, 12))],
    ["lineage", (v) => links.lineage(v.ref)],
  ], versions));
  const options = (selected) => versions.map((v) => h("option", { value: v.ref, selected: v.version === selected }, v.ref));
  fill("version", options(wanted));
  fill("diff-a", options(versions.length > 1 ? versions.at(-2).version : wanted));
  fill("diff-b", options(versions.at(-1)?.version));

  async function show(ref) {
    const version = versions.find((v) => v.ref === ref);
    $("version-ref").textContent = ref;
    $("version-lineage").href = Keel.url(`lineage?ref=${encodeURIComponent(ref)}`);
    fill("schema", table([["column", (c) => c.name], ["type", (c) => c.type], ["nullable", (c) => (c.nullable ? "yes" : "no")]],
      version.schema || [], { empty: "A set of files: no schema." }));
    const profile = await api(`/dataset-versions/${encodeURIComponent(ref)}/profile`);
    fill("histograms");
    if (!profile) { fill("profile", h("p", { class: "muted" }, "No profile.")); return; }
    const columns = Object.values(profile.columns || {});
    fill("profile", table([
      ["column", (c) => c.name],
      ["kind", (c) => c.kind],
      ["nulls", (c) => c.null_count, { num: true }],
      ["distinct", (c) => c.distinct_approx, { num: true }],
      ["min", (c) => c.min, { num: true }],
      ["mean", (c) => c.mean, { num: true }],
      ["max", (c) => c.max, { num: true }],
    ], columns));
    for (const c of columns) {
      if (c.histogram && c.histogram.counts) {
        const e = c.histogram.edges;
        chart("histograms", [{ type: "bar", x: c.histogram.counts.map((_, i) => (e[i] + e[i + 1]) / 2), y: c.histogram.counts,
          width: c.histogram.counts.map((_, i) => e[i + 1] - e[i]) }], { title: c.name, bargap: 0.02, height: 240 },
        `histogram of ${c.name}`);
      } else if (c.top && c.top.length) {
        chart("histograms", [{ type: "bar", x: c.top.map((t) => String(t.value ?? t[0])), y: c.top.map((t) => t.count ?? t[1]) }],
          { title: c.name, height: 240 }, `most frequent values of ${c.name}`);
      }
    }
  }
  $("version").addEventListener("change", () => show($("version").value));
  await show(refs.find((r) => r.endsWith(`:v${wanted}`)) || refs.at(-1));

  $("diff-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const a = $("diff-a").value;
    const b = $("diff-b").value;
    try {
      const d = await api(`/dataset-versions/${encodeURIComponent(a)}/diff?to=${encodeURIComponent(b)}`);
      const stats = Object.entries(d.stats).flatMap(([col, s]) => Object.entries(s).map(([stat, [x, y]]) => ({ col, stat, x, y })));
      fill("diff",
        h("p", {}, `${d.a} → ${d.b}: `, d.same ? "the same." : `rows ${num(d.rows[0])} → ${num(d.rows[1])}`),
        d.schema.added.length ? h("p", {}, `Columns added: ${d.schema.added.join(", ")}`) : null,
        d.schema.removed.length ? h("p", {}, `Columns removed: ${d.schema.removed.join(", ")}`) : null,
        Object.keys(d.schema.types_changed).length ? h("p", {}, `Types changed: ${JSON.stringify(d.schema.types_changed)}`) : null,
        d.files.added.length + d.files.removed.length + d.files.changed.length
          ? h("p", {}, `Files: +${d.files.added.length} −${d.files.removed.length} ~${d.files.changed.length}`) : null,
        stats.length ? table([["column", (r) => r.col], ["statistic", (r) => r.stat],
          [d.a, (r) => num(r.x), { num: true }], [d.b, (r) => num(r.y), { num: true }]], stats) : null);
    } catch (err) {
      Keel.status(err.message);
    }
  });

  const reports = (await Promise.all(refs.map((ref) => api(`/validation/reports?subject=${encodeURIComponent(ref)}`)))).flat();
  const details = await Promise.all(reports.map((r) => api(`/validation/reports/${r.id}`)));
  fill("reports", reports.length ? reports.map((r, i) => h("div", { class: "report" },
    h("h3", {}, `${r.summary.subject} against ${r.summary.schema} `, badge(r.passed, "passed", "failed"),
      h("span", { class: "muted" }, ` ${time(r.created_at)} · ${r.summary.checks} checks, ${r.summary.failed} failed`)),
    table([
      ["check", (c) => c.name],
      ["severity", (c) => c.severity],
      ["result", (c) => badge(c.passed, "passed", "failed")],
      ["failing rows", (c) => c.failing_rows ?? "", { num: true }],
      ["message", (c) => c.message || c.description],
    ], [...details[i].results].sort((a, b) => a.passed - b.passed), { rowClass: (c) => (c.passed ? null : "fail") })))
    : h("p", { class: "muted" }, "No validation reports: keel.validate() records them."));
});
