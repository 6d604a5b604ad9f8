// Workspaces in the browser, with REQUIRE_AUTH=true and the sync-worker following
// the auth change feed (AUTH_URL): errors by their forms, create a workspace,
// invite by email as editor (before signup) and as viewer (a logged-in user, who
// sees it after a token refresh), a viewer cannot add and nothing reaches the
// server, role changes followed by the member's page, a removed member's app stops syncing and says so, leave (and the last
// owner cannot), then the sync badge and the offline start: the sync-worker
// stopped reads "unreachable" (never "refused"), the app reloads from the service
// worker's cache, a todo made offline carries a pending mark until the restarted
// server confirms it (after a detour through a server with another JWT secret, which
// reads "refused by auth"); finally a revoked session's socket closes and the app logs out.
//
// The app is served from a copy of web/dist holding a config.json that names the
// auth service, and opened without ?auth=, so this file also checks that the app
// finds auth through /config.json.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'

import { isSyncSocketUrl, pushRequests, syncParams } from '../lib/browser.mjs'
import {
  ACCESS_TOKEN_TTL_SECONDS,
  byTestId,
  expectStoreOnline,
  framesOf,
  makeHarness,
  storedSession,
  submitCredentials,
  syncSocketOf,
  todoItem,
  waitUntil,
} from '../lib/harness.mjs'
import { ensureWebDist } from '../lib/web-dist.mjs'

const harness = makeHarness('browser-ws-e2e-')
const { step, work } = harness

const tag = () => randomBytes(3).toString('hex')
const stamp = Date.now()
const password = 'Corr3ct-Horse-Battery!'
const alice = `alice-${stamp}@example.com`
const bob = `bob-${stamp}@example.com`
const carol = `carol-${stamp}@example.com`
const teamName = `Team ${tag()}`
const teamTodo1 = `plan the offsite ${tag()}`
const teamTodo2 = `book the room ${tag()}`
const teamTodo3 = `after bob left ${tag()}`
const viewerTodo = `a viewer's todo ${tag()}`
const offlineTodo = `written offline ${tag()}`

const select = (page) => byTestId(page, 'workspace-select')
const memberItem = (page, email) => page.locator(`[data-testid="member-item"][data-email="${email}"]`)
const syncState = (page) => byTestId(page, 'sync-status').getAttribute('data-state')
const hasOption = (page, instanceId) => page.locator(`[data-testid="workspace-select"] option[value="${instanceId}"]`).count().then((n) => n > 0)

/** The store's events as the sync-worker holds them (members-only events endpoint). */
const serverEvents = async (sync, storeId, accessToken) => {
  const response = await fetch(`${sync.url}/stores/${encodeURIComponent(storeId)}/events?limit=1000`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  })
  assert.equal(response.status, 200, `events of ${storeId}: HTTP ${response.status}`)
  return (await response.json()).events
}

const pushesFor = (sockets, storeId) =>
  sockets
    .filter((socket) => isSyncSocketUrl(socket.url) && syncParams(socket.url).storeId === storeId)
    .flatMap((socket) => pushRequests(framesOf(socket.sent)))

describe('browser: workspaces, roles, revocation and the sync badge', () => {
  let auth
  let sync
  let staticDir
  const state = {}

  before(async () => {
    const dist = ensureWebDist()
    auth = await harness.startAuth()
    // A copy of the app whose /config.json names the auth service (what a deployment,
    // or a sync-worker that serves /config.json itself, provides).
    staticDir = join(work, 'dist')
    cpSync(dist, staticDir, { recursive: true })
    writeFileSync(join(staticDir, 'config.json'), JSON.stringify({ authUrl: auth.url }))
    sync = await harness.startSync({ staticDir, requireAuth: true, authUrl: auth.url })
    console.log(`work dir ${work}; auth ${auth.url}; sync ${sync.url} (REQUIRE_AUTH=true, AUTH_URL set)`)
  })

  after(() => harness.cleanup())

  step('the app finds auth through /config.json; form errors show next to their form, in words', async () => {
    const device = await harness.launchDevice('carol')
    const { page, sockets } = await harness.newTab(device, 'carol')
    Object.assign(state, { carol: page, carolSockets: sockets })
    await page.goto(`${sync.url}/`)
    await byTestId(page, 'auth-view').waitFor()
    assert.equal(await page.locator('#auth-base').textContent(), auth.url, 'auth base from /config.json')

    await byTestId(page, 'signup-email').fill(carol)
    await byTestId(page, 'signup-password').fill('password')
    await byTestId(page, 'signup-submit').click()
    const signupError = byTestId(page, 'signup-error')
    await signupError.waitFor()
    assert.equal(await signupError.getAttribute('data-code'), 'WEAK_PASSWORD')
    assert.match(await signupError.textContent(), /stronger password/)
    assert.doesNotMatch(await signupError.textContent(), /WEAK_PASSWORD/, 'words, not codes')
    assert.ok(await byTestId(page, 'login-error').isHidden(), 'the other form shows nothing')

    await byTestId(page, 'login-email').fill(carol)
    await byTestId(page, 'login-password').fill(password)
    await byTestId(page, 'login-submit').click()
    const loginError = byTestId(page, 'login-error')
    await loginError.waitFor()
    assert.match(await loginError.textContent(), /do not match an account/)
    assert.doesNotMatch(await loginError.textContent(), /INVALID_CREDENTIALS/)

    await submitCredentials(page, 'signup', carol, password)
    await expectStoreOnline(page)
  })

  step('alice creates a workspace; the app switches to it and syncs its store', async () => {
    const device = await harness.launchDevice('alice')
    const { page, sockets } = await harness.newTab(device, 'alice')
    Object.assign(state, { alice: page, aliceDevice: device, aliceSockets: sockets })
    await page.goto(`${sync.url}/`)
    await submitCredentials(page, 'signup', alice, password)
    await expectStoreOnline(page)

    await byTestId(page, 'workspace-create-name').fill(teamName)
    await byTestId(page, 'workspace-create-submit').click()
    await waitUntil('the new workspace selected', async () => (await select(page).locator('option:checked').textContent())?.includes(teamName))
    state.teamId = await select(page).inputValue()
    assert.equal(await byTestId(page, 'workspace-role').textContent(), 'owner')
    await expectStoreOnline(page)
    await memberItem(page, alice).waitFor()

    const socket = await syncSocketOf(sockets, state.teamId)
    const { payload } = syncParams(socket.url)
    assert.equal(payload.instanceId, state.teamId)
    const mem = JSON.parse(Buffer.from(payload.authToken.split('.')[1], 'base64url')).mem
    assert.equal(mem[state.teamId], 'owner', 'the store opened with a token that carries the new membership')

    await byTestId(page, 'todo-input').fill(teamTodo1)
    await byTestId(page, 'todo-add').click()
    await todoItem(page, teamTodo1).waitFor()
    await waitUntil('the team todo on the server', async () =>
      (await serverEvents(sync, state.teamId, (await storedSession(page)).accessToken)).some((event) => event.args?.text === teamTodo1),
    )
  })

  step('alice invites bob (no account yet) as editor and carol as viewer', async () => {
    const page = state.alice
    for (const [email, role] of [
      [bob, 'editor'],
      [carol, 'viewer'],
    ]) {
      await byTestId(page, 'invite-email').fill(email)
      await byTestId(page, 'invite-role').selectOption(role)
      await byTestId(page, 'invite-submit').click()
      await waitUntil(`the invite notice for ${email}`, async () => (await byTestId(page, 'invite-notice').textContent())?.includes(email))
    }
    await memberItem(page, carol).waitFor()
    assert.equal(await memberItem(page, carol).getAttribute('data-role'), 'viewer')
  })

  step('bob signs up, finds the workspace, sees its todos and adds one that alice sees live', async () => {
    const device = await harness.launchDevice('bob')
    const { page, sockets } = await harness.newTab(device, 'bob')
    Object.assign(state, { bob: page, bobSockets: sockets })
    await page.goto(`${sync.url}/`)
    await submitCredentials(page, 'signup', bob, password)
    await expectStoreOnline(page)
    await waitUntil('the invited workspace in bob\'s switcher', () => hasOption(page, state.teamId))
    await select(page).selectOption(state.teamId)
    await expectStoreOnline(page)
    assert.equal(await byTestId(page, 'workspace-role').textContent(), 'editor')
    await todoItem(page, teamTodo1).waitFor()

    await byTestId(page, 'todo-input').fill(teamTodo2)
    await byTestId(page, 'todo-add').click()
    await todoItem(state.alice, teamTodo2).waitFor()
  })

  step('carol, logged in before the invite, sees the workspace after a token refresh: read-only, nothing reaches the server', async () => {
    const page = state.carol
    await waitUntil('the workspace in carol\'s switcher after a refresh', () => hasOption(page, state.teamId), 3 * ACCESS_TOKEN_TTL_SECONDS * 1000)
    await select(page).selectOption(state.teamId)
    await expectStoreOnline(page)
    await todoItem(page, teamTodo2).waitFor()
    assert.equal(await byTestId(page, 'workspace-role').textContent(), 'viewer')

    const note = byTestId(page, 'todo-readonly')
    await note.waitFor()
    assert.match(await note.textContent(), /viewer .*cannot|can see its todos but not add/)
    assert.ok(await byTestId(page, 'todo-input').isDisabled(), 'the input is disabled')
    assert.ok(await byTestId(page, 'todo-add').isDisabled(), 'the add button is disabled')
    assert.equal(await byTestId(page, 'todo-edit').count(), 0, 'no edit buttons')
    assert.equal(await byTestId(page, 'todo-delete').count(), 0, 'no delete buttons')
    assert.ok(await todoItem(page, teamTodo1).locator('[data-testid="todo-toggle"]').isDisabled())

    // Even a submit forced past the disabled controls commits nothing.
    const before = (await serverEvents(sync, state.teamId, (await storedSession(state.alice)).accessToken)).length
    await page.evaluate((text) => {
      const input = document.querySelector('[data-testid="todo-input"]')
      input.value = text
      document.querySelector('[data-testid="todo-form"]').requestSubmit()
    }, viewerTodo)
    await delay(1_500)
    assert.equal(await todoItem(page, viewerTodo).count(), 0, 'no local todo')
    assert.deepEqual(pushesFor(state.carolSockets, state.teamId), [], 'no push request on carol\'s sockets')
    const afterEvents = await serverEvents(sync, state.teamId, (await storedSession(state.alice)).accessToken)
    assert.equal(afterEvents.length, before, 'the server holds no new event')
  })

  step('alice makes carol an editor and a viewer again; carol\'s page follows after a token refresh', async () => {
    const waitMs = 3 * ACCESS_TOKEN_TTL_SECONDS * 1000
    for (const role of ['editor', 'viewer']) {
      await memberItem(state.alice, carol).locator('[data-testid="member-role"]').selectOption(role)
      await waitUntil(`carol listed as ${role}`, async () => (await memberItem(state.alice, carol).getAttribute('data-role')) === role)
      await waitUntil(`carol's page to show the role ${role}`, async () => (await byTestId(state.carol, 'workspace-role').textContent()) === role, waitMs)
      assert.equal(await byTestId(state.carol, 'todo-input').isDisabled(), role === 'viewer')
      assert.equal(await byTestId(state.carol, 'todo-readonly').isVisible(), role === 'viewer')
    }
  })

  step('alice removes bob: bob\'s app stops syncing the workspace and says so', async () => {
    const removedAt = state.bobSockets.length
    await memberItem(state.alice, bob).locator('[data-testid="member-remove"]').click()
    await waitUntil('bob gone from alice\'s member list', async () => (await memberItem(state.alice, bob).count()) === 0)

    const page = state.bob
    // The server closes bob's socket (4403, "access revoked"); LiveStore reconnects, the
    // upgrade is refused with 403 STORE_FORBIDDEN, and the app's probe tells it so.
    await waitUntil('bob\'s badge to read forbidden', async () => (await syncState(page)) === 'forbidden', 10_000)
    assert.match(await byTestId(page, 'sync-status').textContent(), /no access to this workspace/)
    assert.ok(
      harness.consoleOf('bob').some((line) => line.includes(`[demo] sync ${state.teamId}: revoked`) && line.includes('4403')),
      'the open socket was closed with 4403 first',
    )
    const notice = byTestId(page, 'workspace-notice')
    await notice.waitFor({ timeout: 10_000 })
    assert.match(await notice.textContent(), /removed from/)
    assert.match(await byTestId(page, 'todo-readonly').textContent(), /no longer a member/)
    assert.ok(await byTestId(page, 'todo-input').isDisabled())

    await byTestId(state.alice, 'todo-input').fill(teamTodo3)
    await byTestId(state.alice, 'todo-add').click()
    await waitUntil('alice\'s new todo on the server', async () =>
      (await serverEvents(sync, state.teamId, (await storedSession(state.alice)).accessToken)).some((event) => event.args?.text === teamTodo3),
    )
    await delay(2_000)
    assert.equal(await todoItem(page, teamTodo3).count(), 0, 'bob no longer receives the workspace\'s events')
    const later = state.bobSockets.slice(removedAt).filter((socket) => syncParams(socket.url).storeId === state.teamId)
    assert.ok(later.every((socket) => socket.received.length === 0), 'no socket of bob\'s for the workspace carried anything after the removal')
  })

  step('carol leaves the workspace; the last owner cannot', async () => {
    const page = state.carol
    await byTestId(page, 'leave-button').click()
    await waitUntil('the workspace gone from carol\'s switcher', async () => !(await hasOption(page, state.teamId)))
    await waitUntil('the "you left" message', async () => /You left/.test(await byTestId(page, 'message').textContent()))
    await expectStoreOnline(page)
    const members = await fetch(`${auth.url}/instances/${state.teamId}/members`, {
      headers: { Authorization: `Bearer ${(await storedSession(state.alice)).accessToken}` },
    }).then((response) => response.json())
    assert.deepEqual(members.members.map((member) => member.email), [alice], 'only alice is left')

    await byTestId(state.alice, 'leave-button').click()
    const error = byTestId(state.alice, 'leave-error')
    await error.waitFor()
    assert.equal(await error.getAttribute('data-code'), 'LAST_OWNER')
    assert.match(await error.textContent(), /at least one owner/)
    assert.equal(await select(state.alice).inputValue(), state.teamId, 'alice is still in the workspace')
  })

  step('sync-worker down: the badge says unreachable (not refused), the app reloads offline, an offline todo stays pending until the server confirms it', async () => {
    const page = state.alice
    const port = sync.port
    await harness.stopService(sync)
    const seen = new Set()
    await waitUntil(
      'alice\'s badge to read unreachable',
      async () => {
        const current = await syncState(page)
        seen.add(current)
        return current === 'unreachable'
      },
      20_000,
    )
    assert.ok(!seen.has('refused') && !seen.has('forbidden'), `never shown as a refusal (saw ${[...seen].join(', ')})`)
    assert.match(await byTestId(page, 'sync-status').textContent(), /unreachable/)

    await byTestId(page, 'todo-input').fill(offlineTodo)
    await byTestId(page, 'todo-add').click()
    await page.locator('[data-testid="todo-item"][data-pending="true"]', { hasText: offlineTodo }).waitFor()
    assert.equal(await todoItem(page, teamTodo1).getAttribute('data-pending'), 'false', 'confirmed todos carry no mark')

    await page.reload()
    await byTestId(page, 'app-view').waitFor()
    await page.locator('[data-testid="store-status"][data-state="ready"]').waitFor()
    await page.locator('[data-testid="todo-item"][data-pending="true"]', { hasText: offlineTodo }).waitFor()
    await todoItem(page, teamTodo2).waitFor()
    await waitUntil('the badge to read unreachable after the offline reload', async () => (await syncState(page)) === 'unreachable', 20_000)

    state.syncPort = port
  })

  step('a sync-worker that does not accept the token (another JWT secret): the badge says refused by auth', async () => {
    const page = state.alice
    sync = await harness.startSync({
      staticDir,
      requireAuth: true,
      authUrl: auth.url,
      port: state.syncPort,
      extraEnv: { JWT_SECRET: randomBytes(32).toString('hex') },
    })
    // LiveStore retries with exponentially growing pauses, so the next handshake can take a while.
    await page.locator('[data-testid="sync-status"][data-state="refused"]').waitFor({ timeout: 60_000 })
    assert.match(await byTestId(page, 'sync-status').textContent(), /refused by auth/)
    assert.match(await byTestId(page, 'sync-status').getAttribute('title'), /TOKEN_INVALID/)
    await harness.stopService(sync)
  })

  step('the sync-worker back with the right secret: online, the pending mark clears, the offline todo is on the server', async () => {
    const page = state.alice
    sync = await harness.startSync({ staticDir, requireAuth: true, authUrl: auth.url, port: state.syncPort })
    await page.locator('[data-testid="sync-status"][data-state="online"]').waitFor({ timeout: 80_000 })
    await page.locator('[data-testid="todo-item"][data-pending="false"]', { hasText: offlineTodo }).waitFor({ timeout: 20_000 })
    const events = await serverEvents(sync, state.teamId, (await storedSession(page)).accessToken)
    assert.ok(events.some((event) => event.args?.text === offlineTodo), 'the offline todo reached the server')
  })

  step('a revoked session (refresh-token reuse) closes the socket and the app asks to log in again', async () => {
    const page = state.alice
    const { refreshToken } = await storedSession(page)
    const refresh = () =>
      fetch(`${auth.url}/refresh`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken }) })
    // Spend the page's refresh token, then present it again: reuse revokes the whole session.
    await refresh()
    assert.equal((await refresh()).status, 401)
    await byTestId(page, 'auth-view').waitFor({ timeout: 15_000 })
    assert.match(await byTestId(page, 'message').textContent(), /session .*ended/i)
    assert.doesNotMatch(await byTestId(page, 'message').textContent(), /INVALID_TOKEN/)
    assert.ok(
      harness.consoleOf('alice').some((line) => line.includes(`[demo] sync ${state.teamId}: revoked`) && line.includes('4401')),
      'the server closed the open socket with 4401 (session revoked)',
    )
  })
})
