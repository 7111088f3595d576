/* Deployments: every deployment and its routes. */
"use strict";

Keel.page("deployments", async () => {
  const { api, fill, links, table, time } = Keel;
  const deployments = await api("/deployments");
  fill("deployments", table([
    ["deployment", (d) => links.deployment(d.name)],
    ["model", (d) => links.model(d.model)],
    ["revision", (d) => d.revision, { num: true }],
    ["status", (d) => d.status],
    ["routes", (d) => d.routes.map((r) => `${r.ref} ${r.weight}%`).join(", ")],
    ["by", (d) => d.actor],
    ["updated", (d) => time(d.updated_at)],
  ], deployments, { empty: "No deployments yet: keel deploy apply makes one." }));
});
