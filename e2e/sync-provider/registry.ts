// Provider registry for LiveStore's sync-provider suite (tests/sync-provider at tag
// v0.4.0), pointing it at a running sync-worker instead of the Cloudflare providers.
// run.sh copies this file over the checkout's src/providers/registry.ts; the suite's
// own test file runs unchanged. SYNC_PROVIDER_URL is the sync-worker's base URL
// (http://127.0.0.1:<port>), SYNC_PROVIDER_KEYS optionally picks transports (ws,http).
import { makeHttpSync, makeWsSync } from '@livestore/sync-cf/client'
import { Effect, Layer } from '@livestore/utils/effect'

import { SyncProviderImpl, type SyncProviderLayer } from '../types.ts'

const url = process.env.SYNC_PROVIDER_URL
if (url === undefined || url === '') throw new Error('SYNC_PROVIDER_URL (the sync-worker base URL) is required')

interface ProviderEntry {
  readonly name: string
  readonly layer: SyncProviderLayer
  readonly prepare: Effect.Effect<void, any, any>
}

const layerOf = (makeProvider: ReturnType<typeof makeWsSync>): SyncProviderLayer =>
  Layer.succeed(SyncProviderImpl, {
    makeProvider,
    // The suite's "reconnect" case calls these; a running external server is not switched.
    turnBackendOffline: Effect.log('sync-worker: turnBackendOffline is not simulated'),
    turnBackendOnline: Effect.log('sync-worker: turnBackendOnline is not simulated'),
    providerSpecific: {},
  })

const all = {
  ws: { name: 'sync-worker WebSocket', layer: layerOf(makeWsSync({ url })), prepare: Effect.void },
  // The upstream HTTP providers poll every 200 ms in this suite; so do we.
  http: {
    name: 'sync-worker HTTP',
    layer: layerOf(makeHttpSync({ url, livePull: { pollInterval: 200 } })),
    prepare: Effect.void,
  },
} satisfies Record<string, ProviderEntry>

export type ProviderKey = keyof typeof all

const wanted = (process.env.SYNC_PROVIDER_KEYS ?? 'ws,http').split(',').map((key) => key.trim()) as ProviderKey[]
for (const key of wanted) if (!(key in all)) throw new Error(`unknown SYNC_PROVIDER_KEYS entry ${key} (ws, http)`)

export const providerRegistry = Object.fromEntries(wanted.map((key) => [key, all[key]])) as Record<ProviderKey, ProviderEntry>

export const providerKeys = wanted
