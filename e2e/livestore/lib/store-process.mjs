// Parent side of a store process: forks client.mjs with its own storage directory,
// clientId and frame log, and turns the IPC channel into awaitable commands.
import { fork } from 'node:child_process'
import { mkdirSync, openSync, closeSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { waitUntil, withTimeout } from './wait.mjs'

const CLIENT_SCRIPT = fileURLToPath(new URL('./client.mjs', import.meta.url))
const E2E_DIR = path.resolve(path.dirname(CLIENT_SCRIPT), '..', '..')

/** Node 20 has the WHATWG WebSocket the 0.3.1 client uses only behind a flag. */
const WEBSOCKET_FLAGS = typeof globalThis.WebSocket === 'undefined' ? ['--experimental-websocket'] : []

const COMMAND_TIMEOUT_MS = 30_000

/** The store process has exited or closed its channel: no later command can succeed. */
export class StoreProcessGone extends Error {
  terminal = true
}

/** The 0.3.1 client script; other clients (e2e/v04) pass their own `clientScript`. */
export const CLIENT_0_3_1 = CLIENT_SCRIPT

/**
 * Starts a store process. Resolves once its store has booted (LiveStore does not wait for
 * the sync backend to boot, so a client whose socket is refused still starts).
 * `clientScript` is the client to fork (the 0.3.1 one by default; it must answer the same
 * IPC commands), `extraConfig` more fields for its E2E_CLIENT_CONFIG (e.g. `transport`).
 */
export async function startStoreProcess({
  name,
  dir,
  storeId,
  syncUrl,
  syncPayload,
  clientId,
  clientScript = CLIENT_SCRIPT,
  extraConfig = {},
}) {
  const storageDir = path.join(dir, `client-${name}`)
  mkdirSync(storageDir, { recursive: true })
  const logPath = path.join(dir, `client-${name}.log`)
  const framesLog = path.join(dir, `client-${name}.frames.log`)
  const logFd = openSync(logPath, 'a')
  const config = {
    name,
    storeId,
    syncUrl,
    syncPayload,
    storageDir,
    clientId: clientId ?? `client-${name}-${process.pid}-${Date.now().toString(36)}`,
    framesLog,
    ...extraConfig,
  }
  const child = fork(clientScript, [], {
    cwd: E2E_DIR,
    execArgv: [...WEBSOCKET_FLAGS],
    env: { ...process.env, E2E_CLIENT_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', logFd, logFd, 'ipc'],
  })
  closeSync(logFd)

  let nextId = 1
  const pending = new Map()
  let exited = null
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      for (const { reject } of pending.values()) {
        reject(new StoreProcessGone(`store process ${name} exited (code ${code}, signal ${signal}); see ${logPath}`))
      }
      pending.clear()
      resolve(exited)
    })
  })

  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message?.type === 'ready') {
        resolve()
        return
      }
      const waiter = pending.get(message?.id)
      if (waiter === undefined) return
      pending.delete(message.id)
      if (message.ok) waiter.resolve(message.result)
      else waiter.reject(new Error(`store process ${name}: ${message.error}`))
    })
    exitPromise.then(({ code, signal }) =>
      reject(new Error(`store process ${name} exited before ready (code ${code}, signal ${signal}); see ${logPath}`)),
    )
  })

  const request = (cmd, args = {}, timeoutMs = COMMAND_TIMEOUT_MS) => {
    if (exited || !child.connected) {
      return Promise.reject(new StoreProcessGone(`store process ${name} is gone (${cmd}); see ${logPath}`))
    }
    const id = nextId++
    const reply = new Promise((resolve, reject) => pending.set(id, { resolve, reject }))
    // With a callback, a send on a channel closing right now fails this request only.
    child.send({ id, cmd, args }, (error) => {
      if (error) pending.get(id)?.reject(new StoreProcessGone(`store process ${name}: ${error.message}`))
    })
    return withTimeout(`store process ${name}: ${cmd}`, reply, timeoutMs).finally(() => pending.delete(id))
  }

  const handle = {
    name,
    clientId: config.clientId,
    logPath,
    framesLog,
    create: (id, text = `todo ${id}`) => request('create', { id, text }),
    complete: (id) => request('complete', { id }),
    todos: () => request('todos'),
    /** Waits (through a live query subscription in the client) until all ids are present. */
    waitTodos: (ids, { completed = [], timeoutMs = 15_000 } = {}) =>
      request('waitTodos', { ids, completed, timeoutMs }, timeoutMs + 5_000),
    syncState: () => request('syncState'),
    socket: () => request('socket'),
    /** Arms the client to SIGKILL `pid` the instant a push carrying `eventId` is acked. */
    killOnAck: (pid, eventId) => request('killOnAck', { pid, eventId }),
    /** Waits until every local event has been pushed and acknowledged by the server. */
    waitSettled: (what = `${name} settled`, timeoutMs = 15_000) =>
      waitUntil(
        what,
        () => request('syncState'),
        (s) => s.session.pending === 0 && s.leader.pending === 0 && s.leader.upstreamHead === s.leader.localHead,
        { timeoutMs },
      ),
    /** Waits until the observed WebSocket is open, after at least `minOpened` opens in total. */
    waitConnected: (minOpened = 1, timeoutMs = 15_000) =>
      waitUntil(
        `${name} connected (opens >= ${minOpened})`,
        () => request('socket'),
        (s) => s.open && s.opened >= minOpened,
        { timeoutMs },
      ),
    /** Graceful store shutdown, then SIGKILL if the process lingers. Never throws. */
    stop: async () => {
      if (exited) return exited
      try {
        await request('shutdown', {}, 5_000)
      } catch {
        // Fall through to the kill below.
      }
      const result = await Promise.race([exitPromise, new Promise((resolve) => setTimeout(resolve, 3_000))])
      if (!exited) child.kill('SIGKILL')
      return result ?? exitPromise
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL')
      return exitPromise
    },
  }

  try {
    await withTimeout(`store process ${name} to boot (log: ${logPath})`, ready, 30_000)
  } catch (error) {
    await handle.kill()
    throw error
  }
  return handle
}
