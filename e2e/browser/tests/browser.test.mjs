// Browser path, end to end: Debian's chromium runs the demo app (web/dist, served
// by the sync-worker) against the real auth-worker and sync-worker binaries.
//
// Phase A, REQUIRE_AUTH=false: sign up on device 1, add a todo, see it on device 2
// (a second browser profile that logs in as the same user, so the todo can only
// arrive through the sync-worker), live edits both ways, a second tab sharing the
// session, access-token refresh with rotation, reload from OPFS, edit and delete.
// Phase B, the sync-worker restarted with REQUIRE_AUTH=true on the same database:
// log in on device 3, the JWT opens the socket and the todos come back; log out;
// the socket is then refused with 401 and carries no event.
// Workspaces, roles, revocation and the sync badge: workspaces.test.mjs.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'

import { pulledEvents, pushRequests, syncParams } from '../lib/browser.mjs'
import {
  ACCESS_TOKEN_TTL_SECONDS,
  byTestId,
  defaultInstanceId,
  expectStoreOnline,
  framesOf,
  makeHarness,
  storedSession,
  submitCredentials as submit,
  syncSocketOf,
  todoItem,
  todoTexts,
  waitUntil,
} from '../lib/harness.mjs'
import { tryUpgrade } from '../lib/upgrade.mjs'
import { ensureWebDist } from '../lib/web-dist.mjs'

const harness = makeHarness('browser-e2e-')
const { step, work, screenshotDir, devices } = harness

const email = `browser-${Date.now()}@example.com`
const password = 'Corr3ct-Horse-Battery!'
const todo1 = `buy oat milk ${randomBytes(3).toString('hex')}`
const todo2 = `answer mail ${randomBytes(3).toString('hex')}`
const todo3 = `call the plumber ${randomBytes(3).toString('hex')}`
const todo3b = `call the plumber before noon ${randomBytes(3).toString('hex')}`

const appUrl = (sync, auth) => `${sync.url}/?auth=${encodeURIComponent(auth.url)}`
const submitCredentials = (page, form) => submit(page, form, email, password)
const launchDevice = (label) => harness.launchDevice(label)
const newTab = (device, name) => harness.newTab(device, name)

describe('browser: demo app on sync-worker + auth-worker in chromium', () => {
  let auth
  let sync
  let staticDir
  const state = {}

  before(async () => {
    staticDir = ensureWebDist()
    auth = await harness.startAuth()
    sync = await harness.startSync({ staticDir, requireAuth: false })
    console.log(`work dir ${work}; auth ${auth.url}; sync ${sync.url} (REQUIRE_AUTH=false)`)
  })

  after(() => harness.cleanup())

  step('signs up in tab 1; the page opens the user store and its sync socket carries the JWT', async () => {
    const device = await launchDevice('device1')
    state.device1 = device
    const { page, sockets } = await newTab(device, 'device1-tab1')
    state.tab1 = page
    state.sockets1 = sockets
    await page.goto(appUrl(sync, auth))
    await byTestId(page, 'auth-view').waitFor()
    await submitCredentials(page, 'signup')
    await expectStoreOnline(page)

    const session = await storedSession(page)
    assert.ok(session?.accessToken && session.refreshToken, 'the page keeps both tokens in localStorage')
    state.firstSession = session
    state.storeId = defaultInstanceId(session)

    const socket = await syncSocketOf(sockets, state.storeId)
    const { payload } = syncParams(socket.url)
    assert.equal(payload.instanceId, state.storeId)
    assert.equal(payload.authToken, session.accessToken, 'the sync payload carries the access token')
    state.socket1 = socket
  })

  step('adds a todo in tab 1; the sync-worker acknowledges the push', async () => {
    const page = state.tab1
    await byTestId(page, 'todo-input').fill(todo1)
    await byTestId(page, 'todo-add').click()
    await todoItem(page, todo1).waitFor()

    const push = await waitUntil('a SyncWsRpc.Push request carrying the new todo', () =>
      pushRequests(framesOf(state.socket1.sent)).find((frame) =>
        frame.payload.batch.some((event) => event.name === 'v1.TodoCreated' && event.args.text === todo1),
      ),
    )
    await waitUntil('the successful Exit of that push', () =>
      framesOf(state.socket1.received).some(
        (frame) => frame._tag === 'Exit' && frame.requestId === push.id && frame.exit._tag === 'Success',
      ),
    )
  })

  step('device 2 (another browser profile) logs in as the same user and receives the todo from the server', async () => {
    const device = await launchDevice('device2')
    const { page, sockets } = await newTab(device, 'device2-tab1')
    state.tab2 = page
    state.sockets2 = sockets
    await page.goto(appUrl(sync, auth))
    await submitCredentials(page, 'login')
    await expectStoreOnline(page)
    await todoItem(page, todo1).waitFor()

    const socket = await syncSocketOf(sockets, state.storeId)
    const delivered = pulledEvents(framesOf(socket.received)).some((event) => event.args?.text === todo1)
    assert.ok(delivered, 'device 2 got the todo in a pull Chunk from the sync-worker (its profile shares no storage with device 1)')
  })

  step('edits flow live both ways: add on device 2, toggle on device 1', async () => {
    await byTestId(state.tab2, 'todo-input').fill(todo2)
    await byTestId(state.tab2, 'todo-add').click()
    await todoItem(state.tab1, todo2).waitFor()

    await todoItem(state.tab1, todo1).locator('[data-testid="todo-toggle"]').check()
    await state.tab2.locator('[data-testid="todo-item"][data-completed="true"]', { hasText: todo1 }).waitFor()
    assert.equal(await todoItem(state.tab2, todo2).getAttribute('data-completed'), 'false')
  })

  step('a second tab on device 1 shares the session and the store without logging in', async () => {
    const { page } = await newTab(state.device1, 'device1-tab2')
    state.tab1b = page
    await page.goto(appUrl(sync, auth))
    await byTestId(page, 'app-view').waitFor()
    assert.equal(await byTestId(page, 'user-email').textContent(), email)
    await page.locator('[data-testid="store-status"][data-state="ready"]').waitFor()
    await todoItem(page, todo2).waitFor()
    assert.deepEqual((await todoTexts(page)).sort(), [todo1, todo2].sort())
  })

  step('the access token is refreshed before expiry with rotation, once for all tabs', async () => {
    const first = state.firstSession
    const timeoutMs = 3 * ACCESS_TOKEN_TTL_SECONDS * 1000
    await waitUntil(
      'two refreshes shown in tab 1',
      async () => Number(await byTestId(state.tab1, 'token-refresh-count').textContent()) >= 2,
      timeoutMs,
    )
    const session = await storedSession(state.tab1)
    assert.notEqual(session.refreshToken, first.refreshToken, 'the refresh token was rotated')
    assert.notEqual(session.accessToken, first.accessToken)

    // Both tabs kept the session: had both spent the same refresh token, the reuse
    // would have revoked the session and logged them out.
    for (const page of [state.tab1, state.tab1b]) {
      assert.equal(await page.evaluate(() => document.body.dataset.view), 'app')
    }
    const count1b = await byTestId(state.tab1b, 'token-refresh-count').textContent()
    assert.ok(Number(count1b) >= 2, `tab 2 follows the refreshed session (shows ${count1b})`)

    const me = await fetch(`${auth.url}/me`, { headers: { Authorization: `Bearer ${session.accessToken}` } })
    assert.equal(me.status, 200, 'the refreshed access token is accepted by /me')
    assert.equal((await me.json()).user.email, email)
  })

  step('reloading tab 1 keeps the session and restores the todos', async () => {
    await state.tab1.reload()
    await expectStoreOnline(state.tab1)
    await todoItem(state.tab1, todo2).waitFor()
    assert.deepEqual((await todoTexts(state.tab1)).sort(), [todo1, todo2].sort())
    await state.tab1.screenshot({ path: join(screenshotDir, 'device1-tab1-synced.png') })
  })

  step('a todo is edited on one device and deleted on the other; both changes sync', async () => {
    await byTestId(state.tab1, 'todo-input').fill(todo3)
    await byTestId(state.tab1, 'todo-add').click()
    await todoItem(state.tab2, todo3).waitFor()

    await todoItem(state.tab2, todo3).locator('[data-testid="todo-edit"]').click()
    await byTestId(state.tab2, 'todo-edit-input').fill(todo3b)
    await byTestId(state.tab2, 'todo-edit-save').click()
    await todoItem(state.tab1, todo3b).waitFor()
    const socket2 = await syncSocketOf(state.sockets2, state.storeId)
    await waitUntil('the edit as a v1.TodoTextChanged push from device 2', () =>
      pushRequests(framesOf(socket2.sent)).some((frame) =>
        frame.payload.batch.some((event) => event.name === 'v1.TodoTextChanged' && event.args.text === todo3b),
      ),
    )

    await todoItem(state.tab1, todo3b).locator('[data-testid="todo-delete"]').click()
    await waitUntil('the deleted todo to leave device 2', async () => (await todoItem(state.tab2, todo3b).count()) === 0)
    assert.deepEqual((await todoTexts(state.tab2)).sort(), [todo1, todo2].sort(), 'only the deleted todo went away')
    assert.deepEqual((await todoTexts(state.tab1)).sort(), [todo1, todo2].sort())
  })

  step('REQUIRE_AUTH=true: a fresh JWT opens the socket and the todos come back from the database', async () => {
    for (const device of devices.splice(0)) await device.context.close()
    await harness.stopService(sync)
    // AUTH_URL: the sync-worker follows auth's change feed, so the logout below reaches it.
    sync = await harness.startSync({ staticDir, requireAuth: true, authUrl: auth.url })
    console.log(`sync-worker restarted on ${sync.url} with REQUIRE_AUTH=true, same database`)

    const device = await launchDevice('device3')
    const { page, sockets } = await newTab(device, 'device3-tab1')
    state.tab3 = page
    state.sockets3 = sockets
    await page.goto(appUrl(sync, auth))
    await submitCredentials(page, 'login')
    await expectStoreOnline(page)
    await todoItem(page, todo1).waitFor()
    await todoItem(page, todo2).waitFor()

    const session = await storedSession(page)
    state.session3 = session
    const socket = await syncSocketOf(sockets, state.storeId)
    assert.equal(syncParams(socket.url).payload.authToken, session.accessToken)
  })

  step('logging out shuts the store down, closes the socket and revokes the session', async () => {
    const page = state.tab3
    await byTestId(page, 'logout-button').click()
    await byTestId(page, 'auth-view').waitFor()
    assert.equal(await storedSession(page), null, 'tokens are gone from localStorage')
    await page.locator('[data-testid="store-status"][data-state="closed"]').waitFor({ state: 'attached' })
    await waitUntil('every sync socket of the page to close', () => state.sockets3.every((socket) => socket.closed))

    const refresh = await fetch(`${auth.url}/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: state.session3.refreshToken }),
    })
    assert.equal(refresh.status, 401, 'the logged-out refresh token is dead')
  })

  step('after logout the sync socket is refused with 401 and no event arrives', async () => {
    const page = state.tab3
    const storeId = state.storeId
    // What the logged-out page holds now: its store id and no token.
    const payload = { instanceId: storeId }
    const before = state.sockets3.length
    const outcome = await page.evaluate(
      ({ storeId, payload }) =>
        new Promise((resolve) => {
          const query = new URLSearchParams({ storeId, payload: encodeURIComponent(JSON.stringify(payload)), transport: 'ws' })
          const socket = new WebSocket(`ws://${location.host}/?${query}`)
          let messages = 0
          socket.onmessage = () => (messages += 1)
          socket.onopen = () => resolve({ opened: true, messages })
          socket.onclose = (event) => resolve({ opened: false, code: event.code, messages })
        }),
      { storeId, payload },
    )
    assert.deepEqual(outcome, { opened: false, code: 1006, messages: 0 }, 'the handshake fails and nothing is received')
    const refused = await waitUntil('the refused socket in the page record', () =>
      state.sockets3.slice(before).find((socket) => socket.errors.length > 0),
    )
    assert.equal(refused.received.length, 0)
    // Chromium's wording for a 401 answer to the handshake.
    assert.match(refused.errors.join(' '), /HTTP Authentication failed|401/)

    const anonymous = await tryUpgrade(sync.url, storeId, payload)
    assert.equal(anonymous.status, 401)
    assert.equal(JSON.parse(anonymous.body).code, 'TOKEN_MISSING')

    const withRefreshToken = await tryUpgrade(sync.url, storeId, { instanceId: storeId, authToken: state.session3.refreshToken })
    assert.equal(withRefreshToken.status, 401, 'a refresh token is never an access token')
    assert.equal(JSON.parse(withRefreshToken.body).code, 'TOKEN_INVALID')

    // The refusals are about the token: a fresh login's JWT is still let in.
    const login = await fetch(`${auth.url}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    assert.equal(login.status, 200)
    const { accessToken } = await login.json()
    const fresh = await tryUpgrade(sync.url, storeId, { instanceId: storeId, authToken: accessToken })
    assert.equal(fresh.status, 101)
  })
})
