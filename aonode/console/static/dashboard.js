// The operator's dashboard: identity from ~meta@1.0, live numbers from the node's /metrics.
"use strict";

document.getElementById("nav").append(AO.nav("Dashboard"));
const $ = (id) => document.getElementById(id);
const charts = {
  requests: new LiveChart($("chart-requests"), "requests / s", "#2f5d8a"),
  executions: new LiveChart($("chart-executions"), "executions / s", "#8a2f5d"),
  load: new LiveChart($("chart-load"), "load (1 min)", "#2f8a5d"),
};
let previous = null;

async function identity() {
  const info = await fetch("/~meta@1.0/info", { headers: { accept: "application/json", "accept-bundle": "true" } }).then((r) => r.json());
  $("address").textContent = info.address;
  $("operator").textContent = info.operator || info.address;
  $("ledger-address").value = info.operator || info.address;
  const processes = info.node_processes || {};
  if (processes && typeof processes === "object" && "ledger" in processes) $("ledger-tab").classList.remove("hidden");
  const build = await fetch("/~meta@1.0/build", { headers: { accept: "application/json" } }).then((r) => r.json()).catch(() => ({}));
  $("version").textContent = (build.version || "?") + " (" + (build["source-short"] || "?") + ")";
}

async function devices() {
  const found = await fetch("/~meta@1.0/devices", { headers: { accept: "application/json" } }).then((r) => r.json());
  const table = $("devices");
  table.append(AO.el("tr", {}, AO.el("th", {}, "device"), AO.el("th", {}, "implementation")));
  for (const name of Object.keys(found).sort()) {
    if (name === "status" || name === "commitments") continue;
    table.append(AO.el("tr", { class: "device" }, AO.el("td", { class: "mono" }, name), AO.el("td", { class: "mono muted" }, found[name])));
  }
}

async function poll() {
  try {
    const text = await fetch("/metrics").then((r) => r.text());
    const m = AO.parseMetrics(text);
    const now = Date.now() / 1000;
    // The node's totals over its worker processes (one, unless it runs with --workers).
    const started = AO.metricSum(m, "aonode_node_start_time_seconds");
    const requests = AO.metricSum(m, "aonode_node_requests_total");
    const executions = AO.metricSum(m, "aonode_node_executions_total");
    const load = AO.metricSum(m, "aonode_system_load1");
    $("uptime").textContent = started ? AO.duration(now - started) : "?";
    $("load").textContent = load.toFixed(2);
    $("requests").textContent = String(requests);
    $("executions").textContent = String(executions);
    $("inflight").textContent = String(AO.metricSum(m, "aonode_node_requests_in_flight"));
    $("workers").textContent = String(AO.metricSum(m, "aonode_node_workers"));
    if (previous) {
      const dt = Math.max(0.001, now - previous.now);
      charts.requests.push((requests - previous.requests) / dt);
      charts.executions.push((executions - previous.executions) / dt);
    }
    charts.load.push(load);
    previous = { now, requests, executions };
    if (!$("panel-metrics").classList.contains("hidden")) $("metrics-text").textContent = text;
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (err) {
    $("uptime").textContent = "node unreachable";
  }
}

async function balance(event) {
  if (event) event.preventDefault();
  const address = $("ledger-address").value.trim();
  const path = "/ledger~node-process@1.0/now/balance/" + encodeURIComponent(address);
  $("ledger-path").textContent = path;
  const res = await AO.fetchText(path);
  $("ledger-balance").textContent = res.status === 200 ? res.text : "error " + res.status + ": " + res.text;
}

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => {
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b === button);
    for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== "panel-" + button.dataset.tab);
    const frame = $("panel-" + button.dataset.tab).querySelector("iframe[data-src]");
    if (frame && !frame.src) frame.src = frame.dataset.src;
    if (button.dataset.tab === "ledger") balance();
  });
}
$("ledger-form").addEventListener("submit", balance);

identity().catch((err) => { $("address").textContent = "unavailable (" + err + ")"; });
devices().catch(() => {});
poll();
setInterval(poll, 2000);
