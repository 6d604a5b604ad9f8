/**
 * Opens a workspace's LiveStore store with the web adapter (leader worker +
 * shared worker, SQLite persisted in OPFS) and syncs it through the sync-worker.
 *
 * The store id is the workspace (instance) id, so every member's tabs and devices
 * open the same store; the sync payload carries that instance id and the access
 * token, which the sync-worker verifies (and, with REQUIRE_AUTH=true, checks the
 * membership of) before upgrading the socket.
 *
 * One payload per running store: LiveStore hands the payload of the first
 * tab to its shared worker, which refuses a later tab whose payload differs
 * ("Initial message already sent and was different now"; the tab only sees
 * "An error occurred while spawning a worker"). Once a token refresh happened, a
 * new tab would hold a newer token than the first one, so tabs agree on the
 * payload: the tab that starts the store (no tab holds LiveStore's leader lock
 * for it) records its payload in IndexedDB, and later tabs open with the
 * recorded one. Reconnects therefore present the token the store started with;
 * the sync-worker accepts it up to its grace period (24 h by default) after `exp`.
 */
import { makePersistedAdapter } from '@livestore/adapter-web'
import LiveStoreSharedWorker from '@livestore/adapter-web/shared-worker?sharedworker'
import { createStorePromise, nanoid, queryDb, type BootStatus, type Store } from '@livestore/livestore'

import { kvDeletePrefix, kvGet, kvPut } from './idb-kv.js'
import LiveStoreWorker from './livestore.worker.ts?worker'
import { events, schema, tables } from './livestore/schema.js'

/** The store type of this app. */
export type TodoStore = Store<typeof schema>

/** One row of the todo list. */
export type Todo = typeof tables.todos.Type

/** The sync payload, in the shape the original frontend sent. */
export type SyncPayload = { instanceId: string; authToken: string }

const adapter = makePersistedAdapter({
  storage: { type: 'opfs' },
  worker: LiveStoreWorker,
  sharedWorker: LiveStoreSharedWorker,
})

const PAYLOAD_KEY_PREFIX = 'syncPayload:'

/** LiveStore's leader election lock for a store (adapter-web 0.4.0): held while any tab has the store open. */
const liveStoreTabLock = (storeId: string): string => `livestore-tab-lock-${storeId}`

const storeIsOpenInAnotherTab = async (storeId: string): Promise<boolean> => {
  const { held = [] } = await navigator.locks.query()
  return held.some((lock) => lock.name === liveStoreTabLock(storeId))
}

/**
 * Picks the payload this tab must present (see the module header) and opens the
 * store `storeId` with it. Opening is serialized per store so two tabs never both "start" it.
 */
export const openTodoStore = async (
  storeId: string,
  accessToken: string,
  onBootStatus: (status: BootStatus) => void,
): Promise<TodoStore> => {
  const payloadKey = `${PAYLOAD_KEY_PREFIX}${storeId}`
  const fresh: SyncPayload = { instanceId: storeId, authToken: accessToken }
  const open = (syncPayload: SyncPayload): Promise<TodoStore> =>
    createStorePromise({ schema, adapter, storeId, syncPayload, onBootStatus, disableDevtools: true })

  return navigator.locks.request(`livestore-demo.open.${storeId}`, async () => {
    const recorded = await kvGet<SyncPayload>(payloadKey)
    if (recorded !== undefined && (await storeIsOpenInAnotherTab(storeId))) {
      try {
        return await open(recorded)
      } catch (error) {
        // The store stopped in between (its last tab closed): start it anew below.
        console.warn('opening with the running store payload failed; starting it with a fresh one', error)
      }
    }
    await kvPut(payloadKey, fresh)
    return open(fresh)
  })
}

/** Forgets the recorded sync payloads (they hold access tokens); for logout. */
export const forgetSyncPayloads = (): Promise<void> => kvDeletePrefix(PAYLOAD_KEY_PREFIX)

/** All todos, oldest first. */
export const todos$ = queryDb(tables.todos.orderBy('createdAt', 'asc'), { label: 'todos' })

/** Commits a new todo. */
export const addTodo = (store: TodoStore, text: string): void => {
  store.commit(events.todoCreated({ id: nanoid(), text, createdAt: Date.now() }))
}

/** Flips a todo between done and not done. */
export const toggleTodo = (store: TodoStore, todo: Todo): void => {
  store.commit(todo.completed ? events.todoUncompleted({ id: todo.id }) : events.todoCompleted({ id: todo.id }))
}

/** Replaces a todo's text. */
export const editTodo = (store: TodoStore, todo: Todo, text: string): void => {
  if (text === todo.text) return
  store.commit(events.todoTextChanged({ id: todo.id, text }))
}

/** Deletes a todo (for every member, once synced). */
export const deleteTodo = (store: TodoStore, todo: Todo): void => {
  store.commit(events.todoDeleted({ id: todo.id, deletedAt: Date.now() }))
}

/** How often the pending marks are recomputed. */
const PENDING_POLL_MS = 400

/**
 * Calls `onChange` with the ids of the todos that have events the sync server has
 * not confirmed yet, whenever that set changes; returns a function that stops.
 *
 * "Confirmed" is LiveStore's own notion: an event leaves the leader's `pending`
 * list when the sync backend acknowledged it (sync-worker acknowledges only after
 * the event is durably stored). Events still in this tab's session (not yet handed
 * to the leader) count as pending too. LiveStore 0.4.0's public `syncStatus()` counts
 * only the session's pending events (not the leader's, nor which todos they touch),
 * so both sync states are read with `store._dev.syncStates()`, polled.
 */
export const watchPendingTodoIds = (store: TodoStore, onChange: (ids: ReadonlySet<string>) => void): (() => void) => {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let last = ''
  const idsOf = (pending: ReadonlyArray<{ args: unknown }>): string[] =>
    pending.flatMap((event) => {
      const id = (event.args as { id?: unknown } | undefined)?.id
      return typeof id === 'string' ? [id] : []
    })
  const tick = async (): Promise<void> => {
    try {
      const { leader, session } = await store._dev.syncStates()
      const ids = new Set([...idsOf(leader.pending), ...idsOf(session.pending)])
      const key = [...ids].sort().join(',')
      if (!stopped && key !== last) {
        last = key
        onChange(ids)
      }
    } catch {
      // The store is shutting down; the next tick (if any) tries again.
    }
    if (!stopped) timer = setTimeout(() => void tick(), PENDING_POLL_MS)
  }
  void tick()
  return () => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
  }
}
