// @permaweb/aoconnect (mainnet mode, unchanged, from tests/clients/node_modules) spawns a process
// with MODULE on NODE_URL, sends it the Eval messages of EVALS (a JSON list of Lua/any data)
// and reads each result. Prints {spawn, messages: [...], results: [...]} on one line; a step that
// threw is {error: message}. Environment: NODE_URL, WALLET (JWK file), MODULE, EVALS, AOCONNECT
// (the package's dist/index.js).
import fs from 'node:fs'

const { connect, createSigner } = await import(process.env.AOCONNECT)
const jwk = JSON.parse(fs.readFileSync(process.env.WALLET, 'utf8'))
// aoconnect's spawn prefers process.env.MODULE over its `module` argument: keep it out of reach.
const MODULE = process.env.MODULE
delete process.env.MODULE
const ao = connect({ MODE: 'mainnet', URL: process.env.NODE_URL, signer: createSigner(jwk) })

async function step (run) {
  try {
    return await run()
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) }
  }
}

const out = { spawn: await step(() => ao.spawn({ module: MODULE, tags: [{ name: 'Name', value: 'arweave-test' }] })),
  messages: [], results: [] }
if (typeof out.spawn === 'string') {
  for (const data of JSON.parse(process.env.EVALS || '[]')) {
    const slot = await step(() => ao.message({ process: out.spawn, tags: [{ name: 'Action', value: 'Eval' }], data }))
    out.messages.push(slot)
    out.results.push(await step(() => ao.result({ process: out.spawn, slot })))
  }
}
console.log(JSON.stringify(out))
