/* What the pipeline pages share: run states, links and durations in words. Loaded before
   keel.js, so Keel is only used when called. */
"use strict";

const KeelPipelines = {
  /** A run's state as a badge whose class gives its colour. */
  state(status) {
    return Keel.h("span", { class: `badge state state-${String(status).replace(/\W+/g, "-")}` }, status);
  },
  /** A link to a pipeline run's page. */
  runLink(pipeline, id, text) {
    const enc = encodeURIComponent;
    return Keel.h("a", { href: Keel.url(`pipelines/${enc(pipeline)}/runs/${enc(id)}`) }, text || id.slice(0, 12));
  },
  /** A trigger in words. */
  trigger(t) {
    if (!t) return "";
    const rest = Object.entries(t).filter(([k]) => k !== "kind").map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
    return rest.length ? `${t.kind} (${rest.join(", ")})` : t.kind;
  },
  /** How long from start to end (or until now), in words. */
  duration(start, end) {
    if (!start) return "";
    const ms = (end || Date.now()) - start;
    return ms < 1000 ? `${ms} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`;
  },
};
