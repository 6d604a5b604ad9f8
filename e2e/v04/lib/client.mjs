// One LiveStore 0.4.0 client ("store process"), run as its own Node process by
// e2e/livestore/lib/store-process.mjs (with `clientScript` pointing here) and driven over
// the IPC channel with the same JSON commands as the 0.3.1 client (e2e/livestore/lib/client.mjs).
//
// It uses the real LiveStore 0.4.0 stack exactly as an app would: `createStorePromise`
// with `@livestore/adapter-node` (fs storage in its own directory, its own clientId) and
// `makeWsSync({ url })` or `makeHttpSync({ url })` from `@livestore/sync-cf/client`, with the
// sync payload given to the store. The only additions observe the transport without
// changing it: a subclass of the global WebSocket (ws) or a wrapper of `fetch` (http)
// that counts connection attempts, HTTP statuses, received events, push results and
// `ServerAheadError`s, and writes every frame or request to a log file.
//
// Configuration comes from the E2E_CLIENT_CONFIG environment variable (JSON):
//   { name, storeId, syncUrl, transport: 'ws' | 'http', syncPayload, storageDir, clientId, framesLog }
import { appendFileSync } from 'node:fs'
import process from 'node:process'

import { makeAdapter } from '@livestore/adapter-node'
import * as LiveStore from '@livestore/livestore'
import { makeHttpSync, makeWsSync } from '@livestore/sync-cf/client'
import { fetch as undiciFetch } from 'undici'

import { makeTodoSchema } from '../../livestore/lib/schema.mjs'

const { createStorePromise, queryDb } = LiveStore
const { events, schema, tables } = makeTodoSchema(LiveStore)

const config = JSON.parse(process.env.E2E_CLIENT_CONFIG ?? '{}')
for (const key of ['name', 'storeId', 'syncUrl', 'storageDir', 'clientId', 'framesLog']) {
  if (typeof config[key] !== 'string' || config[key] === '') {
    process.stderr.write(`client: E2E_CLIENT_CONFIG.${key} is required\n`)
    process.exit(2)
  }
}
const transport = config.transport ?? 'ws'
if (transport !== 'ws' && transport !== 'http') {
  process.stderr.write(`client: E2E_CLIENT_CONFIG.transport must be ws or http, not ${JSON.stringify(transport)}\n`)
  process.exit(2)
}
if (typeof process.send !== 'function') {
  process.stderr.write('client: must be started with an IPC channel (child_process.fork)\n')
  process.exit(2)
}

/** What the observers saw. Sent to the parent with every `socket` command. */
const socketStats = {
  transport,
  /** WebSocket constructions (ws) or sync requests sent (http). */
  attempts: 0,
  opened: 0,
  closed: 0,
  open: false,
  framesReceived: 0,
  eventsReceived: 0,
  /** Pushes the server answered with success. */
  pushAcks: 0,
  /** Pushes the server answered with ServerAheadError (the client then rebases and pushes again). */
  serverAhead: 0,
  /** Failure tags of other push/pull exits. */
  errors: [],
  closeCodes: [],
  /** HTTP status of every sync request (http). */
  httpStatuses: [],
}

const logFrame = (direction, data) => {
  const text = typeof data === 'string' ? data : `<${typeof data}>`
  appendFileSync(config.framesLog, `${new Date().toISOString()} ${config.name} ${direction} ${text}\n`)
}

/** requestId -> RPC tag of every Request this client sent (to classify the exits). */
const requestTags = new Map()

const noteSent = (text) => {
  try {
    const message = JSON.parse(text)
    if (message?._tag === 'Request') requestTags.set(String(message.id), message.tag)
  } catch {
    // Not ours to judge.
  }
}

/** Counts one server message (a `Chunk`, an `Exit`, a `Defect`, a `Pong`). */
const noteReceived = (message) => {
  if (message?._tag === 'Chunk') {
    for (const value of message.values ?? []) socketStats.eventsReceived += value?.batch?.length ?? 0
    return
  }
  if (message?._tag === 'Defect') {
    socketStats.errors.push(`Defect: ${JSON.stringify(message.defect)}`)
    return
  }
  if (message?._tag !== 'Exit') return
  const tag = requestTags.get(String(message.requestId)) ?? ''
  requestTags.delete(String(message.requestId))
  const exit = message.exit
  if (exit?._tag === 'Success') {
    if (tag.endsWith('.Push')) socketStats.pushAcks += 1
    return
  }
  const errorTag = exit?.cause?.error?._tag ?? exit?.cause?._tag ?? 'unknown'
  if (tag.endsWith('.Push') && errorTag === 'ServerAheadError') socketStats.serverAhead += 1
  else socketStats.errors.push(`${tag}: ${errorTag} ${JSON.stringify(exit?.cause?.error ?? exit?.cause ?? null)}`)
}

const noteReceivedText = (text) => {
  try {
    const parsed = JSON.parse(text)
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) noteReceived(message)
  } catch {
    // The client itself reports undecodable frames; the log keeps the raw text.
  }
}

if (transport === 'ws') {
  const NativeWebSocket = globalThis.WebSocket
  if (NativeWebSocket === undefined) {
    process.stderr.write('client: no global WebSocket (Node 20 needs --experimental-websocket)\n')
    process.exit(2)
  }

  /** The platform WebSocket, observed: same behaviour, plus bookkeeping and a frame log. */
  class ObservedWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      super(url, protocols)
      socketStats.attempts += 1
      logFrame('connect', String(url))
      let wasOpen = false
      this.addEventListener('open', () => {
        wasOpen = true
        socketStats.opened += 1
        socketStats.open = true
        logFrame('open', '')
      })
      this.addEventListener('close', (event) => {
        if (wasOpen) {
          socketStats.closed += 1
          socketStats.open = false
        }
        socketStats.closeCodes.push(event.code)
        logFrame('close', `code=${event.code} wasOpen=${wasOpen}`)
      })
      this.addEventListener('message', (event) => {
        socketStats.framesReceived += 1
        logFrame('recv', event.data)
        noteReceivedText(event.data)
      })
    }

    send(data) {
      logFrame('send', data)
      noteSent(data)
      super.send(data)
    }
  }
  globalThis.WebSocket = ObservedWebSocket
} else {
  // undici's fetch, not Node 20's built-in one: `@effect/platform-node` installs npm undici's
  // Agent as the global dispatcher, which the built-in fetch cannot drive (every request
  // fails with "invalid content-length header"). Node 22+ would not need this.
  const observedFetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input)
    const isSync = url.includes('transport=http')
    if (!isSync) return undiciFetch(input, init)
    socketStats.attempts += 1
    const raw = init?.body
    const body = typeof raw === 'string' ? raw : raw instanceof Uint8Array || raw instanceof ArrayBuffer ? new TextDecoder().decode(raw) : ''
    logFrame('post', `${url} ${body}`)
    noteSent(body)
    let response
    try {
      response = await undiciFetch(input, init)
    } catch (error) {
      logFrame('error', String(error?.message ?? error))
      socketStats.httpStatuses.push(0)
      throw error
    }
    socketStats.httpStatuses.push(response.status)
    const text = await response.clone().text()
    socketStats.framesReceived += 1
    logFrame('recv', `${response.status} ${text}`)
    if (response.ok) noteReceivedText(text)
    return response
  }
  globalThis.fetch = observedFetch
}

const todosQuery = queryDb(tables.todos.orderBy('id', 'asc'), { label: 'todos' })

const backend = transport === 'ws' ? makeWsSync({ url: config.syncUrl }) : makeHttpSync({ url: config.syncUrl, livePull: { pollInterval: 500 } })

const adapter = makeAdapter({
  storage: { type: 'fs', baseDirectory: config.storageDir },
  clientId: config.clientId,
  sync: { backend },
})

const store = await createStorePromise({
  adapter,
  schema,
  storeId: config.storeId,
  syncPayload: config.syncPayload,
  disableDevtools: true,
})

const plainRows = (rows) => rows.map((row) => ({ id: row.id, text: row.text, completed: Boolean(row.completed) }))

const describeSyncState = (state) => ({
  pending: state.pending.length,
  upstreamHead: state.upstreamHead.global,
  localHead: state.localHead.global,
})

/** Resolves with the todos once every id in `ids` is present, via a live subscription. */
const waitForTodos = ({ ids, completed = [], timeoutMs }) =>
  new Promise((resolve, reject) => {
    let unsubscribe = () => {}
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      unsubscribe()
      const have = plainRows(store.query(todosQuery)).map((row) => `${row.id}${row.completed ? '(done)' : ''}`)
      const want = ids.map((id) => `${id}${completed.includes(id) ? '(done)' : ''}`)
      reject(new Error(`${config.name}: todos ${JSON.stringify(want)} not all present after ${timeoutMs} ms; have ${JSON.stringify(have)}`))
    }, timeoutMs)
    const check = (rows) => {
      if (settled) return
      const byId = new Map(rows.map((row) => [row.id, row]))
      const ready = ids.every((id) => byId.has(id)) && completed.every((id) => byId.get(id)?.completed === true)
      if (ready) {
        settled = true
        clearTimeout(timer)
        queueMicrotask(() => unsubscribe())
        resolve(plainRows(rows))
      }
    }
    unsubscribe = store.subscribe(todosQuery, check, { label: 'waitForTodos' })
  })

const commands = {
  create: ({ id, text }) => {
    store.commit(events.todoCreated({ id, text }))
    return { id }
  },
  complete: ({ id }) => {
    store.commit(events.todoCompleted({ id }))
    return { id }
  },
  todos: () => plainRows(store.query(todosQuery)),
  waitTodos: (args) => waitForTodos(args),
  syncState: async () => {
    const { session, leader } = await store._dev.syncStates()
    return { session: describeSyncState(session), leader: describeSyncState(leader) }
  },
  socket: () => ({
    ...socketStats,
    errors: [...socketStats.errors],
    closeCodes: [...socketStats.closeCodes],
    httpStatuses: [...socketStats.httpStatuses],
  }),
  shutdown: async () => {
    await store.shutdownPromise()
    return { shutdown: true }
  },
}

process.on('message', async (message) => {
  const { id, cmd, args } = message ?? {}
  const handler = commands[cmd]
  try {
    if (handler === undefined) throw new Error(`unknown command ${JSON.stringify(cmd)}`)
    const result = await handler(args ?? {})
    process.send({ id, ok: true, result })
    if (cmd === 'shutdown') process.disconnect()
  } catch (error) {
    process.send({ id, ok: false, error: String(error?.stack ?? error) })
  }
})

// The parent closing the channel means the test is over, whatever state it is in.
process.on('disconnect', () => process.exit(0))

process.send({ type: 'ready', clientId: config.clientId })
