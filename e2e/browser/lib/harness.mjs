// What every browser test file shares: a temp work dir (databases, logs,
// screenshots, profiles), the services it starts, the devices (chromium profiles)
// and tabs it opens, steps that leave screenshots and console logs behind when
// they fail, bounded waits, and the page helpers keyed by the app's test ids.
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'

import { isSyncSocketUrl, launchDevice, recordSockets, syncParams } from './browser.mjs'
import { binaryPath, freePort, startService } from './services.mjs'

/** Short access tokens so the page's refresh runs during the test (it refreshes 20 % before exp). */
export const ACCESS_TOKEN_TTL_SECONDS = 12
export const SESSION_KEY = 'livestore-demo.session'
export const STEP_TIMEOUT_MS = 90_000

/** Polls `check` (which may return a promise) until it is truthy; fails naming `what`. */
export const waitUntil = async (what, check, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(100)
  }
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`)
export const storedSession = (page) => page.evaluate((key) => JSON.parse(localStorage.getItem(key) ?? 'null'), SESSION_KEY)
export const todoTexts = (page) => byTestId(page, 'todo-text').allTextContents()
export const todoItem = (page, text) => page.locator('[data-testid="todo-item"]', { hasText: text })
export const defaultInstanceId = (session) => session.user.instances.find((instance) => instance.isDefault).id
export const framesOf = (frames) => frames.map((frame) => JSON.parse(frame))

/** Waits until the page shows an open store whose sync socket is online. */
export const expectStoreOnline = async (page) => {
  await page.locator('[data-testid="store-status"][data-state="ready"]').waitFor()
  await page.locator('[data-testid="sync-status"][data-state="online"]').waitFor()
}

/** Fills and submits the signup or login form, and waits for the app view. */
export const submitCredentials = async (page, form, email, password) => {
  await byTestId(page, `${form}-email`).fill(email)
  await byTestId(page, `${form}-password`).fill(password)
  await byTestId(page, `${form}-submit`).click()
  await byTestId(page, 'app-view').waitFor()
  const shown = await byTestId(page, 'user-email').textContent()
  if (shown !== email) throw new Error(`the app shows ${shown}, expected ${email}`)
}

/** The sync socket the page's leader worker opened for `storeId` (the newest one). */
export const syncSocketOf = (sockets, storeId, timeoutMs) =>
  waitUntil(
    `a sync socket for store ${storeId}`,
    () => sockets.findLast((socket) => isSyncSocketUrl(socket.url) && syncParams(socket.url).storeId === storeId),
    timeoutMs,
  )

/** A fresh harness: one work dir, one JWT secret, and the bookkeeping for failure reports. */
export const makeHarness = (prefix) => {
  const work = mkdtempSync(join(tmpdir(), prefix))
  const logDir = join(work, 'logs')
  const screenshotDir = join(work, 'screenshots')
  mkdirSync(logDir)
  mkdirSync(screenshotDir)
  const jwtSecret = randomBytes(32).toString('hex')
  const services = []
  const devices = []
  const pages = new Map()
  const usedPages = new Set()
  const consoleLines = new Map()
  let failures = 0

  /** Screenshots every open page, writes each page's console, and prints the service log tails. */
  const recordFailure = async (stepName) => {
    failures += 1
    const slug = stepName.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
    for (const [name, page] of pages) {
      const lines = consoleLines.get(name) ?? []
      writeFileSync(join(logDir, `${name}.console.log`), lines.join('\n'))
      console.error(`--- ${name} console tail (all of it in ${name}.console.log) ---\n${lines.slice(-15).join('\n')}`)
      if (page.isClosed()) continue
      await page.screenshot({ path: join(screenshotDir, `${slug}--${name}.png`), fullPage: true }).catch(() => {})
    }
    console.error(`step failed: ${stepName}\n  screenshots: ${screenshotDir}\n  service logs: ${logDir}`)
    for (const service of services) console.error(`--- ${service.name} (${service.url}) log tail ---\n${service.logText().slice(-3000)}`)
  }

  const baseEnv = (port, database) => ({
    ENVIRONMENT: 'development',
    JWT_SECRET: jwtSecret,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite://${join(work, database)}`,
  })

  return {
    work,
    logDir,
    screenshotDir,
    jwtSecret,
    services,
    devices,

    /** A test step that leaves screenshots and console logs behind when it fails. */
    step: (name, body) =>
      it(name, { timeout: STEP_TIMEOUT_MS }, async () => {
        try {
          await body()
        } catch (error) {
          await recordFailure(name)
          throw error
        }
      }),

    startAuth: async () => {
      const auth = await startService({
        name: 'auth-worker',
        bin: binaryPath('auth-worker', 'AUTH_WORKER_BIN'),
        cwd: work,
        logDir,
        readyPath: '/health',
        env: { ...baseEnv(await freePort(), 'auth.db'), ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS) },
      })
      services.push(auth)
      return auth
    },

    /**
     * Starts a sync-worker serving `staticDir`; `port` reuses a port (the app's origin,
     * so its OPFS data and service worker survive a restart). `authUrl` is where it
     * follows the auth change feed (revocations, membership changes). `extraEnv`
     * overrides any variable (for example a different JWT_SECRET).
     */
    startSync: async ({ staticDir, requireAuth, authUrl, port, extraEnv = {} }) => {
      const env = { ...baseEnv(port ?? (await freePort()), 'sync.db'), STATIC_DIR: staticDir, REQUIRE_AUTH: String(requireAuth), ...extraEnv }
      if (authUrl !== undefined) env.AUTH_URL = authUrl
      const sync = await startService({ name: 'sync-worker', bin: binaryPath('sync-worker', 'SYNC_WORKER_BIN'), cwd: work, logDir, readyPath: '/', env })
      services.push(sync)
      return sync
    },

    /** Stops a service started here and forgets it. */
    stopService: async (service) => {
      await service.stop()
      services.splice(services.indexOf(service), 1)
    },

    launchDevice: async (label) => {
      const device = await launchDevice(work, label)
      devices.push(device)
      return device
    },

    /** A tab on `device` named `name` in failure reports, with its console and sync sockets recorded. */
    newTab: async (device, name) => {
      // A persistent context starts with one blank page: use it for the first tab.
      const blank = device.context.pages().find((candidate) => !usedPages.has(candidate) && candidate.url() === 'about:blank')
      const page = blank ?? (await device.context.newPage())
      usedPages.add(page)
      pages.set(name, page)
      const lines = []
      consoleLines.set(name, lines)
      page.on('console', (message) => lines.push(`${new Date().toISOString()} ${message.type()}: ${message.text().slice(0, 500)}`))
      page.on('pageerror', (error) => lines.push(`page error: ${error.message}`))
      return { page, sockets: recordSockets(page) }
    },

    /** The console lines recorded so far for the tab named `name`. */
    consoleOf: (name) => consoleLines.get(name) ?? [],

    /** Closes every device and service; removes the work dir unless a step failed or KEEP_ARTIFACTS=1. */
    cleanup: async () => {
      for (const device of devices) await device.context.close().catch(() => {})
      for (const service of services) await service.stop()
      if (failures === 0 && process.env.KEEP_ARTIFACTS !== '1') rmSync(work, { recursive: true, force: true })
      else console.log(`artifacts kept in ${work}`)
    },
  }
}
