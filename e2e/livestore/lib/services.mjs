// Starts the real auth-worker and sync-worker binaries on free loopback ports with fresh
// SQLite databases in a temp directory, waits until they answer, and always stops them.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { createScratchDatabase, dropScratchDatabase, postgresEvents } from './postgres.mjs'
import { sqliteEvents } from './sqlite.mjs'
import { waitUntil, withTimeout } from './wait.mjs'

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * Where `cargo build` put the debug binaries: `$CARGO_TARGET_DIR` when set (relative to the
 * workspace root, where `just e2e` runs cargo), else the workspace's `target/`.
 */
const WORKSPACE_DIR = path.resolve(E2E_DIR, '..')
const DEBUG_DIR = path.join(path.resolve(WORKSPACE_DIR, process.env.CARGO_TARGET_DIR || 'target'), 'debug')

/** Binary paths: AUTH_WORKER_BIN / SYNC_WORKER_BIN (relative to e2e/), else the debug build. */
export const binaries = {
  auth: process.env.AUTH_WORKER_BIN ? path.resolve(E2E_DIR, process.env.AUTH_WORKER_BIN) : path.join(DEBUG_DIR, 'auth-worker'),
  sync: process.env.SYNC_WORKER_BIN ? path.resolve(E2E_DIR, process.env.SYNC_WORKER_BIN) : path.join(DEBUG_DIR, 'sync-worker'),
}

/** A fresh run directory under e2e/.tmp (git-ignored), kept for reading logs afterwards. */
export function makeRunDir(label) {
  const base = path.join(E2E_DIR, '.tmp')
  mkdirSync(base, { recursive: true })
  return mkdtempSync(path.join(base, `${label}-`))
}

/** Asks the kernel for a free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** A 48-byte random secret, base64url: comfortably over the 32-byte minimum. */
export const randomSecret = () => randomBytes(48).toString('base64url')

const tail = (file, lines = 40) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '<no log>'
  }
}

/**
 * One service child process. `start()` spawns it and waits for `readyPath` to answer 200;
 * `kill(signal)` stops it and waits for the exit. Restarting reuses port, database and log.
 */
class Service {
  constructor({ name, bin, dir, port, env, readyPath, logName = name }) {
    Object.assign(this, { name, bin, dir, port, env, readyPath })
    this.logPath = path.join(dir, `${logName}.log`)
    this.child = null
    this.exit = null
    this.starts = 0
  }

  get url() {
    return `http://127.0.0.1:${this.port}`
  }

  async start() {
    if (!existsSync(this.bin)) {
      throw new Error(`${this.name} binary not found at ${this.bin}; build it (cargo build -p ${this.name}) or set its *_BIN variable`)
    }
    this.starts += 1
    const logFd = openSync(this.logPath, 'a')
    // cwd is the run directory, so no stray .dev.vars is picked up; env is explicit.
    const child = spawn(this.bin, [], {
      cwd: this.dir,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', logFd, logFd],
    })
    closeSync(logFd)
    this.child = child
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    let exitedEarly = null
    this.exit.then((result) => {
      exitedEarly = result
    })
    try {
      await waitUntil(
        `${this.name} ${this.readyPath} on port ${this.port}`,
        async () => {
          if (exitedEarly) throw new Error(`exited early: ${JSON.stringify(exitedEarly)}`)
          const response = await fetch(`${this.url}${this.readyPath}`, { signal: AbortSignal.timeout(1_000) })
          await response.arrayBuffer()
          return response.status
        },
        (status) => status === 200 || exitedEarly !== null,
        { timeoutMs: 20_000, intervalMs: 50 },
      )
      if (exitedEarly) throw new Error(`exited early: ${JSON.stringify(exitedEarly)}`)
    } catch (error) {
      await this.kill('SIGKILL')
      throw new Error(`${this.name} did not become ready: ${error.message}\n--- ${this.logPath} ---\n${tail(this.logPath)}`)
    }
  }

  /** Pid of the running process (for a kill fired from elsewhere). */
  get pid() {
    return this.child?.pid
  }

  /** Waits for the process to exit on its own (or by someone else's signal). */
  async waitExit(timeoutMs = 15_000) {
    if (this.child === null) throw new Error(`${this.name} is not running`)
    const result = await withTimeout(`${this.name} to exit`, this.exit, timeoutMs)
    this.child = null
    return result
  }

  /** Sends `signal` and waits for the process to be gone. Safe to call twice. */
  async kill(signal = 'SIGTERM') {
    const child = this.child
    if (child === null) return null
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    let result
    try {
      result = await withTimeout(`${this.name} to exit after ${signal}`, this.exit, 10_000)
    } catch {
      child.kill('SIGKILL')
      result = await this.exit
    }
    this.child = null
    return result
  }

  logTail(lines) {
    return tail(this.logPath, lines)
  }
}

/**
 * Starts both services for one test file. Returns handles plus the shared JWT secret.
 * `requireAuth` sets REQUIRE_AUTH for both. `syncNodes` sync-worker processes are started
 * (node 1 is `sync`, all of them `syncNodes`); with `postgres` they share a scratch
 * PostgreSQL database (created here, dropped by `stop()`), else node 1 uses a SQLite file
 * (several nodes need `postgres`). Call `stop()` in a finally/after hook.
 */
export async function startServices({ label, requireAuth = false, extraEnv = {}, syncNodes = 1, postgres = false }) {
  if (syncNodes > 1 && !postgres) throw new Error('several sync nodes need postgres: true')
  const dir = makeRunDir(label)
  const jwtSecret = randomSecret()
  const common = {
    HOST: '127.0.0.1',
    ENVIRONMENT: 'development',
    REQUIRE_AUTH: requireAuth ? 'true' : 'false',
    JWT_SECRET: jwtSecret,
    RUST_LOG: process.env.E2E_RUST_LOG ?? 'info',
    NO_COLOR: '1',
    ...extraEnv,
  }
  const database = postgres ? createScratchDatabase('e2e_sync') : null
  const syncDbPath = path.join(dir, 'sync.db')
  const authPort = await freePort()
  const auth = new Service({
    name: 'auth-worker',
    bin: binaries.auth,
    dir,
    port: authPort,
    readyPath: '/health',
    env: { ...common, PORT: String(authPort), DATABASE_URL: `sqlite://${path.join(dir, 'auth.db')}` },
  })
  const nodes = []
  for (let i = 0; i < syncNodes; i++) {
    const port = await freePort()
    nodes.push(
      new Service({
        name: 'sync-worker',
        logName: i === 0 ? 'sync-worker' : `sync-worker-${i + 1}`,
        bin: binaries.sync,
        dir,
        port,
        readyPath: '/',
        // AUTH_URL: sync-worker follows auth-worker's change feed (revocations); without it
        // the grace period is suspended.
        env: {
          ...common,
          PORT: String(port),
          DATABASE_URL: database ? database.url : `sqlite://${syncDbPath}`,
          AUTH_URL: `http://127.0.0.1:${authPort}`,
        },
      }),
    )
  }
  const sync = nodes[0]
  const services = {
    dir,
    jwtSecret,
    auth,
    sync,
    syncNodes: nodes,
    syncDbPath,
    /** The scratch PostgreSQL database (`{ name, url }`) with `postgres: true`, else null. */
    database,
    /** The events the sync nodes stored for `storeId` (SQLite file or PostgreSQL). */
    storedEvents: (storeId) => (database ? postgresEvents(database.url, storeId) : sqliteEvents(syncDbPath, storeId)),
    stop: async () => {
      await Promise.all([auth.kill('SIGTERM'), ...nodes.map((node) => node.kill('SIGTERM'))])
      if (database) dropScratchDatabase(database)
    },
  }
  try {
    await Promise.all([auth.start(), ...nodes.map((node) => node.start())])
  } catch (error) {
    await services.stop()
    throw error
  }
  return services
}
