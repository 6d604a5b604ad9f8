/**
 * Keeps the auth session in `localStorage` and refreshes the access token before it expires.
 *
 * - Stored under one key, so every tab of the origin shares the session; a tab
 *   learns about a login, refresh or logout in another tab from the `storage` event.
 * - Refresh rotates the refresh token (`/refresh`): the new one replaces the old one
 *   at once, because presenting the old one again counts as reuse and revokes the
 *   whole session. Every change of the session (adopt, refresh, clear) therefore
 *   runs under one Web Lock and reads the session from an IndexedDB ledger
 *   (see idb-kv.ts for why not localStorage) inside it, so only one tab spends a given refresh token
 *   and logout revokes the newest one.
 * - The refresh is due `lead` before `exp`: 20 % of the token's lifetime, capped at
 *   60 s and at least 1 s (900 s tokens refresh 60 s early).
 */
import { AuthApiError, type AuthApi, type Session } from './auth-api.js'
import { kvDeletePrefix, kvGet, kvPut } from './idb-kv.js'

/** localStorage key holding the JSON `StoredSession`. */
export const SESSION_STORAGE_KEY = 'livestore-demo.session'

const REFRESH_LOCK = 'livestore-demo.refresh'
const LEDGER_KEY = 'session'

const readLedger = (): Promise<StoredSession | undefined> => kvGet<StoredSession>(LEDGER_KEY)
const writeLedger = (session: StoredSession): Promise<void> => kvPut(LEDGER_KEY, session)
const clearLedger = (): Promise<void> => kvDeletePrefix(LEDGER_KEY)
const RETRY_AFTER_NETWORK_ERROR_MS = 5_000

/** The session as stored: the API's session plus how many times this session was refreshed. */
export type StoredSession = Session & { refreshCount: number }

/** Why the session changed, for the page to decide what to do. */
export type SessionChange =
  | { kind: 'refreshed'; session: StoredSession }
  | { kind: 'ended'; reason: 'logged-out-elsewhere' | 'refresh-rejected'; message: string }

/** `exp` and `iat` of a JWT, read without verifying it (the servers verify; the page only plans). */
export const readTokenTimes = (jwt: string): { exp: number; iat: number } | undefined => {
  const part = jwt.split('.')[1]
  if (part === undefined) return undefined
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
    const claims = JSON.parse(json) as { exp?: unknown; iat?: unknown }
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return undefined
    return { exp: claims.exp, iat: claims.iat }
  } catch {
    return undefined
  }
}

/**
 * The `mem` claim of an access token (instance id -> role), read without verifying;
 * undefined when the token carries none (an auth-worker that predates workspaces).
 */
export const tokenMemberships = (jwt: string): Readonly<Record<string, string>> | undefined => {
  const part = jwt.split('.')[1]
  if (part === undefined) return undefined
  try {
    const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as { mem?: unknown }
    return typeof claims.mem === 'object' && claims.mem !== null ? (claims.mem as Record<string, string>) : undefined
  } catch {
    return undefined
  }
}

/** Epoch milliseconds at which `accessToken` should be refreshed (now when it cannot be read). */
export const refreshDueAt = (accessToken: string): number => {
  const times = readTokenTimes(accessToken)
  if (times === undefined) return Date.now()
  const lifetimeMs = (times.exp - times.iat) * 1000
  const leadMs = Math.max(1_000, Math.min(60_000, lifetimeMs * 0.2))
  return times.exp * 1000 - leadMs
}

/** Owns the stored session of this origin; see the module header. */
export class TokenKeeper {
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly onStorage = (event: StorageEvent): void => this.handleStorage(event)

  constructor(
    private readonly api: AuthApi,
    private readonly onChange: (change: SessionChange) => void,
  ) {}

  /** The stored session, if any. */
  current(): StoredSession | undefined {
    const raw = localStorage.getItem(SESSION_STORAGE_KEY)
    if (raw === null) return undefined
    try {
      return JSON.parse(raw) as StoredSession
    } catch {
      localStorage.removeItem(SESSION_STORAGE_KEY)
      return undefined
    }
  }

  /** Stores a fresh session (after signup or login) and plans its refresh. */
  async adopt(session: Session): Promise<StoredSession> {
    const stored: StoredSession = { ...session, refreshCount: 0 }
    return navigator.locks.request(REFRESH_LOCK, async () => {
      await writeLedger(stored)
      this.write(stored)
      return stored
    })
  }

  /** Starts listening to other tabs and plans the refresh of the stored session. */
  start(): void {
    window.addEventListener('storage', this.onStorage)
    this.schedule()
  }

  /**
   * Forgets the session locally (no network) and returns the newest one it held, so
   * a logout revokes the refresh token in force. Other tabs see it through the storage event.
   */
  async clear(): Promise<StoredSession | undefined> {
    this.cancelTimer()
    return navigator.locks.request(REFRESH_LOCK, async () => {
      const latest = (await readLedger()) ?? this.current()
      await clearLedger()
      localStorage.removeItem(SESSION_STORAGE_KEY)
      this.cancelTimer()
      return latest
    })
  }

  /**
   * Refreshes now if the stored access token is due (or `force`), unless another tab
   * already rotated the refresh token this tab read. Returns the session in force afterwards.
   */
  async refresh(force = false): Promise<StoredSession | undefined> {
    const seen = this.current()
    if (seen === undefined) return undefined
    return navigator.locks.request(REFRESH_LOCK, async () => {
      const latest = (await readLedger()) ?? this.current()
      if (latest === undefined) return undefined
      if (latest.refreshToken !== seen.refreshToken) {
        // Another tab rotated (or logged in anew) and this tab's localStorage has not caught up yet.
        this.write(latest)
        return latest
      }
      if (!force && refreshDueAt(latest.accessToken) > Date.now()) return latest
      const next = await this.api.refresh(latest.refreshToken)
      const stored: StoredSession = { ...next, refreshCount: latest.refreshCount + 1 }
      await writeLedger(stored)
      this.write(stored)
      this.onChange({ kind: 'refreshed', session: stored })
      return stored
    })
  }

  private write(session: StoredSession): void {
    localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(session))
    this.schedule()
  }

  private schedule(): void {
    this.cancelTimer()
    const session = this.current()
    if (session === undefined) return
    const delay = Math.max(0, refreshDueAt(session.accessToken) - Date.now())
    this.timer = setTimeout(() => void this.refreshOnTimer(), delay)
  }

  private async refreshOnTimer(): Promise<void> {
    try {
      await this.refresh()
      this.schedule()
    } catch (error) {
      if (error instanceof AuthApiError && error.sessionIsGone) {
        await this.clear()
        this.onChange({ kind: 'ended', reason: 'refresh-rejected', message: 'Your session has ended (logged out elsewhere, expired or revoked). Log in again.' })
        return
      }
      // Network trouble or a 5xx: the refresh token is still good, try again shortly.
      this.cancelTimer()
      this.timer = setTimeout(() => void this.refreshOnTimer(), RETRY_AFTER_NETWORK_ERROR_MS)
    }
  }

  private handleStorage(event: StorageEvent): void {
    if (event.key !== SESSION_STORAGE_KEY && event.key !== null) return
    const session = this.current()
    if (session === undefined) {
      this.cancelTimer()
      this.onChange({ kind: 'ended', reason: 'logged-out-elsewhere', message: 'Logged out in another tab' })
      return
    }
    this.schedule()
    this.onChange({ kind: 'refreshed', session })
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}
