/**
 * Opens the user's LiveStore store with the web adapter (leader worker + shared
 * worker, SQLite persisted in OPFS) and syncs it through the sync-worker.
 *
 * The store id is the user's default instance id, so every tab and every device
 * of one user opens the same store; the sync payload carries that instance id and
 * the access token, which the sync-worker verifies before upgrading the socket.
 *
 * One payload per running store: LiveStore 0.3.1 hands the payload of the first
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

import type { User } from './auth-api.js'
import { kvDeletePrefix, kvGet, kvPut } from './idb-kv.js'
import LiveStoreWorker from './livestore.worker.ts?worker'
import { events, schema, tables } from './livestore/schema.js'

/** The store type of this app. */
export type TodoStore = Store<typeof schema>

/** One row of the todo list. */
export type Todo = typeof tables.todos.Type

/** The sync payload, in the shape the original frontend sent. */
export type SyncPayload = { instanceId: string; authToken: string }

/** The store id of a user: their default instance (the first one when none is marked default). */
export const storeIdOf = (user: User): string => {
  const instance = user.instances.find((candidate) => candidate.isDefault) ?? user.instances[0]
  return instance?.id ?? `user-${user.id}`
}

const adapter = makePersistedAdapter({
  storage: { type: 'opfs' },
  worker: LiveStoreWorker,
  sharedWorker: LiveStoreSharedWorker,
})

const PAYLOAD_KEY_PREFIX = 'syncPayload:'

/** LiveStore's leader election lock for a store (adapter-web 0.3.1): held while any tab has the store open. */
const liveStoreTabLock = (storeId: string): string => `livestore-tab-lock-${storeId}`

const storeIsOpenInAnotherTab = async (storeId: string): Promise<boolean> => {
  const { held = [] } = await navigator.locks.query()
  return held.some((lock) => lock.name === liveStoreTabLock(storeId))
}

/**
 * Picks the payload this tab must present (see the module header) and opens the
 * store with it. Opening is serialized per store so two tabs never both "start" it.
 */
export const openTodoStore = async (
  user: User,
  accessToken: string,
  onBootStatus: (status: BootStatus) => void,
): Promise<TodoStore> => {
  const storeId = storeIdOf(user)
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
