// The aoconnect side of tests/clients/test_aoconnect.py: @permaweb/aoconnect (mainnet mode,
// unchanged, from npm) against an aonode node. Prints one JSON object: each step's value, or
// {error: message} when aoconnect threw. Environment: NODE_URL, WALLET (a JWK file), MODULE (the
// ID of a Lua module stored on the node).
import * as aoconnect from '@permaweb/aoconnect'
import { start } from './flow_common.mjs'

const { ao, MODULE, out, step, eval_ } = start(aoconnect)

const pid = await step('spawn', () => ao.spawn({
  module: MODULE,
  tags: [{ name: 'Name', value: 'aoconnect-test' }]
}))
if (typeof pid === 'string') {
  const first = await step('message1', () => eval_(pid, 'X = 20 return X'))
  const second = await step('message2', () => eval_(pid, 'X = X + 22 return X'))
  const third = await step('message3', () => ao.message({
    process: pid,
    tags: [{ name: 'Action', value: 'Credit' }, { name: 'Quantity', value: '5' }]
  }))
  await step('result1', () => ao.result({ process: pid, slot: first }))
  await step('result2', () => ao.result({ process: pid, slot: second }))
  await step('result3', () => ao.result({ process: pid, slot: third }))
  await step('results', () => ao.results({ process: pid }))
  await step('dryrun', () => ao.dryrun({ process: pid, tags: [{ name: 'Action', value: 'Eval' }], data: 'X = 1000 return X' }))
  await step('after_dryrun', async () => ao.result({ process: pid, slot: await eval_(pid, 'X') }))
  await step('info', () => ao.dryrun({ process: pid, tags: [{ name: 'Action', value: 'Info' }] }))
  await step('message_id', () => ao.message({
    process: pid, tags: [{ name: 'Action', value: 'Ping' }], data: 'hi', returnMessageId: true
  }))
  await step('request', async () => {
    const res = await ao.request({ path: '/~meta@1.0/info/address', method: 'GET' })
    return { status: res.status, body: await res.text() }
  })
  // ao-core-libs drops the body of a signed httpsig request(): a clear 400, and the ANS-104 way works.
  const big = 'x'.repeat(5000)
  await step('request_dropped_body', async () => {
    const res = await ao.request({ path: '/~message@1.0/hello', method: 'POST', hello: big })
    return { status: res.status, body: await res.text() }
  })
  await step('request_ans104', async () => {
    const res = await ao.request({ path: '/~message@1.0/hello', method: 'POST', hello: 'two\nlines', 'signing-format': 'ans104' })
    return { status: res.status, body: await res.text() }
  })
  // Errors aoconnect must report, promptly.
  const bogus = 'B'.repeat(43)
  await step('message_unknown_process', () => eval_(bogus, '1'))
  await step('result_unknown_process', () => ao.result({ process: bogus, slot: 1 }))
  await step('result_unscheduled_slot', () => ao.result({ process: pid, slot: 99 }))
  await step('result_bad_slot', () => ao.result({ process: pid, slot: 'not-a-slot' }))
  // A module the node does not have: the spawn is scheduled (as in HyperBEAM), the first
  // message that needs the module fails.
  const orphan = await step('spawn_missing_module', () => ao.spawn({ module: 'C'.repeat(43) }))
  await step('message_missing_module', () => eval_(orphan, '1'))
}
console.log(JSON.stringify(out))
