// Glue for one test: fresh services, store processes opened on demand, cleanup that
// always runs, and on failure the log locations (plus tails) attached to the error.
import { readFileSync, rmSync } from 'node:fs'

import { startServices } from './services.mjs'
import { sqliteEvents } from './sqlite.mjs'
import { startStoreProcess } from './store-process.mjs'

const tail = (file, lines) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '<no log>'
  }
}

/**
 * Wraps a test body: `body(ctx)` gets `{ services, open(name, { storeId, syncPayload, ... }), t }`.
 * Services and store processes are stopped whatever happens. The run directory (logs,
 * databases, frame logs) is deleted after a pass and kept after a failure, or always
 * with E2E_KEEP_TMP=1.
 */
export function scenario(label, serviceOptions, body) {
  return async (t) => {
    const services = await startServices({ label, ...serviceOptions })
    const stores = []
    // `node` picks the sync node (0-based) the client connects to; `clientScript` and
    // `transport` select another client (the 0.4 one in e2e/v04) and its transport.
    const open = async (name, { storeId, syncPayload, clientId, node = 0, clientScript, transport }) => {
      const port = services.syncNodes[node].port
      const syncUrl = transport === 'http' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}`
      const store = await startStoreProcess({
        name,
        dir: services.dir,
        storeId,
        syncPayload,
        clientId,
        syncUrl,
        clientScript,
        extraConfig: transport === undefined ? {} : { transport },
      })
      stores.push(store)
      return store
    }
    let failed = false
    try {
      await body({ services, open, t })
    } catch (error) {
      failed = true
      const logs = [services.auth.logPath, ...services.syncNodes.map((n) => n.logPath), ...stores.map((s) => s.logPath)]
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

/** The sync-worker's stored events of one store in its SQLite file (see sqlite.mjs). */
export const serverEvents = sqliteEvents
