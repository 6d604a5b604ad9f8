/**
 * LiveStore leader worker: owns the SQLite databases (OPFS) and the sync socket.
 *
 * The sync backend is the origin that served this app (the sync-worker serves
 * `web/dist` and the LiveStore 0.4 socket on any path), so the URL is derived from
 * the worker's own location: `http(s)://host:port` becomes `ws(s)://host:port`, to
 * which `makeWsSync` appends `?storeId=…&payload=…&transport=ws`. Under `npm run dev`
 * (the page served by vite) `VITE_SYNC_URL` names the sync-worker instead.
 * The sync payload (`{ instanceId, authToken }`) is passed by the page to
 * `createStorePromise` and forwarded here by LiveStore.
 */
import { makeWorker } from '@livestore/adapter-web/worker'
import { makeWsSync } from '@livestore/sync-cf/client'

import { schema } from './livestore/schema.js'
import { installSyncStatusReporter } from './sync-status.js'

installSyncStatusReporter()

const syncOrigin =
  (import.meta.env.VITE_SYNC_URL as string | undefined) ?? `${self.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${self.location.host}`

makeWorker({
  schema,
  sync: {
    backend: makeWsSync({ url: syncOrigin }),
    // Start from local data at once; the socket catches up in the background.
    initialSyncOptions: { _tag: 'Skip' },
  },
})
