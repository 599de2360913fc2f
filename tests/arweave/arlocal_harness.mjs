// Test harness for aonode's gateway tests: arlocal (npm) as the local Arweave gateway, a
// bundler front that wraps posted ANS-104 items into bundles, and a publisher built from the
// npm packages `arweave` and `arbundles`. Nothing here is aonode code: the node under test
// only ever talks HTTP to these servers, through its `routes`.
//
//   node arlocal_harness.mjs serve <arlocal-port> <bundler-port> <db-dir> <bundler-wallet.json>
//   node arlocal_harness.mjs wallet <out.json>
//   node arlocal_harness.mjs publish <arlocal-url> <wallet.json> <mine-url> < spec.json
//
// Every /mine goes through the serve process (`GET <bundler>/mine`), one at a time: arlocal
// unbundles on /mine, and two concurrent mines index the same bundle's items twice.
//
// `publish` reads {"items": [{"data": <base64>, "tags": [{"name","value"}], "target"?: <b64url>}],
//                  "raw": [<base64 of a signed item>...], "broken": [<as items; data altered after signing>]}
// and prints {"ids": [...], "raw_ids": [...], "bundle": <tx id>} on one line.
import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import Arweave from "arweave";
import { ArweaveSigner, DataItem, bundleAndSignData, createData } from "arbundles";

const require = createRequire(import.meta.url);

function arweaveAt(url) {
  const u = new URL(url);
  return Arweave.init({ host: u.hostname, port: Number(u.port), protocol: u.protocol.replace(":", ""),
                        logging: false });
}

async function call(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return text;
}

// Posts a bundle of signed items as one L1 transaction, signed and paid by `jwk`, and mines it
// (GET `mineUrl`) so arlocal unbundles and indexes the items.
async function postBundle(base, jwk, items, mineUrl) {
  // A parsed item does not count as signed for bundleAndSignData, which would sign it again
  // (a new ID): mark each item signed with the signature it already carries.
  for (const item of items) if (!item.isSigned()) item.rawId = item.rawId;
  const arweave = arweaveAt(base);
  const address = await arweave.wallets.jwkToAddress(jwk);
  await call(`${base}/mint/${address}/1000000000000000`);
  const bundle = await bundleAndSignData(items, new ArweaveSigner(jwk));
  const tx = await bundle.toTransaction({}, arweave, jwk);
  await arweave.transactions.sign(tx, jwk);
  const res = await arweave.transactions.post(tx);
  if (res.status >= 300) throw new Error(`posting bundle ${tx.id}: ${res.status} ${JSON.stringify(res.data)}`);
  await call(mineUrl);
  return tx.id;
}

// arlocal drops bundled items whose owner holds no tokens: mint to every signer.
async function mintOwners(base, items) {
  const arweave = arweaveAt(base);
  for (const item of items) {
    const address = await arweave.wallets.ownerToAddress(item.owner);
    await call(`${base}/mint/${address}/1000000000000000`);
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// A bundler as nodes see one (`bundler_ans104`): POST /tx takes one ANS-104 item as
// application/octet-stream, answers {"id": <item id>} once the item is on the (local) chain.
function bundlerFront(arlocalUrl, jwk) {
  let queue = Promise.resolve();
  const serially = (work) => {
    const job = queue.then(work);
    queue = job.catch(() => {});
    return job;
  };
  return http.createServer(async (req, res) => {
    const answer = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === "GET" && (req.url === "/" || req.url === "/info")) return answer(200, { bundler: "arlocal" });
      if (req.method === "GET" && req.url === "/mine") {
        await serially(() => call(`${arlocalUrl}/mine`));
        return answer(200, { mined: true });
      }
      if (req.method !== "POST" || !/^\/tx\/?$/.test(req.url.split("?")[0])) return answer(404, { error: "not found" });
      const body = await readBody(req);
      let item;
      try {
        item = new DataItem(body);
        if (!(await item.isValid())) return answer(400, { error: "data item does not verify" });
      } catch (e) {
        return answer(400, { error: `not an ANS-104 data item: ${e.message}` });
      }
      // Posted and mined in the queue: the mine itself must not wait for the queue.
      const bundleId = await serially(async () => {
        await mintOwners(arlocalUrl, [item]);
        return postBundle(arlocalUrl, jwk, [item], `${arlocalUrl}/mine`);
      });
      console.log(`bundler: item ${item.id} in bundle ${bundleId}`);
      return answer(200, { id: item.id, bundle: bundleId });
    } catch (e) {
      console.error(`bundler: ${e.stack}`);
      return answer(502, { error: String(e.message) });
    }
  });
}

async function serve([port, bundlerPort, dbDir, walletPath]) {
  // arlocal calls app.listen(port), which binds every interface: keep it on loopback.
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === "number") return listen.call(this, args[0], "127.0.0.1", ...args.slice(1));
    return listen.apply(this, args);
  };
  const ArLocal = require("arlocal").default;
  // A folder database: with ":memory:" arlocal's migrations run on another connection and fail.
  // Logs on: the tests count the requests a node makes. persist: a restart keeps the chain.
  const arlocal = new ArLocal(Number(port), true, dbDir, true);
  await arlocal.start();
  // On a restart arlocal resumes from the block with the latest created_at, a time in whole
  // seconds: of two blocks mined in one second it may take the lower, and then mine a second
  // block at a height already used (GraphQL then lists that block's items twice). Resume
  // from the highest block instead.
  const [top] = await arlocal.connection("blocks").orderBy("height", "desc").limit(1);
  if (top) Object.assign(arlocal.app.context.network, { current: top.id, height: top.height, blocks: top.height + 1 });
  const jwk = JSON.parse(fs.readFileSync(walletPath, "utf8"));
  const arlocalUrl = `http://127.0.0.1:${port}`;
  const front = bundlerFront(arlocalUrl, jwk);
  await new Promise((resolve) => front.listen(Number(bundlerPort), "127.0.0.1", resolve));
  console.log(JSON.stringify({ ready: true, arlocal: arlocalUrl, bundler: `http://127.0.0.1:${bundlerPort}` }));
  const stop = async () => {
    front.close();
    await arlocal.stop();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function wallet([out]) {
  const jwk = await Arweave.init({}).wallets.generate();
  fs.writeFileSync(out, JSON.stringify(jwk));
  console.log(JSON.stringify({ address: await Arweave.init({}).wallets.jwkToAddress(jwk) }));
}

async function publish([base, walletPath, mineUrl]) {
  const spec = JSON.parse(fs.readFileSync(0, "utf8"));
  const jwk = JSON.parse(fs.readFileSync(walletPath, "utf8"));
  const signer = new ArweaveSigner(jwk);
  const items = [];
  for (const it of spec.items ?? []) {
    const opts = { tags: it.tags ?? [] };
    if (it.target) opts.target = it.target;
    const item = createData(Buffer.from(it.data ?? "", "base64"), signer, opts);
    await item.sign(signer);
    items.push(item);
  }
  const raw = (spec.raw ?? []).map((b) => new DataItem(Buffer.from(b, "base64")));
  // Signed, then one byte of the data changed: the signature no longer verifies.
  for (const it of spec.broken ?? []) {
    const item = createData(Buffer.from(it.data ?? "", "base64"), signer, { tags: it.tags ?? [] });
    await item.sign(signer);
    const bytes = item.getRaw();
    bytes[bytes.length - 1] ^= 1;
    raw.push(new DataItem(bytes));
  }
  await mintOwners(base, [...items, ...raw]);
  const out = { ids: items.map((i) => i.id), raw_ids: raw.map((i) => i.id), bundles: [] };
  // Each group in its own bundle: arlocal leaves a whole bundle unmined when one item fails.
  if (items.length) out.bundles.push(await postBundle(base, jwk, items, mineUrl));
  for (const r of raw) out.bundles.push(await postBundle(base, jwk, [r], mineUrl));
  out.raw = items.map((i) => Buffer.from(i.getRaw()).toString("base64"));
  console.log(JSON.stringify(out));
}

// Rebuilds the item `id` from arlocal's GraphQL fields and its data (GET /<id>) and checks its
// signature and ID with arbundles. Prints {"id", "valid", "tags"}.
async function verify([base, id]) {
  const query = `query($ids: [ID!]) { transactions(ids: $ids) { edges { node {
    id signature recipient anchor owner { key } tags { name value } data { size } } } } }`;
  const answer = JSON.parse(await call(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables: { ids: [id] } }) }));
  const edge = answer.data.transactions.edges[0];
  if (!edge) { console.log(JSON.stringify({ id, valid: false, found: false })); return; }
  const node = edge.node;
  const data = Buffer.from(await (await fetch(`${base}/${id}`)).arrayBuffer());
  const owner = Buffer.from(node.owner.key, "base64url");
  // A signer that only lends its public key: the signature comes from the gateway's record.
  const lender = { signatureType: 1, signatureLength: 512, ownerLength: 512, publicKey: owner, sign: async () => { throw new Error("no"); } };
  const opts = { tags: node.tags };
  if (node.recipient) opts.target = node.recipient;
  if (node.anchor) opts.anchor = node.anchor;
  const item = createData(data, lender, opts);
  item.getRaw().set(Buffer.from(node.signature, "base64url"), 2);
  const valid = (await DataItem.verify(item.getRaw())) && item.id === id;
  console.log(JSON.stringify({ id, valid, found: true, tags: node.tags }));
}

const [command, ...args] = process.argv.slice(2);
const commands = { serve, wallet, publish, verify };
if (!commands[command]) {
  console.error(`usage: node arlocal_harness.mjs serve|wallet|publish ...`);
  process.exit(2);
}
commands[command](args).catch((e) => {
  console.error(e.stack ?? String(e));
  process.exit(1);
});
