// What the 0.4 scenarios share: how to open a 0.4 (or 0.3.1) store process through the
// common scenario glue in e2e/livestore/lib, concurrent bursts, and the convergence checks.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

import { waitUntil } from '../../livestore/lib/wait.mjs'

/** The LiveStore 0.4.0 client script (e2e/v04/lib/client.mjs). */
export const CLIENT_0_4 = fileURLToPath(new URL('./client.mjs', import.meta.url))

/** `open()` options for a 0.4 client over `transport` ('ws' or 'http'). */
export const v04 = (transport = 'ws') => ({ clientScript: CLIENT_0_4, transport })

/** `open()` options for the 0.3.1 client (e2e/livestore/lib/client.mjs). */
export const v031 = () => ({})

/** The sync payload the app gives `createStorePromise`: the instance id and the access token. */
export const payloadOf = (user, authToken = user.accessToken) => ({ instanceId: user.instanceId, authToken })

/**
 * `rounds` rounds in which every client in `clients` commits one todo
 * (`<name>-<tag><round>`) at the same instant, so all of them push on the same head: one
 * wins, the others get ServerAheadError, pull the winner's event, rebase and push again.
 * Each round waits until all clients converged (on `known` + the new ids, `completed`,
 * at `head` + the new events) before the next. Returns the new ids.
 *
 * Lockstep on purpose: with free-running bursts (each client committing a new event every
 * few milliseconds while its earlier ones are being rebased), the 0.4.0 client was seen to
 * fail its own rebase (README, "Notes on the 0.4.0 client").
 */
export async function lockstepRounds(clients, { rounds, tag = 'r', known = [], completed = [], head = known.length, timeoutMs }) {
  const ids = [...known]
  for (let round = 1; round <= rounds; round++) {
    const batch = clients.map((c) => `${c.name.toLowerCase()}-${tag}${round}`)
    await Promise.all(clients.map((c, i) => c.create(batch[i], `${c.name} ${tag}${round}`)))
    ids.push(...batch)
    await expectConverged(clients, { ids, completed, head: head + ids.length - known.length, timeoutMs })
  }
  return ids.slice(known.length)
}

/** The number of pushes answered with ServerAheadError across `clients`. */
export const serverAheadCount = async (clients) =>
  (await Promise.all(clients.map((c) => c.socket()))).reduce((sum, s) => sum + s.serverAhead, 0)

/**
 * Waits until every client shows `ids` (with `completed` done), has nothing pending and
 * is at the confirmed head `head`; then checks that all hold the same rows. Returns them.
 */
export async function expectConverged(clients, { ids, completed = [], head, timeoutMs = 30_000 }) {
  await Promise.all(clients.map((c) => c.waitTodos(ids, { completed, timeoutMs })))
  await Promise.all(clients.map((c) => c.waitSettled(`${c.name} settled`, timeoutMs)))
  await waitUntil(
    `every client at the confirmed head ${head}`,
    () => Promise.all(clients.map((c) => c.syncState())),
    (states) => states.every((s) => s.leader.upstreamHead === head),
    { timeoutMs },
  )
  const rows = await Promise.all(clients.map((c) => c.todos()))
  for (let i = 1; i < rows.length; i++) {
    assert.deepEqual(rows[i], rows[0], `${clients[i].name} and ${clients[0].name} differ`)
  }
  assert.deepEqual(
    rows[0].map((r) => r.id),
    [...ids].sort(),
    'the converged rows are exactly the committed todos',
  )
  assert.deepEqual(
    rows[0].filter((r) => r.completed).map((r) => r.id),
    [...completed].sort(),
  )
  return rows[0]
}

/**
 * The server's events of a store form one chain 1..`count` (each once, each parent the
 * previous event), pushed as `userId` when given. Returns the stored rows.
 */
export function expectServerChain(stored, { count, userId }) {
  assert.equal(stored.length, count, `the server stored ${count} events, each once`)
  stored.forEach((e, i) => {
    assert.equal(Number(e.seq_num), i + 1, 'contiguous sequence numbers')
    assert.equal(Number(e.parent_seq_num), i, 'each parent is the previous event')
  })
  if (userId !== undefined) assert.ok(stored.every((e) => e.pushed_by === userId), 'every event was pushed as the JWT user')
  return stored
}

/** The todo ids of stored events (creations only). */
export const storedTodoIds = (stored) =>
  stored.filter((e) => e.name === 'v1.TodoCreated').map((e) => JSON.parse(e.args).id)
