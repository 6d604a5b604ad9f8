// Two real LiveStore clients (separate Node processes, own storage, own clientId) on the
// same store, syncing through sync-worker, with a JWT from auth-worker's /signup.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from './lib/auth.mjs'
import { scenario, serverEvents } from './lib/scenario.mjs'
import { waitUntil } from './lib/wait.mjs'

const sameTodos = async (a, b, what) => {
  const [rowsA, rowsB] = await Promise.all([a.todos(), b.todos()])
  assert.deepEqual(rowsB, rowsA, `${what}: ${a.name} and ${b.name} differ`)
  return rowsA
}

test(
  'events committed in A appear in B, and the reverse',
  scenario('a-to-b', { requireAuth: false }, async ({ services, open }) => {
    const user = await signUp(services.auth.url, 'ab')
    const payload = { instanceId: user.instanceId, authToken: user.accessToken }
    const [a, b] = await Promise.all([
      open('A', { storeId: user.instanceId, syncPayload: payload }),
      open('B', { storeId: user.instanceId, syncPayload: payload }),
    ])

    await a.create('a1', 'from A')
    await a.create('a2', 'also from A')
    await a.complete('a1')
    const seenByB = await b.waitTodos(['a1', 'a2'], { completed: ['a1'] })
    assert.deepEqual(seenByB, [
      { id: 'a1', text: 'from A', completed: true },
      { id: 'a2', text: 'also from A', completed: false },
    ])

    await b.create('b1', 'from B')
    await b.complete('a2')
    await a.waitTodos(['a1', 'a2', 'b1'], { completed: ['a1', 'a2'] })

    const [stateA, stateB] = await Promise.all([a.waitSettled(), b.waitSettled()])
    assert.equal(stateA.leader.upstreamHead, 5, 'A has all five events confirmed by the server')
    assert.equal(stateB.leader.upstreamHead, 5, 'B has all five events confirmed by the server')
    const rows = await sameTodos(a, b, 'after A->B and B->A')
    assert.equal(rows.length, 3)

    {
      const stored = serverEvents(services.syncDbPath, user.instanceId)
      assert.deepEqual(
        stored.map((e) => [e.seq_num, e.parent_seq_num, e.name, e.client_id]),
        [
          [1, 0, 'v1.TodoCreated', a.clientId],
          [2, 1, 'v1.TodoCreated', a.clientId],
          [3, 2, 'v1.TodoCompleted', a.clientId],
          [4, 3, 'v1.TodoCreated', b.clientId],
          [5, 4, 'v1.TodoCompleted', b.clientId],
        ],
      )
      assert.ok(stored.every((e) => e.pushed_by === user.userId), 'events are recorded as pushed by the JWT user')
    }
  }),
)

test(
  'A and B committing concurrently while both online converge to the same state',
  scenario('concurrent', { requireAuth: false }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'concurrent')
    const payload = { instanceId: user.instanceId, authToken: user.accessToken }
    const [a, b] = await Promise.all([
      open('A', { storeId: user.instanceId, syncPayload: payload }),
      open('B', { storeId: user.instanceId, syncPayload: payload }),
    ])
    await Promise.all([a.waitConnected(), b.waitConnected()])

    const perClient = 15
    const burst = async (client, prefix) => {
      for (let i = 0; i < perClient; i++) {
        await client.create(`${prefix}${String(i).padStart(2, '0')}`, `${prefix} #${i}`)
        if (i % 3 === 0) await client.complete(`${prefix}${String(i).padStart(2, '0')}`)
      }
    }
    // Both bursts run at once, so pushes race at the server and the loser rebases.
    await Promise.all([burst(a, 'a'), burst(b, 'b')])

    const ids = [...Array(perClient).keys()].flatMap((i) => [`a${String(i).padStart(2, '0')}`, `b${String(i).padStart(2, '0')}`])
    const completed = ids.filter((id) => Number(id.slice(1)) % 3 === 0)
    await Promise.all([a.waitTodos(ids, { completed }), b.waitTodos(ids, { completed })])

    const total = 2 * (perClient + completed.length / 2)
    await Promise.all([a.waitSettled('A settled', 20_000), b.waitSettled('B settled', 20_000)])
    // Both clients agree on the server's head, and the state they materialized is identical.
    await waitUntil(
      'A and B at the same confirmed head',
      async () => Promise.all([a.syncState(), b.syncState()]),
      ([sa, sb]) => sa.leader.upstreamHead === total && sb.leader.upstreamHead === total,
    )
    // How often a push lost the race and its client rebased (informational: the race is real
    // but its count depends on timing).
    const [socketA, socketB] = await Promise.all([a.socket(), b.socket()])
    const lostRaces = [...socketA.errors, ...socketB.errors].filter((m) => m.startsWith('Invalid parent event number'))
    t.diagnostic(`pushes that lost the race and were rebased: ${lostRaces.length}`)
    const rows = await sameTodos(a, b, 'after concurrent bursts')
    assert.equal(rows.length, 2 * perClient)
    assert.deepEqual(
      rows.filter((r) => r.completed).map((r) => r.id),
      completed.sort(),
    )

    {
      const stored = serverEvents(services.syncDbPath, user.instanceId)
      assert.equal(stored.length, total, 'the server stored every event once')
      stored.forEach((e, i) => {
        assert.equal(e.seq_num, i + 1)
        assert.equal(e.parent_seq_num, i)
      })
    }
  }),
)
