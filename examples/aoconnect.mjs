// @permaweb/aoconnect (mainnet mode, unchanged) against an aonode node.
//
//   make run                                        # a node on http://localhost:8734
//   cd examples && npm install                    # @permaweb/aoconnect 0.0.98
//   ../.venv/bin/aonode wallet new wallet.json
//   MODULE=$(../.venv/bin/aonode process upload process.lua --wallet wallet.json)
//   NODE_URL=http://localhost:8734 WALLET=wallet.json MODULE=$MODULE node aoconnect.mjs
import fs from 'node:fs'
import { connect, createSigner } from '@permaweb/aoconnect'

const jwk = JSON.parse(fs.readFileSync(process.env.WALLET ?? 'wallet.json', 'utf8'))
const module = process.env.MODULE
delete process.env.MODULE // aoconnect's spawn would prefer it over its argument
const ao = connect({ MODE: 'mainnet', URL: process.env.NODE_URL ?? 'http://localhost:8734', signer: createSigner(jwk) })

const pid = await ao.spawn({ module, tags: [{ name: 'Name', value: 'example' }] })
console.log('process', pid)

for (let i = 0; i < 3; i++) {
  const slot = await ao.message({ process: pid, tags: [{ name: 'Action', value: 'Count' }] })
  const { Output } = await ao.result({ process: pid, slot })
  console.log('slot', slot, Output.data)
}

const slot = await ao.message({ process: pid, tags: [{ name: 'Action', value: 'Eval' }], data: 'Count * 14' })
console.log('eval', (await ao.result({ process: pid, slot })).Output.data)

const dry = await ao.dryrun({ process: pid, tags: [{ name: 'Action', value: 'Count' }] })
console.log('dryrun (state unchanged)', dry.Output.data)

const { edges } = await ao.results({ process: pid })
console.log('latest result at slot', edges[0].cursor, edges[0].node.Output.data)
