// A scratch PostgreSQL database per test run (for the several-nodes scenarios), made and
// dropped with the psql CLI on the server PG_TEST_URL names, and reading a store's events
// back from it. Only databases this file created are ever dropped.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

/** The server to make scratch databases on (trust auth, as in the Rust tests). */
export const PG_TEST_URL = process.env.PG_TEST_URL ?? 'postgres://root@127.0.0.1:5432/postgres'

const psql = (url, sql) =>
  execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { encoding: 'utf8' })

/** Creates a database with a random name; returns `{ name, url }`. */
export function createScratchDatabase(label = 'e2e') {
  const name = `${label}_${randomBytes(6).toString('hex')}`
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`unexpected database name ${name}`)
  try {
    psql(PG_TEST_URL, `CREATE DATABASE ${name}`)
  } catch (error) {
    throw new Error(`cannot create a scratch database on ${PG_TEST_URL} (is PostgreSQL running? set PG_TEST_URL): ${error.message}`)
  }
  const url = new URL(PG_TEST_URL)
  url.pathname = `/${name}`
  return { name, url: url.toString() }
}

/** Drops a database made by `createScratchDatabase` (its connections are closed first). */
export function dropScratchDatabase({ name }) {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`unexpected database name ${name}`)
  psql(PG_TEST_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}

/** A store's events in a sync-worker PostgreSQL database, in the shape `serverEvents` returns. */
export function postgresEvents(databaseUrl, storeId) {
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(storeId)) throw new Error(`unexpected store id ${storeId}`)
  const out = psql(
    databaseUrl,
    `SELECT coalesce(json_agg(t ORDER BY seq_num), '[]') FROM (SELECT seq_num, parent_seq_num, name, args, client_id, pushed_by FROM events WHERE store_id = '${storeId}') t`,
  )
  return JSON.parse(out.trim())
}
