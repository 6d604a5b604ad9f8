/**
 * A tiny key-value store in IndexedDB, for state that several tabs must read
 * consistently: the session ledger (token rotation) and the sync payload a
 * store was opened with.
 *
 * Why not localStorage: Chromium propagates a localStorage write to other tabs
 * asynchronously, so a tab that takes a Web Lock right after another tab wrote
 * can still read the old value (for a refresh token: spend it again, which the
 * auth-worker treats as reuse and answers by revoking the whole session).
 * IndexedDB transactions are ordered for the whole origin: a read started after
 * a write transaction completed sees that write.
 */

const DB_NAME = 'livestore-demo'
const STORE = 'kv'

const openDb = (): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(STORE)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })

const withStore = async <T>(mode: IDBTransactionMode, use: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
  const db = await openDb()
  try {
    return await new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(STORE, mode)
      const request = use(transaction.objectStore(STORE))
      // Resolve on commit, not on the request, so a write is visible to every later reader.
      transaction.oncomplete = () => resolve(request.result)
      transaction.onerror = () => reject(transaction.error)
      transaction.onabort = () => reject(transaction.error)
    })
  } finally {
    db.close()
  }
}

/** The value under `key`, or undefined. */
export const kvGet = <T>(key: string): Promise<T | undefined> =>
  withStore('readonly', (store) => store.get(key) as IDBRequest<T | undefined>)

/** Stores `value` under `key`; resolves once committed. */
export const kvPut = async (key: string, value: unknown): Promise<void> => {
  await withStore('readwrite', (store) => store.put(value, key))
}

/** Deletes every key starting with `prefix` (one key when it is a whole key); resolves once committed. */
export const kvDeletePrefix = async (prefix: string): Promise<void> => {
  await withStore('readwrite', (store) => store.delete(IDBKeyRange.bound(prefix, `${prefix}\uffff`)))
}
