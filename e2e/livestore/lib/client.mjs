// One LiveStore client ("store process"), run as its own Node process by
// store-process.mjs and driven over the IPC channel with JSON commands.
//
// It uses the real LiveStore 0.3.1 stack exactly as an app would: `createStorePromise`
// with `@livestore/adapter-node` (fs storage in its own directory, its own clientId) and
// `makeCfSync({ url })` from `@livestore/sync-cf`, with the sync payload given to the
// store. The only addition is an observing subclass of the global WebSocket: it changes
// nothing on the wire, it records socket opens/closes and writes every frame to a log
// file so that a failing run can be debugged and the auth tests can assert that a
// rejected client never opened a socket nor received an event.
//
// Configuration comes from the E2E_CLIENT_CONFIG environment variable (JSON):
//   { name, storeId, syncUrl, syncPayload, storageDir, clientId, framesLog }
import { appendFileSync } from 'node:fs'
import process from 'node:process'

import { makeAdapter } from '@livestore/adapter-node'
import * as LiveStore from '@livestore/livestore'
import { makeCfSync } from '@livestore/sync-cf'
import { Effect } from 'effect'

import { makeTodoSchema } from './schema.mjs'

const { createStorePromise, queryDb } = LiveStore
const { events, schema, tables } = makeTodoSchema(LiveStore)

const config = JSON.parse(process.env.E2E_CLIENT_CONFIG ?? '{}')
for (const key of ['name', 'storeId', 'syncUrl', 'storageDir', 'clientId', 'framesLog']) {
  if (typeof config[key] !== 'string' || config[key] === '') {
    process.stderr.write(`client: E2E_CLIENT_CONFIG.${key} is required\n`)
    process.exit(2)
  }
}
if (typeof process.send !== 'function') {
  process.stderr.write('client: must be started with an IPC channel (child_process.fork)\n')
  process.exit(2)
}

/** What the observing WebSocket saw. Sent to the parent with every `socket` command. */
const socketStats = {
  attempts: 0,
  opened: 0,
  closed: 0,
  open: false,
  framesReceived: 0,
  eventsReceived: 0,
  pushAcks: 0,
  errors: [],
  closeCodes: [],
  /** Set when the armed kill-on-ack fired: which push ack triggered it. */
  killedOnAck: null,
}

/** requestId of each PushReq sent -> the todo ids its events carry. */
const pushedIds = new Map()
/** Armed by the `killOnAck` command: `{ pid, eventId }`. */
let killOnAck = null

/**
 * Crash the server the instant it acknowledges a push carrying `killOnAck.eventId`: this
 * runs in the socket's first message listener, before LiveStore itself sees the ack, so
 * the server gets no time beyond what it spent before sending the ack.
 */
const maybeKillOnAck = (requestId) => {
  if (killOnAck === null || !(pushedIds.get(requestId) ?? []).includes(killOnAck.eventId)) return
  const { pid } = killOnAck
  killOnAck = null
  process.kill(pid, 'SIGKILL')
  socketStats.killedOnAck = { requestId, pid, eventIds: pushedIds.get(requestId) }
}

const logFrame = (direction, data) => {
  const text = typeof data === 'string' ? data : `<${typeof data}>`
  appendFileSync(config.framesLog, `${new Date().toISOString()} ${config.name} ${direction} ${text}\n`)
}

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
      try {
        const message = JSON.parse(event.data)
        if (message._tag === 'WSMessage.PullRes') socketStats.eventsReceived += message.batch.length
        if (message._tag === 'WSMessage.PushAck') {
          maybeKillOnAck(message.requestId)
          socketStats.pushAcks += 1
        }
        if (message._tag === 'WSMessage.Error') socketStats.errors.push(message.message)
      } catch {
        // The client itself reports undecodable frames; the log keeps the raw text.
      }
    })
  }

  send(data) {
    logFrame('send', data)
    try {
      const message = JSON.parse(data)
      if (message._tag === 'WSMessage.PushReq') {
        pushedIds.set(message.requestId, message.batch.map((event) => event.args?.id))
      }
    } catch {
      // Not ours to judge; the server answers malformed frames.
    }
    super.send(data)
  }
}
globalThis.WebSocket = ObservedWebSocket

const todosQuery = queryDb(tables.todos.orderBy('id', 'asc'), { label: 'todos' })

const adapter = makeAdapter({
  storage: { type: 'fs', baseDirectory: config.storageDir },
  clientId: config.clientId,
  sync: { backend: makeCfSync({ url: config.syncUrl }) },
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
        // Unsubscribing inside onUpdate is allowed but deferred to keep it off the update path.
        queueMicrotask(() => unsubscribe())
        resolve(plainRows(rows))
      }
    }
    unsubscribe = store.subscribe(todosQuery, { onUpdate: check, label: 'waitForTodos' })
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
  syncState: async () => ({
    session: describeSyncState(await Effect.runPromise(store.syncProcessor.syncState.get)),
    leader: describeSyncState(await Effect.runPromise(store.clientSession.leaderThread.getSyncState)),
  }),
  socket: () => ({ ...socketStats, errors: [...socketStats.errors], closeCodes: [...socketStats.closeCodes] }),
  killOnAck: ({ pid, eventId }) => {
    if (!Number.isInteger(pid) || pid <= 1 || typeof eventId !== 'string') throw new Error('killOnAck needs { pid, eventId }')
    killOnAck = { pid, eventId }
    return { armed: true }
  },
  shutdown: async () => {
    await store.shutdown()
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
