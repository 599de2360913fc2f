// The aoconnect 0.0.93 side of tests/clients/test_aoconnect_0093.py: the version operators' tools
// still pin (npm alias `aoconnect-0093`), whose `result` asks `/<pid>~process@1.0/compute=<slot>`
// and whose `result`, `results` and `dryrun` read the legacy result at `results.raw` (0.0.98
// reads `raw`). Prints one JSON object: each step's value, or {error: message}. Environment:
// NODE_URL, WALLET (a JWK file), MODULE (the ID of a Lua module stored on the node).
import * as aoconnect from 'aoconnect-0093'
import { start } from './flow_common.mjs'

const { ao, MODULE, out, step, eval_ } = start(aoconnect)

const pid = await step('spawn', () => ao.spawn({ module: MODULE, tags: [{ name: 'Name', value: 'aoconnect-0093' }] }))
if (typeof pid === 'string') {
  const first = await step('message1', () => eval_(pid, 'X = 20 return X'))
  const second = await step('message2', () => eval_(pid, 'X = X + 22 return X'))
  await step('result1', () => ao.result({ process: pid, slot: first }))
  await step('result2', () => ao.result({ process: pid, slot: second }))
  await step('results', () => ao.results({ process: pid }))
  await step('dryrun', () => ao.dryrun({ process: pid, tags: [{ name: 'Action', value: 'Eval' }], data: 'X = 1000 return X' }))
  await step('info', () => ao.dryrun({ process: pid, tags: [{ name: 'Action', value: 'Info' }] }))
  await step('after_dryrun', async () => ao.result({ process: pid, slot: await eval_(pid, 'X') }))
}
console.log(JSON.stringify(out))
// 0.0.93 keeps a timer alive after its last call.
process.exit(0)
