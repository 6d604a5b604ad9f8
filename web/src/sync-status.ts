/**
 * Sync connection status, shared between the LiveStore leader worker (which owns
 * the sync WebSocket) and every tab showing the store.
 *
 * LiveStore 0.3.1 does not expose its sync socket's state to the page, so the
 * worker observes the sockets it opens and announces each transition on a
 * same-origin `BroadcastChannel`. A tab that opens later asks for the current
 * state with a `query` message.
 */

/** Name of the channel both sides use. */
export const SYNC_STATUS_CHANNEL = 'livestore-sync-status'

/**
 * `connecting`: handshake under way. `online`: socket open.
 * `refused`: the handshake failed (the server answered with an HTTP error such as
 * 401, or could not be reached; browsers do not tell which). `closed`: an open
 * socket closed. LiveStore keeps retrying after `refused` and `closed`.
 */
export type SyncState = 'connecting' | 'online' | 'refused' | 'closed'

/** One announcement on the channel. `attempt` counts handshakes for that store. */
export type SyncStatusMessage = { type: 'status'; storeId: string; state: SyncState; attempt: number; at: number }

/** A tab asking the leader worker to repeat its latest status. */
export type SyncStatusQuery = { type: 'query' }

/** Extracts the `storeId` query parameter of a sync URL, or undefined when it is not a sync socket. */
export const storeIdOfSyncUrl = (url: string | URL): string | undefined => {
  const parsed = new URL(url)
  if (!parsed.pathname.endsWith('/websocket')) return undefined
  return parsed.searchParams.get('storeId') ?? undefined
}

/**
 * Replaces `globalThis.WebSocket` in the current (worker) scope with a subclass
 * that reports sync socket transitions. Must run before LiveStore opens a socket.
 */
export const installSyncStatusReporter = (): void => {
  const channel = new BroadcastChannel(SYNC_STATUS_CHANNEL)
  const latest = new Map<string, SyncStatusMessage>()
  const attempts = new Map<string, number>()

  const announce = (storeId: string, state: SyncState): void => {
    const message: SyncStatusMessage = { type: 'status', storeId, state, attempt: attempts.get(storeId) ?? 0, at: Date.now() }
    latest.set(storeId, message)
    channel.postMessage(message)
  }

  channel.addEventListener('message', (event: MessageEvent<SyncStatusQuery | SyncStatusMessage>) => {
    if (event.data?.type !== 'query') return
    for (const message of latest.values()) channel.postMessage(message)
  })

  const NativeWebSocket = globalThis.WebSocket

  class ObservedWebSocket extends NativeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols)
      const storeId = storeIdOfSyncUrl(url)
      if (storeId === undefined) return
      attempts.set(storeId, (attempts.get(storeId) ?? 0) + 1)
      let opened = false
      announce(storeId, 'connecting')
      this.addEventListener('open', () => {
        opened = true
        announce(storeId, 'online')
      })
      // A failed handshake fires `error` then `close`; report it once, as `refused`.
      this.addEventListener('close', () => announce(storeId, opened ? 'closed' : 'refused'))
    }
  }

  globalThis.WebSocket = ObservedWebSocket
}

/** Listens to status announcements for one store; returns a function that stops listening. */
export const watchSyncStatus = (storeId: string, onStatus: (message: SyncStatusMessage) => void): (() => void) => {
  const channel = new BroadcastChannel(SYNC_STATUS_CHANNEL)
  channel.addEventListener('message', (event: MessageEvent<SyncStatusMessage | SyncStatusQuery>) => {
    const message = event.data
    if (message?.type === 'status' && message.storeId === storeId) onStatus(message)
  })
  channel.postMessage({ type: 'query' } satisfies SyncStatusQuery)
  return () => channel.close()
}
