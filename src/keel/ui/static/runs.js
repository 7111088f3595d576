/* Runs: the table, searched, sorted and paged by the server (POST /runs/search and
   /runs/count); the state lives in the address, so a view can be shared as a link. */
"use strict";

Keel.page("runs", async () => {
  const { $, api, fill, h, links, num, status, time, url } = Keel;
  const PAGE = 25;
  const state = new URLSearchParams(location.search);
  const selected = new Set();
  const offset = () => Math.max(0, parseInt(state.get("offset") || "0", 10) || 0);
  const columns = () => (state.get("cols") || "").split(",").filter(Boolean);

  const experiments = await api("/experiments");
  fill("experiment", h("option", { value: "" }, "all"),
    experiments.map((e) => h("option", { value: e.name, selected: e.name === state.get("experiment") }, e.name)));
  $("filter").value = state.get("filter") || "";

  function go(changes) {
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "" || v === undefined) state.delete(k);
      else state.set(k, v);
    }
    history.replaceState(null, "", `${location.pathname}?${state}`);
    return load();
  }

  $("run-search").addEventListener("submit", (event) => {
    event.preventDefault();
    go({ experiment: $("experiment").value, filter: $("filter").value.trim(), offset: null });
  });
  $("prev").addEventListener("click", () => go({ offset: String(Math.max(0, offset() - PAGE)) }));
  $("next").addEventListener("click", () => go({ offset: String(offset() + PAGE) }));
  $("compare").addEventListener("click", () => {
    location.href = url(`compare?ids=${[...selected].join(",")}`);
  });

  function sortButton(key, title) {
    const order = state.get("order") || "";
    const [current, dir] = order.split(" ");
    const next = current === key && dir === "desc" ? `${key} asc` : `${key} desc`;
    const arrow = current === key ? (dir === "desc" ? " ▼" : " ▲") : "";
    return h("button", {
      type: "button", class: "sort", "aria-label": `Sort by ${title}`,
      "aria-sort": current === key ? (dir === "desc" ? "descending" : "ascending") : null,
      onclick: () => go({ order: next, offset: null }),
    }, title + arrow);
  }

  function columnChoices(runs) {
    const keys = new Set(columns());
    for (const r of runs) {
      Object.keys(r.params).forEach((k) => keys.add(`params.${k}`));
      Object.keys(r.metrics).filter((k) => !k.startsWith("system/")).forEach((k) => keys.add(`metrics.${k}`));
    }
    const chosen = new Set(columns());
    fill("columns", h("legend", {}, "Param and metric columns"),
      [...keys].sort().map((key) => h("label", {},
        h("input", {
          type: "checkbox", value: key, checked: chosen.has(key),
          onchange: (event) => {
            event.target.checked ? chosen.add(key) : chosen.delete(key);
            go({ cols: [...chosen].join(",") });
          },
        }), ` ${key}`)));
  }

  async function load() {
    const search = {
      experiments: state.get("experiment") ? [state.get("experiment")] : [],
      filter: state.get("filter") || null,
      order_by: state.get("order") ? [state.get("order")] : [],
      max_results: PAGE,
      offset: offset(),
    };
    status("");
    let runs, total;
    try {
      [runs, { total }] = await Promise.all([
        api("/runs/search", { method: "POST", json: search }),
        api("/runs/count", { method: "POST", json: search }),
      ]);
    } catch (err) {
      status(err.message);
      fill("runs");
      return;
    }
    const first = total ? offset() + 1 : 0;
    $("count").textContent = `${first}–${offset() + runs.length} of ${num(total)} runs`;
    $("prev").disabled = offset() === 0;
    $("next").disabled = offset() + runs.length >= total;
    columnChoices(runs);
    const extra = columns();
    const head = h("tr", {},
      h("th", { scope: "col" }, h("span", { class: "muted" }, "compare")),
      h("th", { scope: "col" }, sortButton("attributes.name", "name")),
      h("th", { scope: "col" }, "experiment"),
      h("th", { scope: "col" }, sortButton("attributes.status", "status")),
      h("th", { scope: "col" }, sortButton("attributes.created_at", "created")),
      extra.map((key) => h("th", { scope: "col" }, sortButton(key, key))));
    const rows = runs.map((r) => h("tr", {},
      h("td", {}, h("input", {
        type: "checkbox", "aria-label": `Select ${r.name} to compare`, value: r.id,
        checked: selected.has(r.id),
        onchange: (event) => {
          event.target.checked ? selected.add(r.id) : selected.delete(r.id);
          $("compare").disabled = selected.size < 2 || selected.size > 10;
        },
      })),
      h("td", {}, links.run(r.id, r.name)),
      h("td", {}, r.experiment),
      h("td", {}, r.status),
      h("td", {}, time(r.created_at)),
      extra.map((key) => {
        const [kind, ...rest] = key.split(".");
        const name = rest.join(".");
        const value = kind === "params" ? r.params[name] : kind === "metrics" ? r.metrics[name] : r.tags[name];
        return h("td", { class: kind === "metrics" ? "num" : null }, kind === "metrics" ? num(value) : value ?? "");
      })));
    fill("runs", runs.length
      ? h("table", { id: "runs-table" }, h("thead", {}, head), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No runs match."));
  }

  await load();
});
