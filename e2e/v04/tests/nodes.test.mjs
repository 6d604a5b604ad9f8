// Two sync-worker nodes on one PostgreSQL database (a scratch database per run): a client
// on node 1 and a client on node 2 of the same store converge, through the cross-node
// fan-out (NOTIFY) and the shared chain; once with the 0.3.1 client, once with 0.4.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { expectServerChain, lockstepRounds, payloadOf, v031, v04 } from '../lib/v04.mjs'

const twoNodes = { requireAuth: true, syncNodes: 2, postgres: true }

for (const [label, client] of [
  ['0.3.1', v031()],
  ['0.4', v04('ws')],
]) {
  test(
    `two nodes on one PostgreSQL: ${label} process A on node 1 and B on node 2 converge`,
    scenario(`nodes-${label}`, twoNodes, async ({ services, open }) => {
      const user = await signUp(services.auth.url, `nodes-${label}`)
      const storeId = user.instanceId
      const a = await open('A', { storeId, syncPayload: payloadOf(user), node: 0, ...client })
      const b = await open('B', { storeId, syncPayload: payloadOf(user), node: 1, ...client })
      await Promise.all([a.waitConnected(), b.waitConnected()])

      await a.create('a-first', 'via node 1')
      await b.waitTodos(['a-first'])
      await b.create('b-first', 'via node 2')
      await a.waitTodos(['a-first', 'b-first'])

      // Commits at the same instant through different nodes race on the one chain in PostgreSQL.
      const known = ['a-first', 'b-first']
      const ids = [...known, ...(await lockstepRounds([a, b], { rounds: 4, known }))]
      const total = ids.length

      const stored = expectServerChain(services.storedEvents(storeId), { count: total, userId: user.userId })
      assert.ok(stored.some((e) => e.client_id === a.clientId) && stored.some((e) => e.client_id === b.clientId))
      for (const node of services.syncNodes) assert.equal(node.starts, 1, 'both nodes served the whole run')
    }),
  )
}
