// The store graph around a message: cacheviz@1.0's JSON, laid out by a small force simulation
// and drawn as SVG. Data URLs are relative to the page: /<msg>/~cacheviz@1.0/index reads
// /<msg>/~cacheviz@1.0/json; /~cacheviz@1.0/index alone reads the whole store (max-size nodes).
"use strict";

if (window.top === window) document.getElementById("nav").append(AO.nav("Store graph"));
// A page under a stored message's ID (/<id>/~cacheviz@1.0/index) asks for that ID's graph as the
// store holds it; any other base message is sent along and graphed as it comes.
const first = location.pathname.split("/")[1] || "";
const stored = /^[A-Za-z0-9_-]{43}$/.test(first);
const base = stored ? "/~cacheviz@1.0" : location.pathname.replace(/\/index$/, "");
const params = new URLSearchParams(location.search);
if (stored && !params.has("target")) params.set("target", first);
const query = params.toString() ? "?" + params.toString() : "";
const dataUrl = base + "/json" + query;
document.getElementById("as-json").href = dataUrl;
document.getElementById("as-dot").href = base + "/dot" + query;
document.getElementById("as-svg").href = base + "/svg" + query;
const COLOURS = { composite: "#f08080", simple: "#add8e6", unknown: "#d3d3d3" };
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function layout(nodes, links, w, h) {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  nodes.forEach((n, i) => { const a = 2 * Math.PI * i / nodes.length; n.x = w / 2 + Math.cos(a) * w / 3; n.y = h / 2 + Math.sin(a) * h / 3; });
  const edges = links.map((l) => [index.get(l.source), index.get(l.target)]).filter(([a, b]) => a !== undefined && b !== undefined);
  const k = Math.sqrt((w * h) / Math.max(1, nodes.length)) * 0.6;
  for (let step = 0; step < 200; step++) {
    const t = 12 * (1 - step / 200) + 0.5;
    const dx = new Float64Array(nodes.length), dy = new Float64Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) {
      let x = nodes[i].x - nodes[j].x, y = nodes[i].y - nodes[j].y;
      const d2 = Math.max(0.01, x * x + y * y), f = (k * k) / d2;
      dx[i] += x * f; dy[i] += y * f; dx[j] -= x * f; dy[j] -= y * f;
    }
    for (const [a, b] of edges) {
      const x = nodes[a].x - nodes[b].x, y = nodes[a].y - nodes[b].y, d = Math.max(0.1, Math.hypot(x, y)), f = d / k;
      dx[a] -= x * f; dy[a] -= y * f; dx[b] += x * f; dy[b] += y * f;
    }
    nodes.forEach((n, i) => {
      const d = Math.max(0.1, Math.hypot(dx[i], dy[i]));
      n.x = Math.min(w - 20, Math.max(20, n.x + dx[i] / d * Math.min(d, t)));
      n.y = Math.min(h - 20, Math.max(20, n.y + dy[i] / d * Math.min(d, t)));
    });
  }
  return edges;
}

async function draw() {
  const res = await fetch(dataUrl);
  if (res.status !== 200) { document.getElementById("summary").textContent = "No graph: " + res.status + " " + await res.text(); return; }
  const graph = await res.json();
  const area = document.getElementById("graph");
  const w = Number(area.getAttribute("width")), h = Number(area.getAttribute("height"));
  const edges = layout(graph.nodes, graph.links, w, h);
  edges.forEach(([a, b], i) => {
    const s = graph.nodes[a], t = graph.nodes[b];
    area.append(svg("line", { x1: s.x, y1: s.y, x2: t.x, y2: t.y, stroke: "#bbb" }));
    const label = svg("text", { x: (s.x + t.x) / 2, y: (s.y + t.y) / 2, "font-size": 9, fill: "#888" });
    label.textContent = graph.links[i].label; area.append(label);
  });
  for (const n of graph.nodes) {
    const g = svg("g", { class: "node", cursor: "pointer", "data-id": n.id });
    g.append(n.type === "composite" ? svg("rect", { x: n.x - 7, y: n.y - 7, width: 14, height: 14, fill: COLOURS[n.type] })
      : svg("circle", { cx: n.x, cy: n.y, r: 6, fill: COLOURS[n.type] || COLOURS.unknown }));
    const text = svg("text", { x: n.x + 9, y: n.y + 4, "font-size": 10 });
    text.textContent = n.label.length > 14 ? n.label.slice(0, 12) + "…" : n.label;
    const title = svg("title", {}); title.textContent = n.id + " (" + n.type + ")";
    g.append(text, title);
    g.addEventListener("click", () => { if (!n.id.startsWith("data/")) window.open("/" + n.id.split("/")[0], "_top"); });
    area.append(g);
  }
  document.getElementById("summary").textContent = graph.nodes.length + " nodes, " + graph.links.length + " links";
  document.body.dataset.nodes = String(graph.nodes.length);
}

draw();
