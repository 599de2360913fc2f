// The message viewer, the index page of any message a browser asks for: the message is fetched
// again as data (its HTTP form), its keys shown with their types, which keys each commitment
// signs and who signed (checked here), and links to nested messages. A process also gets its
// scheduler, current slot, paged schedule and the state and results at any slot, each read
// through the node's own HyperPATHs (so every view has a URL).
"use strict";

document.getElementById("nav").append(AO.nav(""));
const $ = (id) => document.getElementById(id);
const here = location.pathname + location.search;
const TRANSPORT = new Set(["content-length", "content-type", "date", "server", "connection", "signature", "signature-input",
  "ao-types", "content-digest", "access-control-allow-origin", "access-control-allow-methods",
  "access-control-expose-headers", "access-control-allow-headers", "transfer-encoding", "vary"]);
const PAGE = 10;

$("where").textContent = location.pathname;
$("as-text").href = location.pathname.replace(/\/$/, "") + "/~hyperbuddy@1.0/format";
$("as-graph").href = location.pathname.replace(/\/$/, "") + "/~cacheviz@1.0/index";
$("as-json").href = "/~hyperbuddy@1.0/console#" + encodeURIComponent(here);

function typesOf(headers) {
  const raw = headers.get("ao-types");
  if (!raw) return {};
  try {
    const parsed = AO.parseSfDictionary(raw);
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v.value)]));
  } catch (_) { return {}; }
}

function valueCell(key, value) {
  if (key.endsWith("+link") && AO.isId(value)) return AO.el("a", { class: "mono", href: "/" + value }, value);
  if (AO.isId(value)) return AO.el("a", { class: "mono", href: "/" + value }, value);
  return AO.el("span", { class: "mono" }, value);
}

async function viewer() {
  const { res, bytes, checks } = await AO.fetchChecked(here);
  $("signatures").replaceChildren(AO.signatureTable(checks));
  const signedBy = {};
  for (const c of checks) for (const k of c.keys) (signedBy[k] = signedBy[k] || []).push(c);
  const types = typesOf(res.headers);
  const table = $("keys");
  table.replaceChildren(AO.el("tr", {}, AO.el("th", {}, "key"), AO.el("th", {}, "type"), AO.el("th", {}, "value"), AO.el("th", {}, "signed")));
  const message = {};
  const names = [...res.headers.keys()].filter((k) => !TRANSPORT.has(k)).sort();
  for (const name of names) {
    const value = res.headers.get(name);
    message[name] = value;
    const plain = name.replace(/\+link$/, "");
    const type = name.endsWith("+link") ? "link" : (types[plain] || "binary");
    const by = (signedBy[name] || []).filter((c) => c.ok && c.signer);
    const badge = by.length ? AO.el("span", { class: "badge signed", title: by.map((c) => c.signer).join(", ") }, "signed")
      : (signedBy[name] ? AO.el("span", { class: "badge" }, "hmac only") : AO.el("span", { class: "badge unsigned" }, "unsigned"));
    table.append(AO.el("tr", { class: "key", "data-key": name }, AO.el("td", { class: "mono" }, plain),
      AO.el("td", {}, AO.el("span", { class: "badge" }, type)), AO.el("td", { class: "value" }, valueCell(name, value)), AO.el("td", {}, badge)));
  }
  if (bytes.length) {
    $("body-section").classList.remove("hidden");
    $("body").textContent = new TextDecoder().decode(bytes.slice(0, 65536)) + (bytes.length > 65536 ? "\n… (" + bytes.length + " bytes)" : "");
  }
  const signers = [...new Set(checks.filter((c) => c.ok && c.signer).map((c) => c.signer))];
  $("summary").textContent = "Status " + res.status + " · " + names.length + " keys · " + checks.length + " commitments" +
    (signers.length ? " · signed by " + signers.join(", ") : " · no signer");
  document.body.dataset.loaded = "true";
  const type = (message.type || "").toLowerCase();
  if (type === "process" || message.device === "process@1.0") process(message);
}

// --- a process ---------------------------------------------------------------------------

const pid = location.pathname.replace(/^\//, "").split(/[/~?&]/)[0];
let schedFrom = 0;

async function json(path) {
  const res = await fetch(path, { headers: { accept: "application/json", "accept-bundle": "true" } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(res.status + ": " + text);
  return JSON.parse(text);
}

function tag(message, name) {
  if (!message || typeof message !== "object") return "";
  for (const [k, v] of Object.entries(message)) if (k.toLowerCase() === name) return typeof v === "object" ? "" : String(v);
  return "";
}

function messageTable(message, skip) {
  const table = AO.el("table", { class: "state" });
  for (const key of Object.keys(message).sort()) {
    if ((skip || []).includes(key)) continue;
    const v = message[key];
    const shown = typeof v === "object" && v !== null ? JSON.stringify(v).slice(0, 300) : String(v);
    table.append(AO.el("tr", { "data-key": key }, AO.el("td", { class: "mono" }, key), AO.el("td", { class: "mono value" }, shown)));
  }
  return table;
}

// The messages a slot sent: where each goes (a link to that process's page) and what it says.
function outboxTable(outbox) {
  const table = AO.el("table", { class: "outbox" },
    AO.el("tr", {}, AO.el("th", {}, "#"), AO.el("th", {}, "target"), AO.el("th", {}, "action"), AO.el("th", {}, "data")));
  for (const key of Object.keys(outbox).filter((k) => k !== "commitments").sort((a, b) => Number(a) - Number(b))) {
    const m = outbox[key] || {};
    const target = tag(m, "target");
    const data = tag(m, "data");
    table.append(AO.el("tr", { class: "sent", "data-key": key }, AO.el("td", {}, key),
      AO.el("td", { class: "mono" }, AO.isId(target) ? AO.el("a", { href: "/" + target }, target) : target),
      AO.el("td", { class: "mono" }, tag(m, "action")),
      AO.el("td", { class: "mono value" }, data.length > 200 ? data.slice(0, 200) + "…" : data)));
  }
  return table;
}

async function showState(slot) {
  const statePath = "/" + pid + "/compute?slot=" + slot;
  const resultsPath = "/" + pid + "/compute/results?slot=" + slot;
  $("state-slot").value = slot;
  $("state-link").href = statePath;
  $("state-link").textContent = statePath;
  history.replaceState(null, "", "#slot=" + slot);
  const box = $("state");
  box.replaceChildren(AO.el("p", { class: "muted" }, "computing slot " + slot + "…"));
  try {
    const state = await json(statePath);
    const results = state.results || await json(resultsPath).catch(() => ({}));
    const outbox = (results && results.outbox) || {};
    const output = results && results.output;
    box.replaceChildren(
      AO.el("p", {}, "State after slot ", AO.el("strong", { id: "state-at" }, String(state["at-slot"])), " · ",
        AO.el("a", { href: resultsPath }, "results"), " · ", AO.el("a", { href: "/" + pid + "/compute/results/outbox?slot=" + slot }, "outbox")),
      AO.el("h2", {}, "Output"),
      AO.el("pre", { id: "state-output" }, typeof output === "object" && output !== null ? (output.data !== undefined ? String(output.data) : JSON.stringify(output, null, 2)) : String(output ?? "")),
      AO.el("h2", {}, "Outbox (" + Object.keys(outbox).filter((k) => k !== "commitments").length + ")"),
      outboxTable(outbox),
      AO.el("h2", {}, "State keys"),
      messageTable(state, ["commitments", "results"]));
    document.body.dataset.stateSlot = String(state["at-slot"]);
  } catch (err) {
    box.replaceChildren(AO.el("p", { class: "status-4" }, "The state at slot " + slot + " is not available: " + err.message));
  }
}

async function schedule() {
  const to = schedFrom + PAGE - 1;
  $("sched-range").textContent = "slots " + schedFrom + "–" + to;
  const page = await json("/" + pid + "/schedule?from=" + schedFrom + "&to=" + to);
  const found = page.assignments || {};
  const table = $("schedule");
  table.replaceChildren(AO.el("tr", {}, AO.el("th", {}, "slot"), AO.el("th", {}, "message"), AO.el("th", {}, "action"),
    AO.el("th", {}, "from"), AO.el("th", {}, "views")));
  for (const slot of Object.keys(found).filter((k) => /^\d+$/.test(k)).map(Number).sort((a, b) => a - b)) {
    const a = found[slot];
    const body = (a && a.body) || {};
    const sender = body.commitments ? Object.values(body.commitments).map((c) => c.committer).filter(Boolean)[0] || "" : "";
    const link = AO.el("a", { href: "#slot=" + slot, onclick: (e) => { e.preventDefault(); showState(slot); } }, "state");
    table.append(AO.el("tr", { class: "slot", "data-slot": String(slot) },
      AO.el("td", {}, String(slot)),
      AO.el("td", { class: "mono" }, tag(body, "type") || "?"),
      AO.el("td", { class: "mono" }, tag(body, "action")),
      AO.el("td", { class: "mono" }, sender ? AO.el("a", { href: "/" + sender }, sender.slice(0, 12) + "…") : ""),
      AO.el("td", {}, link, " · ", AO.el("a", { href: "/" + pid + "/compute/results?slot=" + slot }, "results"),
        " · ", AO.el("a", { href: "/" + pid + "/compute/results/outbox?slot=" + slot }, "outbox"))));
  }
  $("sched-next").disabled = !(page.continues === true || page.continues === "true");
  $("sched-prev").disabled = schedFrom === 0;
}

async function process(message) {
  $("process").classList.remove("hidden");
  document.querySelector("h1").firstChild.textContent = "Process ";
  document.title = "aonode · process " + pid;
  $("p-scheduler").append(valueCell("scheduler", message.scheduler || ""));
  $("p-execution").textContent = message["execution-device"] || "";
  AO.fetchText("/" + pid + "/slot/current").then((r) => { $("p-current").textContent = r.status === 200 ? r.text : "?"; });
  $("sched-prev").addEventListener("click", () => { schedFrom = Math.max(0, schedFrom - PAGE); schedule(); });
  $("sched-next").addEventListener("click", () => { schedFrom += PAGE; schedule(); });
  $("state-form").addEventListener("submit", (e) => { e.preventDefault(); showState(Number($("state-slot").value)); });
  schedule().catch((err) => $("schedule").replaceChildren(AO.el("tr", {}, AO.el("td", {}, "schedule unavailable: " + err.message))));
  const asked = () => /slot=(\d+)/.exec(location.hash);
  if (asked()) showState(Number(asked()[1]));
  window.addEventListener("hashchange", () => {
    const slot = asked();
    if (slot && String(slot[1]) !== document.body.dataset.stateSlot) showState(Number(slot[1]));
  });
}

viewer().catch((err) => { $("summary").textContent = "Could not read the message: " + err; });
