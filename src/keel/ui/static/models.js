/* Models: every registered model. */
"use strict";

Keel.page("models", async () => {
  const { api, fill, links, table, time } = Keel;
  const models = await api("/models");
  fill("models", table([
    ["model", (m) => links.model(m.name)],
    ["versions", (m) => m.versions, { num: true }],
    ["latest", (m) => m.latest ? m.latest.ref : ""],
    ["aliases", (m) => Object.entries(m.aliases || {}).map(([a, v]) => `${a} → ${v}`).join(", ")],
    ["registered", (m) => m.latest ? time(m.latest.created_at) : ""],
  ], models, { empty: "No models yet: keel.register_model() registers one." }));
});
