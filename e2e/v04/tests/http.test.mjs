// Two LiveStore 0.4.0 processes syncing over HTTP (`makeHttpSync`: POST per pull, push and
// ping, live pull by polling every 500 ms), committing at once, with a JWT from auth-worker.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { expectServerChain, lockstepRounds, payloadOf, v04 } from '../lib/v04.mjs'

test(
  '0.4 http: two processes committing at once converge',
  scenario('v04-http', { requireAuth: true }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'v04-http')
    const storeId = user.instanceId
    const [a, b] = await Promise.all(['A', 'B'].map((name) => open(name, { storeId, syncPayload: payloadOf(user), ...v04('http') })))

    await a.create('first', 'from A over HTTP')
    await b.waitTodos(['first'])
    const ids = ['first', ...(await lockstepRounds([a, b], { rounds: 4, known: ['first'] }))]
    const total = ids.length

    const [sa, sb] = await Promise.all([a.socket(), b.socket()])
    for (const s of [sa, sb]) {
      assert.equal(s.opened, 0, 'no WebSocket: everything went over HTTP')
      assert.ok(s.pushAcks > 0 && s.eventsReceived > 0, 'pushes acknowledged and events pulled over HTTP')
      assert.ok(s.httpStatuses.every((status) => status === 200), `every sync request answered 200 (${s.httpStatuses})`)
      assert.deepEqual(s.errors, [])
    }
    t.diagnostic(`HTTP requests: A ${sa.attempts}, B ${sb.attempts}; ServerAheadError answers: ${sa.serverAhead + sb.serverAhead}`)
    expectServerChain(services.storedEvents(storeId), { count: total, userId: user.userId })
  }),
)
