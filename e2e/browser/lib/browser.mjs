// Debian's chromium driven by playwright-core: one persistent context per
// simulated device, each with a fresh profile directory, plus a recorder of the
// sync WebSockets its pages (and their dedicated workers) open.
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'

import { chromium } from 'playwright-core'

/** The chromium binary; CHROMIUM_PATH overrides Debian's. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Flags this machine's chromium needs (no sandbox, no GPU, nothing phoning home). */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** Launches chromium with a fresh `--user-data-dir` under `baseDir`; a "device" with its own storage. */
export const launchDevice = async (baseDir, label) => {
  const profile = mkdtempSync(join(baseDir, `profile-${label}-`))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1000, height: 700 },
  })
  context.setDefaultTimeout(20_000)
  return { label, context, profile }
}

/**
 * Records every WebSocket a page opens (LiveStore's leader worker opens the sync
 * socket; chromium reports dedicated-worker sockets on the page) with the frames
 * sent and received and how it ended.
 */
export const recordSockets = (page) => {
  const sockets = []
  page.on('websocket', (ws) => {
    const record = { url: ws.url(), sent: [], received: [], errors: [], closed: false }
    sockets.push(record)
    ws.on('framesent', (frame) => record.sent.push(String(frame.payload)))
    ws.on('framereceived', (frame) => record.received.push(String(frame.payload)))
    ws.on('socketerror', (error) => record.errors.push(String(error)))
    ws.on('close', () => {
      record.closed = true
    })
  })
  return sockets
}

/**
 * Whether a socket URL is a LiveStore 0.4 sync socket (`makeWsSync` connects to
 * `<origin>/?storeId=…&payload=…&transport=ws`).
 */
export const isSyncSocketUrl = (url) => new URL(url).searchParams.get('transport') === 'ws'

/** The push `Request`s (`SyncWsRpc.Push`) among decoded frames a socket sent. */
export const pushRequests = (frames) => frames.filter((frame) => frame._tag === 'Request' && frame.tag === 'SyncWsRpc.Push')

/** The events (`eventEncoded`) carried by the pull `Chunk`s among decoded frames a socket received. */
export const pulledEvents = (frames) =>
  frames.filter((frame) => frame._tag === 'Chunk').flatMap((frame) => frame.values.flatMap((value) => value.batch.map((item) => item.eventEncoded)))

/** Decodes the `storeId` and the (URI-encoded JSON) `payload` query parameters of a sync socket URL. */
export const syncParams = (url) => {
  const params = new URL(url).searchParams
  const payload = params.get('payload')
  return { storeId: params.get('storeId'), payload: payload === null ? undefined : JSON.parse(decodeURIComponent(payload)) }
}
