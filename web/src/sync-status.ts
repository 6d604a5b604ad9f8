/**
 * Sync connection status, shared between the LiveStore leader worker (which owns
 * the sync WebSocket) and every tab showing the store.
 *
 * LiveStore 0.4.0 exposes only whether its sync backend is connected, not why a handshake
 * failed, so the worker observes the sockets it opens and announces each
 * transition on a same-origin `BroadcastChannel`. A tab that opens later asks
 * for the current state with a `query` message.
 *
 * Why a handshake failed: a browser hides the HTTP status of a refused upgrade
 * from scripts (the socket just closes with 1006). So after a failed handshake
 * the worker probes the same URL with a plain `fetch` (no upgrade). The
 * sync-worker runs its admission checks before looking at the upgrade headers,
 * so the probe gets the same answer the socket got:
 * - no answer at all (`fetch` rejects) -> `unreachable`: the server is down or
 *   the network is gone;
 * - 401 -> `refused`: the token was refused (missing, invalid, expired past the
 *   grace period, session revoked);
 * - 403 -> `forbidden`: the token is fine but its user may not open this store
 *   (not a member of the workspace, or the workspace was deleted);
 * - anything else (for example 400 "not an upgrade": the server would have let
 *   the socket in, so the failure was elsewhere; or a 5xx) -> `failed`.
 * The probe is a second request and can disagree with the first one when the
 * situation changed in between (the server came back, a member was added); the
 * next handshake corrects it.
 */

/** Name of the channel both sides use. */
export const SYNC_STATUS_CHANNEL = 'livestore-sync-status'

/**
 * `connecting`: first handshake under way. `online`: socket open.
 * `unreachable`, `refused`, `forbidden`, `failed`: the latest handshake failed, for
 * the reason in the module header; LiveStore keeps retrying (with growing pauses).
 * `revoked`: the server closed an open socket because access was withdrawn (close
 * code 4401 "session revoked" or 4403 "access revoked"). `closed`: an open socket
 * closed for another reason (server restart, network); LiveStore reconnects.
 */
export type SyncState = 'connecting' | 'online' | 'unreachable' | 'refused' | 'forbidden' | 'failed' | 'revoked' | 'closed'

/** States in which the latest handshake failed. */
export const FAILED_STATES: ReadonlySet<SyncState> = new Set(['unreachable', 'refused', 'forbidden', 'failed'])

/**
 * One announcement on the channel. `attempt` counts handshakes for that store.
 * `code` is the server's code (`TOKEN_INVALID`, `STORE_FORBIDDEN`, …) or the close
 * code of a revoked socket; `detail` the server's message or close reason.
 */
export type SyncStatusMessage = {
  type: 'status'
  storeId: string
  state: SyncState
  attempt: number
  at: number
  code?: string
  detail?: string
}

/**
 * The server failed a push (or pull) with `UnknownError`, for example a viewer's push
 * ("Forbidden: viewers cannot push to this store"); LiveStore retries it with backoff.
 */
export type SyncErrorMessage = { type: 'sync-error'; storeId: string; message: string; at: number }

/** A tab asking the leader worker to repeat its latest status. */
export type SyncStatusQuery = { type: 'query' }

type ChannelMessage = SyncStatusMessage | SyncErrorMessage | SyncStatusQuery

/** Close codes the sync-worker uses when it withdraws access from an open socket. */
export const CLOSE_SESSION_REVOKED = 4401
export const CLOSE_ACCESS_REVOKED = 4403

/**
 * Extracts the `storeId` query parameter of a sync URL (`makeWsSync` connects to
 * `<url>?storeId=…&payload=…&transport=ws`), or undefined when it is not a sync socket.
 */
export const storeIdOfSyncUrl = (url: string | URL): string | undefined => {
  const parsed = new URL(url)
  if (parsed.searchParams.get('transport') !== 'ws') return undefined
  return parsed.searchParams.get('storeId') ?? undefined
}

/** The message of an RPC `Exit` frame that failed with `UnknownError`, else undefined. */
const unknownErrorMessage = (data: string): string | undefined => {
  // Cheap filter first: pulls carry many events and almost never an error.
  if (!data.includes('"UnknownError"')) return undefined
  try {
    const frame = JSON.parse(data) as {
      _tag?: string
      exit?: { _tag?: string; cause?: { error?: { _tag?: string; cause?: { message?: unknown } } } }
    }
    const error = frame._tag === 'Exit' && frame.exit?._tag === 'Failure' ? frame.exit.cause?.error : undefined
    if (error?._tag !== 'UnknownError') return undefined
    return typeof error.cause?.message === 'string' ? error.cause.message : ''
  } catch {
    // LiveStore reports unparsable frames itself.
    return undefined
  }
}

type ProbeResult = { state: SyncState; code?: string; detail?: string }

/** Asks the same URL over plain HTTP why the handshake failed (see the module header). */
export const probeHandshake = async (url: string | URL): Promise<ProbeResult> => {
  const httpUrl = new URL(url)
  httpUrl.protocol = httpUrl.protocol === 'wss:' ? 'https:' : 'http:'
  let response: Response
  try {
    response = await fetch(httpUrl, { cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(5_000) })
  } catch {
    return { state: 'unreachable', detail: 'the sync server did not answer' }
  }
  let body: { code?: unknown; message?: unknown } = {}
  try {
    body = (await response.json()) as typeof body
  } catch {
    // Not JSON (an upgrade-required text, a proxy's page): the status says enough.
  }
  const code = typeof body.code === 'string' ? body.code : undefined
  const detail = typeof body.message === 'string' ? body.message : `HTTP ${response.status}`
  if (response.status === 401) return { state: 'refused', code, detail }
  if (response.status === 403) return { state: 'forbidden', code, detail }
  if (response.status === 502 || response.status === 503 || response.status === 504) return { state: 'unreachable', code, detail }
  return { state: 'failed', code: code ?? `HTTP_${response.status}`, detail }
}

/**
 * Replaces `globalThis.WebSocket` in the current (worker) scope with a subclass
 * that reports sync socket transitions. Must run before LiveStore opens a socket.
 */
export const installSyncStatusReporter = (): void => {
  const channel = new BroadcastChannel(SYNC_STATUS_CHANNEL)
  const latest = new Map<string, SyncStatusMessage>()
  const attempts = new Map<string, number>()
  const lastOpened = new Map<string, number>()

  const announce = (storeId: string, result: ProbeResult): void => {
    const message: SyncStatusMessage = { type: 'status', storeId, attempt: attempts.get(storeId) ?? 0, at: Date.now(), ...result }
    latest.set(storeId, message)
    channel.postMessage(message)
  }

  channel.addEventListener('message', (event: MessageEvent<ChannelMessage>) => {
    if (event.data?.type !== 'query') return
    for (const message of latest.values()) channel.postMessage(message)
  })

  const NativeWebSocket = globalThis.WebSocket

  class ObservedWebSocket extends NativeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols)
      const storeId = storeIdOfSyncUrl(url)
      if (storeId === undefined) return
      const attempt = (attempts.get(storeId) ?? 0) + 1
      attempts.set(storeId, attempt)
      let opened = false
      const previous = latest.get(storeId)?.state
      // While retrying after a failure, keep showing why the last attempt failed
      // rather than flickering to `connecting` on every retry.
      if (previous === undefined || !FAILED_STATES.has(previous)) announce(storeId, { state: 'connecting' })
      this.addEventListener('open', () => {
        opened = true
        lastOpened.set(storeId, attempt)
        announce(storeId, { state: 'online' })
      })
      this.addEventListener('message', (event: MessageEvent) => {
        if (typeof event.data !== 'string') return
        const text = unknownErrorMessage(event.data)
        if (text === undefined) return
        const message: SyncErrorMessage = { type: 'sync-error', storeId, message: text, at: Date.now() }
        channel.postMessage(message)
      })
      // A failed handshake fires `error` then `close`; report it once, after the probe.
      this.addEventListener('close', (event: CloseEvent) => {
        if (opened) {
          if (event.code === CLOSE_SESSION_REVOKED || event.code === CLOSE_ACCESS_REVOKED) {
            announce(storeId, { state: 'revoked', code: String(event.code), detail: event.reason })
          } else {
            announce(storeId, { state: 'closed', code: String(event.code), detail: event.reason })
          }
          return
        }
        void probeHandshake(url).then((result) => {
          // A later attempt may have connected meanwhile: then this failure is old news.
          if ((lastOpened.get(storeId) ?? 0) > attempt) return
          announce(storeId, result)
        })
      })
    }
  }

  globalThis.WebSocket = ObservedWebSocket
}

/** Listens to announcements for one store; returns a function that stops listening. */
export const watchSyncStatus = (
  storeId: string,
  onStatus: (message: SyncStatusMessage) => void,
  onSyncError: (message: SyncErrorMessage) => void = () => {},
): (() => void) => {
  const channel = new BroadcastChannel(SYNC_STATUS_CHANNEL)
  channel.addEventListener('message', (event: MessageEvent<ChannelMessage>) => {
    const message = event.data
    if (message?.type === 'status' && message.storeId === storeId) onStatus(message)
    if (message?.type === 'sync-error' && message.storeId === storeId) onSyncError(message)
  })
  // Ask until some status arrived: while leadership moves between tabs (a reload,
  // a closed tab) there may briefly be no leader worker to answer the first query.
  let answered = false
  const query = (): void => channel.postMessage({ type: 'query' } satisfies SyncStatusQuery)
  channel.addEventListener('message', (event: MessageEvent<ChannelMessage>) => {
    if (event.data?.type === 'status' && event.data.storeId === storeId) answered = true
  })
  query()
  const timer = setInterval(() => {
    if (answered) clearInterval(timer)
    else query()
  }, 1_000)
  return () => {
    clearInterval(timer)
    channel.close()
  }
}

/** The badge text for a status: a few words a user can act on. */
export const describeSyncStatus = (status: SyncStatusMessage): string => {
  const retry = status.attempt > 1 ? ` (retrying, attempt ${status.attempt})` : ''
  switch (status.state) {
    case 'connecting':
      return 'connecting'
    case 'online':
      return 'online'
    case 'unreachable':
      return `offline: sync server unreachable${retry}`
    case 'refused':
      return `refused by auth: sign-in not accepted${retry}`
    case 'forbidden':
      return `no access to this workspace${retry}`
    case 'failed':
      return `sync failed: ${status.detail ?? 'handshake failed'}${retry}`
    case 'revoked':
      return status.code === String(CLOSE_SESSION_REVOKED) ? 'disconnected: session ended' : 'disconnected: access withdrawn'
    case 'closed':
      return 'connection lost, reconnecting'
  }
}
