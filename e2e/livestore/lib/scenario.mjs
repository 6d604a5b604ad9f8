// Glue for one test: fresh services, store processes opened on demand, cleanup that
// always runs, and on failure the log locations (plus tails) attached to the error.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'

import { startServices } from './services.mjs'
import { startStoreProcess } from './store-process.mjs'

const tail = (file, lines) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '<no log>'
  }
}

/**
 * Wraps a test body: `body(ctx)` gets `{ services, open(name, { storeId, syncPayload }) }`.
 * Services and store processes are stopped whatever happens. The run directory (logs,
 * databases, frame logs) is deleted after a pass and kept after a failure, or always
 * with E2E_KEEP_TMP=1.
 */
export function scenario(label, serviceOptions, body) {
  return async (t) => {
    const services = await startServices({ label, ...serviceOptions })
    const stores = []
    const open = async (name, { storeId, syncPayload, clientId }) => {
      const store = await startStoreProcess({
        name,
        dir: services.dir,
        storeId,
        syncPayload,
        clientId,
        syncUrl: services.syncWsUrl,
      })
      stores.push(store)
      return store
    }
    let failed = false
    try {
      await body({ services, open, t })
    } catch (error) {
      failed = true
      const logs = [services.auth.logPath, services.sync.logPath, ...stores.map((s) => s.logPath)]
      const tails = logs.map((file) => `--- ${file} (tail) ---\n${tail(file, 25)}`).join('\n')
      error.message = `${error.message}\nrun dir kept: ${services.dir}\n${tails}`
      throw error
    } finally {
      await Promise.all(stores.map((store) => store.stop()))
      await services.stop()
      if (!failed && process.env.E2E_KEEP_TMP !== '1') rmSync(services.dir, { recursive: true, force: true })
    }
  }
}

const SQLITE3 = ['/usr/bin/sqlite3', '/usr/local/bin/sqlite3'].find((p) => existsSync(p))

/**
 * The sync-worker's stored events of one store, read with the sqlite3 CLI. (Not opened
 * read-only: after a SIGKILL the WAL may need the recovery any next opener performs.)
 * The store id is checked against a strict pattern before it is put in the query text.
 */
export function serverEvents(dbPath, storeId) {
  if (SQLITE3 === undefined) throw new Error('the sqlite3 CLI is required (apt-get install sqlite3)')
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(storeId)) throw new Error(`unexpected store id ${storeId}`)
  const out = execFileSync(
    SQLITE3,
    [
      '-json',
      dbPath,
      `SELECT seq_num, parent_seq_num, name, args, client_id, pushed_by FROM events WHERE store_id = '${storeId}' ORDER BY seq_num`,
    ],
    { encoding: 'utf8' },
  )
  return out.trim() === '' ? [] : JSON.parse(out)
}
