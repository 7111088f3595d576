/* Datasets: every dataset with its latest version. */
"use strict";

Keel.page("datasets", async () => {
  const { api, fill, links, num, table, time } = Keel;
  const datasets = await api("/datasets");
  fill("datasets", table([
    ["dataset", (d) => links.dataset(d.name)],
    ["versions", (d) => d.versions, { num: true }],
    ["latest", (d) => d.latest ? d.latest.ref : ""],
    ["kind", (d) => d.latest ? d.latest.kind : ""],
    ["rows", (d) => d.latest && d.latest.row_count !== null ? num(d.latest.row_count) : ""],
    ["updated", (d) => d.latest ? time(d.latest.created_at) : ""],
    ["description", (d) => (d.latest && d.latest.description) || d.description || ""],
  ], datasets, { empty: "No datasets yet: keel.log_dataset() versions one." }));
});
