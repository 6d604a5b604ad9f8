/**
 * Opens the user's LiveStore store with the web adapter (leader worker + shared
 * worker, SQLite persisted in OPFS) and syncs it through the sync-worker.
 *
 * The store id is the user's default instance id, so every tab and every device
 * of one user opens the same store; the sync payload carries that instance id and
 * the access token, which the sync-worker verifies before upgrading the socket.
 * The payload is fixed when the store opens: after a token refresh, reconnects
 * still present the token the store opened with, which the sync-worker accepts
 * within its grace period (24 h by default) after `exp`.
 */
import { makePersistedAdapter } from '@livestore/adapter-web'
import LiveStoreSharedWorker from '@livestore/adapter-web/shared-worker?sharedworker'
import { createStorePromise, nanoid, queryDb, type BootStatus, type Store } from '@livestore/livestore'

import type { User } from './auth-api.js'
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

/** Opens (or creates) the store of `user`, presenting `accessToken` to the sync backend. */
export const openTodoStore = (
  user: User,
  accessToken: string,
  onBootStatus: (status: BootStatus) => void,
): Promise<TodoStore> => {
  const storeId = storeIdOf(user)
  const syncPayload: SyncPayload = { instanceId: storeId, authToken: accessToken }
  return createStorePromise({
    schema,
    adapter,
    storeId,
    syncPayload,
    onBootStatus,
    disableDevtools: true,
  })
}

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
