/**
 * LiveStore leader worker: owns the SQLite databases (OPFS) and the sync socket.
 *
 * The sync backend is the origin that served this app (the sync-worker serves
 * `web/dist` and the socket at `/websocket`), so the URL is derived from the
 * worker's own location: `http(s)://host:port` becomes `ws(s)://host:port`.
 * The sync payload (`{ instanceId, authToken }`) is passed by the page to
 * `createStorePromise` and forwarded here by LiveStore.
 */
import { makeWorker } from '@livestore/adapter-web/worker'
import { makeCfSync } from '@livestore/sync-cf'

import { schema } from './livestore/schema.js'
import { installSyncStatusReporter } from './sync-status.js'

installSyncStatusReporter()

const syncOrigin = `${self.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${self.location.host}`

makeWorker({
  schema,
  sync: {
    backend: makeCfSync({ url: syncOrigin }),
    // Start from local data at once; the socket catches up in the background.
    initialSyncOptions: { _tag: 'Skip' },
  },
})
