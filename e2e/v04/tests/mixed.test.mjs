// A LiveStore 0.3.1 process (`makeCfSync`) and a 0.4.0 process (`makeWsSync`) on the same
// store id: each sees the other's events live, both commit at once, and they converge
// on one chain; a fresh 0.3.1 client pulls everything, the 0.4 client's events included.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { expectConverged, expectServerChain, lockstepRounds, payloadOf, v031, v04 } from '../lib/v04.mjs'

test(
  'mixed: a 0.3.1 process and a 0.4 process on one store converge',
  scenario('mixed', { requireAuth: true }, async ({ services, open }) => {
    const user = await signUp(services.auth.url, 'mixed')
    const storeId = user.instanceId
    const [old, neu] = await Promise.all([
      open('Old', { storeId, syncPayload: payloadOf(user), ...v031() }),
      open('New', { storeId, syncPayload: payloadOf(user), ...v04('ws') }),
    ])
    await Promise.all([old.waitConnected(), neu.waitConnected()])

    await old.create('from-031', 'written by 0.3.1')
    await neu.waitTodos(['from-031'])
    await neu.create('from-04', 'written by 0.4')
    await neu.complete('from-031')
    await old.waitTodos(['from-031', 'from-04'], { completed: ['from-031'] })

    const known = ['from-031', 'from-04']
    const completed = ['from-031']
    const ids = [...known, ...(await lockstepRounds([old, neu], { rounds: 4, known, completed, head: 3 }))]
    const total = ids.length + completed.length

    const stored = expectServerChain(services.storedEvents(storeId), { count: total, userId: user.userId })
    const byClient = new Set(stored.map((e) => e.client_id))
    assert.ok(byClient.has(old.clientId) && byClient.has(neu.clientId), 'both clients wrote to the one chain')

    const fresh = await open('Fresh031', { storeId, syncPayload: payloadOf(user), ...v031() })
    await expectConverged([old, neu, fresh], { ids, completed, head: total })
  }),
)
