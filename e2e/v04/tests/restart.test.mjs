// sync-worker is SIGKILLed while a 0.4 client is committing, stays down while both
// clients keep committing offline, and comes back on the same database:
// the clients reconnect (0.4 pulls again from its cursor and re-sends what was
// unconfirmed), converge, and the server holds every event once.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { waitUntil } from '../../livestore/lib/wait.mjs'
import { setTimeout as sleep } from 'node:timers/promises'

import { expectConverged, expectServerChain, lockstepRounds, payloadOf, storedTodoIds, v04 } from '../lib/v04.mjs'

test(
  '0.4 ws: sync-worker killed mid-run and restarted; clients reconnect and converge, nothing is lost',
  scenario('v04-restart', { requireAuth: true }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'v04-restart')
    const storeId = user.instanceId
    const [a, b] = await Promise.all(['A', 'B'].map((name) => open(name, { storeId, syncPayload: payloadOf(user), ...v04('ws') })))
    await Promise.all([a.waitConnected(), b.waitConnected()])

    const before = await lockstepRounds([a, b], { rounds: 2, tag: 'pre' })
    const storedBefore = services.storedEvents(storeId)
    assert.equal(storedBefore.length, before.length)

    // Mid-run: A keeps committing (one todo every 100 ms) while the server is killed and
    // stays down; B commits while the server is down. (Only one writer while the server is
    // up: see "Notes on the 0.4.0 client" in e2e/README.md.)
    const ids = [...before]
    let writing = true
    const writerA = (async () => {
      for (let i = 0; writing; i++) {
        const id = `a-run${String(i).padStart(2, '0')}`
        await a.create(id)
        ids.push(id)
        await sleep(100)
      }
    })()
    await waitUntil('the server to store some of the mid-run commits', () => services.storedEvents(storeId).length, (n) => n >= before.length + 3)
    const killed = await services.sync.kill('SIGKILL')
    assert.equal(killed.signal, 'SIGKILL')
    await Promise.all(
      [a, b].map((c) => waitUntil(`${c.name} to notice the dead server`, () => c.socket(), (s) => !s.open, { timeoutMs: 15_000 })),
    )
    for (let i = 0; i < 3; i++) {
      await b.create(`b-off${i}`)
      ids.push(`b-off${i}`)
    }
    await sleep(500)
    writing = false
    await writerA
    const storedAtCrash = services.storedEvents(storeId).length
    assert.ok(storedAtCrash < ids.length, 'some commits were made while the server was down')

    // Back on the same database: both reconnect and push what they hold on the same head,
    // so one of them is told ServerAheadError and rebases its offline events.
    const restartedAt = Date.now()
    await services.sync.start()
    await Promise.all([a.waitConnected(2, 40_000), b.waitConnected(2, 40_000)])
    t.diagnostic(`both clients reconnected ${Date.now() - restartedAt} ms after the restart`)
    await expectConverged([a, b], { ids, head: ids.length, timeoutMs: 40_000 })
    ids.push(...(await lockstepRounds([a, b], { rounds: 1, tag: 'post', known: ids })))
    t.diagnostic(`${storedAtCrash} events stored before the kill, ${ids.length} in all`)

    const total = ids.length
    const stored = expectServerChain(services.storedEvents(storeId), { count: total, userId: user.userId })
    assert.deepEqual(stored.slice(0, storedBefore.length), storedBefore, 'events stored before the crash are unchanged')
    assert.deepEqual(storedTodoIds(stored).sort(), [...ids].sort(), 'every committed todo is on the server once')

    // A brand-new 0.4 client pulls exactly the converged state.
    const c = await open('C', { storeId, syncPayload: payloadOf(user), ...v04('ws') })
    await expectConverged([a, b, c], { ids, head: total })
  }),
)
