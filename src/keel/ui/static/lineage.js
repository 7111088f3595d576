/* Lineage: the graph around a record, laid out in columns by distance along the flow of
   data; every node is a link to its page. */
"use strict";

Keel.page("lineage", async () => {
  const { $, api, fill, h, table, url } = Keel;
  const params = new URLSearchParams(location.search);
  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...children) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    el.append(...children);
    return el;
  };

  /** Where a node's page is: runs, dataset versions, model versions, rollouts... */
  function href(node) {
    const label = node.label || "";
    const enc = encodeURIComponent;
    switch (node.kind) {
      case "run": return url(`runs/${enc(node.id)}`);
      case "dataset_version": {
        const m = label.match(/^(.*):v(\d+)$/);
        return m ? url(`datasets/${enc(m[1])}?version=${m[2]}`) : url("datasets");
      }
      case "model_version": {
        const m = label.match(/^(.*):(\d+)$/);
        return m ? url(`models/${enc(m[1])}`) : url("models");
      }
      case "rollout": return url("deployments");
      case "monitor_result": case "alert": return url("monitoring");
      case "validation_report": return url("datasets");
      case "prediction": return url(`lineage?ref=${enc(`request:${node.id}`)}`);
      default: return url("");
    }
  }

  function layout(graph) {
    const key = (k) => k.join("|");
    const rootKey = key([graph.root.kind, graph.root.id]);
    const level = new Map([[rootKey, 0]]);
    const queue = [rootKey];
    while (queue.length) {  // breadth first, both ways: downstream +1, upstream -1
      const at = queue.shift();
      for (const e of graph.edges) {
        const [s, d] = [key(e.src), key(e.dst)];
        if (s === at && !level.has(d)) { level.set(d, level.get(at) + 1); queue.push(d); }
        if (d === at && !level.has(s)) { level.set(s, level.get(at) - 1); queue.push(s); }
      }
    }
    const columns = new Map();
    for (const node of graph.nodes) {
      const k = key([node.kind, node.id]);
      const l = level.get(k) ?? 0;
      if (!columns.has(l)) columns.set(l, []);
      columns.get(l).push({ ...node, key: k });
    }
    return { rootKey, columns: [...columns.entries()].sort((a, b) => a[0] - b[0]) };
  }

  function draw(graph) {
    const { rootKey, columns } = layout(graph);
    const W = 210, H = 44, GX = 70, GY = 16;
    const pos = new Map();
    columns.forEach(([, nodes], c) => nodes.forEach((n, r) => pos.set(n.key, { x: 10 + c * (W + GX), y: 10 + r * (H + GY), n })));
    const width = 20 + columns.length * (W + GX) - GX;
    const height = 20 + Math.max(...columns.map(([, n]) => n.length)) * (H + GY) - GY;
    const edges = graph.edges.map((e) => {
      const a = pos.get(e.src.join("|")), b = pos.get(e.dst.join("|"));
      if (!a || !b) return null;
      const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
      const mid = (x1 + x2) / 2;
      return svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" },
        svg("title", {}, e.relation));
    }).filter(Boolean);
    const nodes = [...pos.values()].map(({ x, y, n }) => {
      const text = n.label.length > 30 ? `${n.label.slice(0, 29)}…` : n.label;
      return svg("a", { href: href(n), class: `node${n.key === rootKey ? " root" : ""}`, "aria-label": `${n.kind.replace("_", " ")} ${n.label}` },
        svg("rect", { x, y, width: W, height: H, rx: 6, fill: n.key === rootKey ? "#e3eefb" : "#f4f6f8", stroke: "#6b7480" }),
        svg("text", { x: x + 8, y: y + 17, "font-weight": "600" }, text),
        svg("text", { x: x + 8, y: y + 34, fill: "#4a5361" }, n.kind.replace("_", " ")));
    });
    const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7480" })));
    fill("graph", svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "lineage graph", style: `max-height:${Math.max(height, 120)}px` },
      defs, ...edges, ...nodes));
    fill("nodes", h("h2", {}, "Records"), table([
      ["record", (n) => h("a", { href: href(n) }, n.label)],
      ["kind", (n) => n.kind.replace("_", " ")],
      ["around it", (n) => ["run", "dataset_version"].includes(n.kind)
        ? h("a", { href: url(`lineage?ref=${encodeURIComponent(n.kind === "run" ? `run:${n.id}` : n.label)}`) }, "lineage") : ""],
      ["details", (n) => n.details
        ? h("details", {}, h("summary", {}, "show"), h("pre", {}, JSON.stringify(n.details, null, 2))) : ""],
    ], graph.nodes));
  }

  async function show() {
    const ref = $("ref").value.trim();
    if (!ref) { Keel.status("Name a record: a dataset version (credit:v3), run:<id> or request:<id>."); return; }
    Keel.status("");
    try {
      draw(await api(`/lineage?ref=${encodeURIComponent(ref)}&direction=${$("direction").value}`));
    } catch (err) {
      fill("graph");
      fill("nodes");
      Keel.status(err.message);
    }
  }
  $("ref").value = params.get("ref") || "";
  $("direction").value = params.get("direction") || "both";
  $("lineage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `${location.pathname}?ref=${encodeURIComponent($("ref").value.trim())}&direction=${$("direction").value}`);
    show();
  });
  if ($("ref").value) await show();
  else Keel.status("Name a record to see its lineage: a dataset version (credit:v3), run:<id> or request:<id>.");
});
