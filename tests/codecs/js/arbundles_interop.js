// Cross-check ANS-104 data items and bundles between aonode and arbundles.
//
// Usage: node arbundles_interop.js <node_modules dir>  < request.json  > reply.json
//
// The request (written by tests/codecs/test_arbundles_interop.py) holds the
// keys to sign with, the fields of the items to create here, and the items
// and bundle aonode made. The reply holds what arbundles made and what it
// thinks of aonode's output. All binary values travel as standard base64.
"use strict";

const path = require("path");
const { createRequire } = require("module");

const modules = process.argv[2];
if (!modules) {
  process.stderr.write("usage: node arbundles_interop.js <node_modules dir>\n");
  process.exit(2);
}
const root = path.resolve(modules);
const req = createRequire(path.join(root, "noop.js"));
// The package root also loads arbundles' file helpers, which need axios (not
// one of its dependencies); the in-memory API is all we use.
const ab = req(path.join(root, "@dha-team/arbundles/build/node/cjs/src/index.js"));
const bs58 = req("bs58");

const b64 = (buf) => Buffer.from(buf).toString("base64");
const unb64 = (text) => Buffer.from(text, "base64");

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (c) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function signers(keys) {
  const ed = Buffer.concat([Buffer.from(keys.ed25519_seed_hex, "hex"),
                            Buffer.from(keys.ed25519_public_hex, "hex")]);
  return {
    1: new ab.ArweaveSigner(keys.jwk),
    2: new ab.SolanaSigner(bs58.encode(ed)),        // raw Ed25519, signature type 2
    3: new ab.EthereumSigner(keys.ethereum_secret_hex),
    4: new ab.HexSolanaSigner(bs58.encode(ed)),     // Ed25519 over the hex, type 4
  };
}

function describe(item) {
  return {
    signature_type: item.signatureType,
    id: item.id,
    owner: b64(item.rawOwner),
    target: b64(item.rawTarget),
    anchor: b64(item.rawAnchor),
    tags: item.tags.map((t) => [t.name, t.value]),
    data: b64(item.rawData),
  };
}

async function main() {
  const request = JSON.parse(await readStdin());
  const bySigType = signers(request.keys);
  const reply = { js_items: [], python_items: [], python_bundle: null, js_bundle: null };

  // Items made here, one per spec.
  const made = [];
  for (const spec of request.specs) {
    const opts = { tags: spec.tags.map(([name, value]) => ({ name, value })) };
    if (spec.target) opts.target = spec.target; // base64url, decoded by createData
    if (spec.anchor) opts.anchor = spec.anchor; // a 32-character string, used as UTF-8
    const item = ab.createData(unb64(spec.data), bySigType[spec.signature_type], opts);
    await item.sign(bySigType[spec.signature_type]);
    made.push(item);
    reply.js_items.push({ raw: b64(item.getRaw()), id: item.id });
  }

  // Items aonode made: verify and describe them.
  for (const raw of request.python_items) {
    const buf = unb64(raw);
    const valid = await ab.DataItem.verify(buf);
    reply.python_items.push({ valid, ...describe(new ab.DataItem(buf)) });
  }

  // A standard bundle aonode made.
  if (request.python_bundle) {
    const bundle = ab.unbundleData(unb64(request.python_bundle));
    reply.python_bundle = {
      valid: await bundle.verify(),
      ids: bundle.getIds(),
      sizes: bundle.items.map((i) => i.getRaw().length),
    };
  }

  // A standard bundle made here from the items above.
  const bundle = await ab.bundleAndSignData(made, bySigType[1]);
  reply.js_bundle = { raw: b64(bundle.getRaw()), ids: bundle.getIds() };

  process.stdout.write(JSON.stringify(reply));
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
