// The HTTP console: send any request to this node, show the reply and check its signatures.
"use strict";

if (window.top === window) document.getElementById("nav").append(AO.nav("Console"));
const $ = (id) => document.getElementById(id);

for (const a of document.querySelectorAll("a.example")) {
  a.addEventListener("click", (e) => { e.preventDefault(); $("method").value = "GET"; $("path").value = a.textContent; send(); });
}

function requestHeaders(body) {
  const headers = {};
  for (const line of $("headers").value.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  if (body && !("content-type" in headers)) {
    try { JSON.parse(body); headers["content-type"] = "application/json"; } catch (_) { /* plain text */ }
  }
  return headers;
}

async function send(event) {
  if (event) event.preventDefault();
  const method = $("method").value;
  let path = $("path").value.trim();
  if (!path.startsWith("/")) path = "/" + path;
  const body = $("body").value;
  const init = { method, headers: requestHeaders(body) };
  if (body && method !== "GET" && method !== "HEAD") init.body = body;
  const started = performance.now();
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    $("reply").classList.remove("hidden");
    $("status").textContent = "no reply: " + err;
    return;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  $("reply").classList.remove("hidden");
  $("status").textContent = res.status + " " + res.statusText;
  $("status").className = "status-" + String(res.status)[0];
  $("elapsed").textContent = Math.round(performance.now() - started) + " ms";
  const table = $("reply-headers");
  table.replaceChildren(AO.el("tr", {}, AO.el("th", {}, "name"), AO.el("th", {}, "value")));
  for (const [k, v] of res.headers) table.append(AO.el("tr", {}, AO.el("td", { class: "mono" }, k), AO.el("td", { class: "mono value" }, v)));
  const type = res.headers.get("content-type") || "";
  let text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (type.includes("json")) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* as is */ } }
  $("reply-body").textContent = bytes.length ? text : "(no body: the message is all headers)";
  $("signatures").replaceChildren(AO.el("p", { class: "muted" }, "checking…"));
  const checks = await AO.verifyReply(res.headers, bytes);
  $("signatures").replaceChildren(AO.signatureTable(checks));
  document.body.dataset.checked = String(checks.length);
}

$("send").addEventListener("submit", send);
// `console#/some/path` opens the console with that request sent (a link any page can give).
const asked = decodeURIComponent(location.hash.slice(1));
if (asked) { $("path").value = asked; send(); }
