/* keel dashboard: what every page shares. Data comes only from /api/v1, with the token
   kept in this tab's sessionStorage sent as a Bearer token. No framework, no build step. */
"use strict";

const Keel = (() => {
  const body = document.body;
  const project = body.dataset.project;
  const TOKEN = "keel.token";
  const pages = {};
  let me = null;

  /** An element: h("a", {href: "/x"}, "text", child). Text is always text, never HTML. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const $ = (id) => document.getElementById(id);
  const url = (path) => `/ui/p/${encodeURIComponent(project)}/${path}`;
  const apiPath = (path) => `/api/v1/projects/${encodeURIComponent(project)}${path}`;

  function fill(id, ...children) {
    const el = typeof id === "string" ? $(id) : id;
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
    return el;
  }

  function status(message) {
    $("status").textContent = message || "";
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** JSON (or text) from the REST API; a 401 asks for a token. */
  async function api(path, { method = "GET", json, text = false, blob = false } = {}) {
    const headers = { Accept: text ? "text/html" : "application/json" };
    const token = sessionStorage.getItem(TOKEN);
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    const response = await fetch(path.startsWith("/api/") ? path : apiPath(path), init);
    if (response.status === 401) {
      askToken(token ? "That token was refused; paste another." : "");
      throw new ApiError(401, "This server needs a token.");
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const data = await response.json();
        message = data.message || data.detail || message;
      } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    if (response.status === 204) return null;
    if (blob) return response.blob();
    return text ? response.text() : response.json();
  }

  function askToken(error) {
    const dialog = $("token-dialog");
    $("token-error").textContent = error || "";
    if (!dialog.open) dialog.showModal();
  }

  $("token-form").addEventListener("submit", () => {
    const value = $("token-input").value.trim();
    if (value) {
      sessionStorage.setItem(TOKEN, value);
      location.reload();
    }
  });

  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    location.reload();
  });

  /** A <dialog> asking to confirm; resolves true when the user confirms. */
  function confirmAction(title, text, label) {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = label || "Confirm";
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
    });
  }

  /** Who is calling: {name, role, auth}. */
  async function whoami() {
    if (!me) me = await api("/api/v1/whoami");
    return me;
  }

  const RANK = { reader: 0, writer: 1, approver: 2, admin: 3 };
  async function can(role) {
    const who = await whoami();
    return (RANK[who.role] ?? -1) >= RANK[role];
  }

  function time(ms) {
    if (ms === null || ms === undefined) return "";
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function num(value) {
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "string") return value;
    if (Number.isInteger(value)) return value.toLocaleString("en");
    return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3)
      ? value.toExponential(3) : value.toFixed(4).replace(/\.?0+$/, "");
  }

  /** A table: columns are [title, (row) => cell, {num, cls}]; rowClass(row) styles a row. */
  function table(columns, rows, { empty = "Nothing yet.", rowClass } = {}) {
    if (!rows.length) return h("p", { class: "muted" }, empty);
    const head = h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)));
    const lines = rows.map((row) =>
      h("tr", { class: rowClass ? rowClass(row) : null },
        columns.map(([, cell, opts]) => {
          const value = cell(row);
          return h("td", { class: opts && opts.num ? "num" : null },
            opts && opts.num && typeof value === "number" ? num(value) : value);
        })));
    return h("table", {}, h("thead", {}, head), h("tbody", {}, lines));
  }

  function pairs(object, empty) {
    const rows = Object.entries(object || {}).sort(([a], [b]) => a.localeCompare(b));
    return table([["key", (r) => r[0]], ["value", (r) => typeof r[1] === "object" ? JSON.stringify(r[1]) : r[1]]],
      rows, { empty: empty || "None." });
  }

  function badge(ok, yes, no) {
    return h("span", { class: `badge ${ok ? "ok" : "bad"}` }, ok ? yes : no);
  }

  /** A plotly chart in a new box inside ``parent``. */
  function chart(parent, traces, layout, label) {
    const box = h("div", { class: "chart", role: "img", "aria-label": label || layout.title || "chart" });
    (typeof parent === "string" ? $(parent) : parent).append(box);
    const title = layout.title ? { text: layout.title, font: { size: 14 } } : undefined;
    window.Plotly.newPlot(box, traces, {
      margin: { l: 50, r: 20, t: title ? 36 : 12, b: 44 }, height: 300, ...layout, title,
      font: { color: "#1a1d21" },
    }, { displaylogo: false, responsive: true });
    return box;
  }

  const links = {
    run: (id, text) => h("a", { href: url(`runs/${encodeURIComponent(id)}`) }, text || id.slice(0, 12)),
    model: (name, text) => h("a", { href: url(`models/${encodeURIComponent(name)}`) }, text || name),
    dataset: (name, text, version) => h("a", {
      href: url(`datasets/${encodeURIComponent(name)}`) + (version ? `?version=${version}` : ""),
    }, text || name),
    deployment: (name, text) => h("a", { href: url(`deployments/${encodeURIComponent(name)}`) }, text || name),
    lineage: (ref, text) => h("a", { href: url(`lineage?ref=${encodeURIComponent(ref)}`) }, text || "lineage"),
  };

  function page(name, start) {
    pages[name] = start;
  }

  async function projects() {
    const select = $("project-switch");
    const list = await api("/api/v1/projects");
    fill(select, list.map((p) => h("option", { value: p.name, selected: p.name === project }, p.name)));
    if (!list.some((p) => p.name === project)) select.prepend(h("option", { selected: true }, project));
    select.addEventListener("change", () => { location.href = `/ui/p/${encodeURIComponent(select.value)}/`; });
  }

  async function start() {
    try {
      const who = await whoami();
      if (who.auth) {
        $("whoami").textContent = `${who.name} (${who.role})`;
        $("sign-out").hidden = false;
      }
      await projects();
      if (pages[body.dataset.page]) await pages[body.dataset.page]();
      body.dataset.ready = "true";
    } catch (err) {
      if (err.status !== 401) status(err.message);
      body.dataset.ready = "error";
    }
  }

  document.addEventListener("DOMContentLoaded", start);
  return { $, h, api, apiPath, badge, can, chart, confirmAction, fill, links, num, page, pairs,
    project, status, table, time, url, whoami };
})();
