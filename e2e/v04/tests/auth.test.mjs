// REQUIRE_AUTH=true with 0.4 clients: a refused token never syncs. The server answers the
// upgrade (ws) or every POST (http) with 401 (bad token) or 403 (a valid token of a
// user who is not a member of the store) and nothing it sends reaches the store; the
// client keeps retrying and shows the app no error. Valid clients sync meanwhile.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import { INSECURE_DEV_TOKEN, mintForeignToken, signUp } from '../../livestore/lib/auth.mjs'
import { scenario } from '../../livestore/lib/scenario.mjs'
import { waitUntil } from '../../livestore/lib/wait.mjs'
import { expectConverged, expectServerChain, payloadOf, v04 } from '../lib/v04.mjs'

/** How long refused clients are watched while valid clients' events flow. */
const REJECTION_WINDOW_MS = 5_000

/** The 0.4 upgrade request the client sends, from node: resolves with `{ status, body }`. */
const tryUpgrade = (baseUrl, storeId, payload) =>
  new Promise((resolve, reject) => {
    const query = new URLSearchParams({ storeId, payload: encodeURIComponent(JSON.stringify(payload)), transport: 'ws' })
    const req = request(new URL(`/?${query}`, baseUrl), {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
      timeout: 10_000,
    })
    req.on('upgrade', (response, socket) => {
      socket.destroy()
      resolve({ status: response.statusCode, body: '' })
    })
    req.on('response', (response) => {
      let body = ''
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error('no answer to the upgrade')))
    req.on('error', reject)
    req.end()
  })

test(
  '0.4: clients with a refused token (ws and http) never sync and keep retrying; a JWT from auth-worker syncs',
  scenario('v04-auth', { requireAuth: true }, async ({ services, open, t }) => {
    const user = await signUp(services.auth.url, 'v04-auth')
    const storeId = user.instanceId
    const foreign = await mintForeignToken(user)
    // A valid JWT of another account, which is not a member of this store (workspace).
    const stranger = await signUp(services.auth.url, 'v04-stranger')

    // What the refused clients present is refused at the door, with the documented codes.
    for (const [token, code] of [
      [INSECURE_DEV_TOKEN, 'TOKEN_INVALID'],
      [foreign, 'TOKEN_INVALID'],
    ]) {
      const answer = await tryUpgrade(services.sync.url, storeId, payloadOf(user, token))
      assert.equal(answer.status, 401)
      assert.equal(JSON.parse(answer.body).code, code)
    }
    const notMember = await tryUpgrade(services.sync.url, storeId, payloadOf(user, stranger.accessToken))
    assert.equal(notMember.status, 403)
    assert.equal(JSON.parse(notMember.body).code, 'STORE_FORBIDDEN')
    assert.equal((await tryUpgrade(services.sync.url, storeId, payloadOf(user))).status, 101, 'the JWT from /signup is let in')

    // One after the other: five client processes booting at once can take long on a busy machine.
    const v1 = await open('V1', { storeId, syncPayload: payloadOf(user), ...v04('ws') })
    const v2 = await open('V2', { storeId, syncPayload: payloadOf(user), ...v04('http') })
    const legacyWs = await open('LegacyWs', { storeId, syncPayload: payloadOf(user, INSECURE_DEV_TOKEN), ...v04('ws') })
    const foreignWs = await open('ForeignWs', { storeId, syncPayload: payloadOf(user, foreign), ...v04('ws') })
    const foreignHttp = await open('ForeignHttp', { storeId, syncPayload: payloadOf(user, foreign), ...v04('http') })
    const strangerWs = await open('StrangerWs', { storeId, syncPayload: payloadOf(user, stranger.accessToken), ...v04('ws') })
    const refused = [legacyWs, foreignWs, foreignHttp, strangerWs]
    for (const client of refused) await client.create(`${client.name.toLowerCase()}-1`, 'must stay local')

    const watchStart = Date.now()
    const validIds = []
    for (let i = 1; i <= 4; i++) {
      validIds.push(`v${i}`)
      await v1.create(`v${i}`)
    }
    await v2.create('v2-1')
    validIds.push('v2-1')
    await expectConverged([v1, v2], { ids: validIds, head: validIds.length })
    const remaining = REJECTION_WINDOW_MS - (Date.now() - watchStart)
    if (remaining > 0) await sleep(remaining)

    for (const client of refused) {
      const own = `${client.name.toLowerCase()}-1`
      assert.deepEqual((await client.todos()).map((r) => r.id), [own], `${client.name} sees only its own local todo`)
      const observed = await waitUntil(`${client.name} to retry`, () => client.socket(), (s) => s.attempts >= 2, { timeoutMs: 10_000 })
      assert.equal(observed.opened, 0, `${client.name} never had an open socket`)
      assert.equal(observed.eventsReceived, 0, `${client.name} never received an event`)
      if (observed.transport === 'http') {
        assert.ok(observed.httpStatuses.length >= 2 && observed.httpStatuses.every((s) => s === 401), `${client.name}: every request got 401 (${observed.httpStatuses})`)
      }
      const state = await client.syncState()
      assert.equal(state.leader.upstreamHead, 0, `${client.name} never got anything confirmed`)
      assert.equal(state.leader.pending, 1, `${client.name} still holds its event unpushed`)
      t.diagnostic(`${client.name}: ${observed.attempts} attempts in ${Date.now() - watchStart} ms`)
    }

    const stored = expectServerChain(services.storedEvents(storeId), { count: validIds.length, userId: user.userId })
    assert.ok(stored.every((e) => !/legacyws-1|foreignws-1|foreignhttp-1|strangerws-1/.test(e.args)), 'nothing from the refused clients was stored')
  }),
)
