// REQUIRE_AUTH=true: what the sync payload's token decides, seen from real clients.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import { INSECURE_DEV_TOKEN, mintAccessToken, mintForeignToken, sessionIdOf, signUp } from './lib/auth.mjs'
import { scenario, serverEvents } from './lib/scenario.mjs'

/** How long rejected clients are watched while valid clients' events flow. */
const REJECTION_WINDOW_MS = 4_000

test(
  'REQUIRE_AUTH=true: the insecure dev token and a foreign-secret JWT never receive an event; a fresh JWT does',
  scenario('require-auth', { requireAuth: true }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'strict')
    const storeId = user.instanceId
    const withToken = (authToken) => ({ instanceId: user.instanceId, authToken })

    const foreignToken = await mintForeignToken(user)
    const [v1, v2, legacy, foreign] = await Promise.all([
      open('V1', { storeId, syncPayload: withToken(user.accessToken) }),
      open('V2', { storeId, syncPayload: withToken(user.accessToken) }),
      open('Legacy', { storeId, syncPayload: withToken(INSECURE_DEV_TOKEN) }),
      open('Foreign', { storeId, syncPayload: withToken(foreignToken) }),
    ])

    // The rejected clients write locally; none of it may reach the server.
    await legacy.create('legacy-1', 'must stay local')
    await foreign.create('foreign-1', 'must stay local')

    const watchStart = Date.now()
    const validIds = []
    for (let i = 1; i <= 5; i++) {
      validIds.push(`v${i}`)
      await v1.create(`v${i}`, `valid #${i}`)
    }
    await v2.waitTodos(validIds)
    await v2.create('v2-1', 'from V2')
    validIds.push('v2-1')
    await v1.waitTodos(validIds)
    await Promise.all([v1.waitSettled(), v2.waitSettled()])

    // Keep watching for the rest of the window: events are flowing, the rejected see none.
    const remaining = REJECTION_WINDOW_MS - (Date.now() - watchStart)
    if (remaining > 0) await sleep(remaining)

    for (const rejected of [legacy, foreign]) {
      const own = rejected === legacy ? 'legacy-1' : 'foreign-1'
      const rows = await rejected.todos()
      assert.deepEqual(rows.map((r) => r.id), [own], `${rejected.name} sees only its own local todo`)
      const socket = await rejected.socket()
      assert.ok(socket.attempts >= 1, `${rejected.name} did try to connect`)
      assert.equal(socket.opened, 0, `${rejected.name} never had an open socket`)
      assert.equal(socket.eventsReceived, 0, `${rejected.name} never received an event`)
      const state = await rejected.syncState()
      assert.equal(state.leader.upstreamHead, 0, `${rejected.name} never got anything confirmed`)
      assert.equal(state.leader.pending, 1, `${rejected.name} still holds its event unpushed`)
    }
    t.diagnostic(`rejected clients watched for ${Date.now() - watchStart} ms`)

    for (const valid of [v1, v2]) {
      const rows = await valid.todos()
      assert.deepEqual(rows.map((r) => r.id).sort(), [...validIds].sort(), `${valid.name} has exactly the valid todos`)
    }
    {
      const stored = serverEvents(services.syncDbPath, storeId)
      assert.equal(stored.length, validIds.length)
      assert.ok(stored.every((e) => e.pushed_by === user.userId), 'every stored event was pushed as the JWT user')
      assert.ok(stored.every((e) => !/legacy-1|foreign-1/.test(e.args)), 'nothing from the rejected clients was stored')
    }
  }),
)

test(
  'REQUIRE_AUTH=true: a client whose access token expired a minute ago still syncs (grace period)',
  scenario('grace', { requireAuth: true }, async ({ services, open }) => {
    const user = await signUp(services.auth.url, 'grace')
    const storeId = user.instanceId
    const expired = await mintAccessToken({
      secret: services.jwtSecret,
      userId: user.userId,
      email: user.email,
      sid: sessionIdOf(user.accessToken),
      expiresInSeconds: -60,
      mem: { [storeId]: 'owner' },
    })
    const [fresh, late] = await Promise.all([
      open('Fresh', { storeId, syncPayload: { instanceId: user.instanceId, authToken: user.accessToken } }),
      open('Expired', { storeId, syncPayload: { instanceId: user.instanceId, authToken: expired } }),
    ])

    await late.create('e1', 'from the expired-token client')
    await fresh.waitTodos(['e1'])
    await fresh.create('f1', 'from the fresh-token client')
    await late.waitTodos(['e1', 'f1'])
    const [stateLate, stateFresh] = await Promise.all([late.waitSettled(), fresh.waitSettled()])
    assert.equal(stateLate.leader.upstreamHead, 2)
    assert.equal(stateFresh.leader.upstreamHead, 2)
    const socket = await late.socket()
    assert.ok(socket.opened >= 1 && socket.eventsReceived >= 2, 'the expired-token client had an open socket and got events')

    {
      const stored = serverEvents(services.syncDbPath, storeId)
      assert.deepEqual(
        stored.map((e) => [e.client_id, e.pushed_by]),
        [
          [late.clientId, user.userId],
          [fresh.clientId, user.userId],
        ],
        'the grace-period client acts as the token subject',
      )
    }
  }),
)
