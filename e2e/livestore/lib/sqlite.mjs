// Reading a store's events straight from the sync-worker's SQLite file with the sqlite3 CLI.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const SQLITE3 = ['/usr/bin/sqlite3', '/usr/local/bin/sqlite3'].find((p) => existsSync(p))

/**
 * The sync-worker's stored events of one store, read with the sqlite3 CLI. (Not opened
 * read-only: after a SIGKILL the WAL may need the recovery any next opener performs.)
 * The store id is checked against a strict pattern before it is put in the query text.
 */
export function sqliteEvents(dbPath, storeId) {
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
