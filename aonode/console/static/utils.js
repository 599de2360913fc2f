// Shared helpers of aonode's web console: DOM building, fetching, Prometheus text, and checking
// the httpsig@1.0 signatures of a node's reply in the page (WebCrypto: RSA-PSS-SHA512, HMAC).
"use strict";

const AO = {};

AO.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

AO.fetchText = async function (path, init) {
  const res = await fetch(path, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
};

// Prometheus text exposition -> [{name, labels: {..}, value}]
AO.parseMetrics = function (text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const p of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
};

AO.metricSum = function (metrics, name, filter) {
  let total = 0;
  for (const m of metrics) {
    if (m.name !== name) continue;
    if (filter && !filter(m.labels)) continue;
    total += m.value;
  }
  return total;
};

AO.duration = function (seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
};

// --- base64 -------------------------------------------------------------------------------

AO.b64ToBytes = function (text) {
  text = text.replace(/-/g, "+").replace(/_/g, "/");
  while (text.length % 4) text += "=";
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
};

AO.bytesToB64url = function (bytes) {
  let raw = "";
  for (const b of new Uint8Array(bytes)) raw += String.fromCharCode(b);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

// --- RFC 8941 structured fields (the subset httpsig@1.0 writes) -------------------------------

AO.parseSfDictionary = function (text) {
  let i = 0;
  const out = {};
  const ws = () => { while (text[i] === " " || text[i] === "\t") i++; };
  const key = () => { const m = /^[a-z*][a-z0-9_\-.*]*/.exec(text.slice(i)); if (!m) throw new Error("bad key at " + i); i += m[0].length; return m[0]; };
  const bare = () => {
    if (text[i] === '"') {
      let s = ""; i++;
      while (i < text.length && text[i] !== '"') { if (text[i] === "\\") i++; s += text[i++]; }
      i++; return s;
    }
    if (text[i] === ":") { const end = text.indexOf(":", i + 1); const s = text.slice(i + 1, end); i = end + 1; return { bytes: s }; }
    const m = /^(-?\d+(\.\d+)?|[A-Za-z*][A-Za-z0-9_\-.:%*/]*|\?[01])/.exec(text.slice(i));
    if (!m) throw new Error("bad item at " + i);
    i += m[0].length;
    return /^-?\d/.test(m[0]) ? Number(m[0]) : m[0];
  };
  const params = () => {
    const p = {};
    while (text[i] === ";") { i++; ws(); const k = key(); if (text[i] === "=") { i++; p[k] = bare(); } else p[k] = true; }
    return p;
  };
  const item = () => {
    if (text[i] === "(") {
      i++; const list = [];
      while (true) { ws(); if (text[i] === ")") { i++; break; } list.push({ value: bare(), params: params() }); }
      return { value: list, params: params() };
    }
    return { value: bare(), params: params() };
  };
  while (i < text.length) {
    ws(); const k = key();
    out[k] = text[i] === "=" ? (i++, item()) : { value: true, params: params() };
    ws(); if (text[i] === ",") i++;
  }
  return out;
};

const DERIVED = new Set(["method", "target-uri", "authority", "scheme", "request-target", "path", "query", "query-param"]);
const BASE_PARAMS = ["alg", "bundle", "created", "expires", "keyid", "nonce", "tag"];

function sfString(s) { return '"' + String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"'; }

// The signature base of one commitment, rebuilt from the reply's headers (RFC 9421 §2.5 as
// httpsig@1.0 writes it: bare component names, `@` only in the params line).
AO.signatureBase = function (headers, input) {
  const names = input.value.map((c) => String(c.value));
  const lines = names.map((n) => {
    let v = headers.get(n);
    if (v === null) throw new Error("the signed key '" + n + "' is missing from the reply");
    if (n === "ao-types") v = AO.typesOf(v, names);
    return '"' + n + '": ' + v;
  });
  const inner = names.map((n) => sfString(DERIVED.has(n) ? "@" + n : n)).join(" ");
  let params = "";
  for (const k of BASE_PARAMS) {
    if (!(k in input.params)) continue;
    const v = input.params[k];
    params += ";" + k + "=" + ((k === "created" || k === "expires") && typeof v === "number" ? v : sfString(v));
  }
  return lines.join("\n") + '\n"@signature-params": (' + inner + ")" + params;
};

// The reply's `ao-types` covers every key it carries (the node adds `status`, say); a commitment
// signed the types of its own keys only, so its base holds the entries of the keys it names.
AO.typesOf = function (value, names) {
  const wanted = new Set(names.map((n) => n.replace(/\+link$/, "")));
  const entries = [];
  for (const m of value.matchAll(/([a-z0-9_\-.*%]+)="((?:[^"\\]|\\.)*)"/g)) {
    if (wanted.has(m[1])) entries.push(m[0]);
  }
  return entries.join(", ");
};

// Check every commitment of a reply. Returns [{label, alg, signer, keys, ok, error, bundle}].
AO.verifyReply = async function (headers, bodyBytes) {
  const inputs = headers.get("signature-input");
  const sigs = headers.get("signature");
  if (!inputs || !sigs) return [];
  const parsedInputs = AO.parseSfDictionary(inputs);
  const parsedSigs = AO.parseSfDictionary(sigs);
  const digest = headers.get("content-digest");
  let digestOk = true;
  if (digest) {
    const m = /sha-256=:([^:]*):/.exec(digest);
    const want = m ? AO.b64ToBytes(m[1]) : new Uint8Array();
    const got = new Uint8Array(await crypto.subtle.digest("SHA-256", bodyBytes || new Uint8Array()));
    digestOk = want.length === got.length && want.every((b, i) => b === got[i]);
  }
  const enc = new TextEncoder();
  const out = [];
  for (const [label, input] of Object.entries(parsedInputs)) {
    const alg = String(input.params.alg || "");
    const keyid = String(input.params.keyid || "");
    const entry = { label, alg, signer: null, keys: input.value.map((c) => String(c.value)), ok: false, error: null,
      bundle: String(input.params.bundle || "") === "true" };
    try {
      const sig = AO.b64ToBytes(parsedSigs[label].value.bytes);
      const data = enc.encode(AO.signatureBase(headers, input));
      if (alg === "rsa-pss-sha512") {
        const material = keyid.includes(":") ? keyid.split(":", 2)[1] : keyid;
        const modulus = AO.b64ToBytes(material);
        entry.signer = AO.bytesToB64url(await crypto.subtle.digest("SHA-256", modulus));
        const key = await crypto.subtle.importKey("jwk", { kty: "RSA", n: AO.bytesToB64url(modulus), e: "AQAB", alg: "PS512", ext: true },
          { name: "RSA-PSS", hash: "SHA-512" }, false, ["verify"]);
        entry.ok = await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 64 }, key, sig, data);
      } else if (alg === "hmac-sha256") {
        const key = await crypto.subtle.importKey("raw", enc.encode(keyid), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
        entry.ok = await crypto.subtle.verify("HMAC", key, sig, data);
      } else {
        entry.error = "unknown algorithm " + alg;
      }
      if (entry.ok && entry.keys.includes("content-digest") && !digestOk) {
        entry.ok = false; entry.error = "the body does not match its content-digest";
      }
    } catch (err) {
      entry.error = String(err.message || err);
    }
    out.push(entry);
  }
  return out;
};

// Fetch `path` and check its commitments. A commitment made over the message with its nested
// messages inline (`bundle`) is checked against the reply asked for with `accept-bundle: true`.
AO.fetchChecked = async function (path) {
  const res = await fetch(path, { headers: { accept: "*/*" } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let checks = await AO.verifyReply(res.headers, bytes);
  if (checks.some((c) => c.bundle && !c.ok)) {
    const again = await fetch(path, { headers: { accept: "*/*", "accept-bundle": "true" } });
    const inline = await AO.verifyReply(again.headers, new Uint8Array(await again.arrayBuffer()));
    const byLabel = Object.fromEntries(inline.map((c) => [c.label, c]));
    checks = checks.map((c) => (c.bundle && !c.ok && byLabel[c.label] ? byLabel[c.label] : c));
  }
  return { res, bytes, checks };
};

AO.signatureTable = function (checks) {
  if (!checks.length) return AO.el("p", { class: "muted" }, "The reply carries no signature.");
  return AO.el("table", { class: "sigs" },
    AO.el("tr", {}, AO.el("th", {}, "commitment"), AO.el("th", {}, "algorithm"), AO.el("th", {}, "signer"),
      AO.el("th", {}, "signed keys"), AO.el("th", {}, "check")),
    checks.map((c) => AO.el("tr", { class: c.ok ? "ok" : "bad" },
      AO.el("td", { class: "mono" }, c.label.slice(0, 18) + "…"),
      AO.el("td", {}, c.alg),
      AO.el("td", { class: "mono signer" }, c.signer || "(none: an HMAC)"),
      AO.el("td", {}, String(c.keys.length)),
      AO.el("td", { class: "verdict" }, c.ok ? "verified" : "FAILED" + (c.error ? ": " + c.error : "")))));
};

// An ID-shaped value: 43 characters of base64url.
AO.isId = (v) => /^[A-Za-z0-9_-]{43}$/.test(v);

AO.nav = function (active) {
  const links = [["/~hyperbuddy@1.0/dashboard", "Dashboard"], ["/~hyperbuddy@1.0/console", "Console"],
    ["/~cacheviz@1.0/index", "Store graph"], ["/~meta@1.0/info", "Node message"]];
  return AO.el("nav", {}, AO.el("span", { class: "brand" }, "aonode"),
    links.map(([href, text]) => AO.el("a", { href, class: text === active ? "active" : "" }, text)));
};
