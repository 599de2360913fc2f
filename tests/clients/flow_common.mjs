// What both aoconnect flows (aoconnect_flow.mjs, aoconnect_0093_flow.mjs) share: a client of the
// given aoconnect package for NODE_URL, signed with the JWK file WALLET, and `step`, which records
// each step's value, or {error: message} when aoconnect threw, into `out`.
import fs from 'node:fs'

export function start ({ connect, createSigner }) {
  const jwk = JSON.parse(fs.readFileSync(process.env.WALLET, 'utf8'))
  // aoconnect's spawn prefers process.env.MODULE over its `module` argument: keep it out of reach.
  const MODULE = process.env.MODULE
  delete process.env.MODULE
  const ao = connect({ MODE: 'mainnet', URL: process.env.NODE_URL, signer: createSigner(jwk) })
  const out = {}
  async function step (name, run) {
    try {
      out[name] = await run()
    } catch (error) {
      out[name] = { error: String(error && error.message ? error.message : error) }
    }
    return out[name]
  }
  const eval_ = (pid, code) => ao.message({ process: pid, tags: [{ name: 'Action', value: 'Eval' }], data: code })
  return { ao, MODULE, out, step, eval_ }
}
