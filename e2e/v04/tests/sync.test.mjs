// Three real LiveStore 0.4.0 clients (separate Node processes, own storage, own clientId,
// `makeWsSync`) on one store, with a JWT from auth-worker's /signup and REQUIRE_AUTH=true.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { expectConverged, expectServerChain, lockstepRounds, payloadOf, v04 } from '../lib/v04.mjs'

/** Rounds in which every client commits at the same instant. */
const ROUNDS = 6

test(
  '0.4 ws: three processes committing at once converge; the pushes that lose the race get ServerAheadError, rebase and push again',
  scenario('v04-concurrent', { requireAuth: true }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'v04')
    const storeId = user.instanceId
    const clients = await Promise.all(['A', 'B', 'C'].map((name) => open(name, { storeId, syncPayload: payloadOf(user), ...v04('ws') })))
    await Promise.all(clients.map((c) => c.waitConnected()))

    // A first event from A reaches the others: the basic path, before any race.
    await clients[0].create('first', 'from A')
    await expectConverged(clients, { ids: ['first'], head: 1 })

    // Each round: all three commit one event at once, so all three push on the same head.
    const ids = ['first', ...(await lockstepRounds(clients, { rounds: ROUNDS, known: ['first'] }))]

    const sockets = await Promise.all(clients.map((c) => c.socket()))
    const serverAhead = sockets.reduce((sum, s) => sum + s.serverAhead, 0)
    t.diagnostic(`pushes answered with ServerAheadError, then rebased and pushed again: ${serverAhead} in ${ROUNDS} rounds`)
    assert.ok(serverAhead > 0, 'some push lost a race (ServerAheadError -> rebase -> push again)')
    for (const s of sockets) {
      assert.deepEqual(s.errors, [], 'no failure other than ServerAheadError reached a client')
      assert.ok(s.pushAcks > 0, 'every client had pushes acknowledged')
    }
    expectServerChain(services.storedEvents(storeId), { count: ids.length, userId: user.userId })
  }),
)
