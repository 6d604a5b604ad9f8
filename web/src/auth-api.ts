/**
 * Client of the auth-worker HTTP API (`/signup`, `/login`, `/refresh`, `/logout`, `/me`).
 *
 * Base URL: the `?auth=` query parameter of the page when present (for example
 * `?auth=http://127.0.0.1:9000`), otherwise the page's own host on port 8788
 * (the auth-worker's default port), with the page's scheme.
 */

/** One workspace of a user; the default one is the LiveStore store the app opens. */
export type Instance = { id: string; name: string; createdAt: string; lastAccessedAt: string; isDefault: boolean }

/** The user as the auth-worker returns it. */
export type User = { id: string; email: string; instances: Instance[] }

/** A successful signup, login or refresh. */
export type Session = { user: User; accessToken: string; refreshToken: string }

/** An error answered by the auth-worker (`code` is one of the documented codes) or a network failure (`NETWORK_ERROR`). */
export class AuthApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message)
    this.name = 'AuthApiError'
  }

  /** True when the refresh token is dead for good (revoked, rotated, expired) rather than the call failing. */
  get sessionIsGone(): boolean {
    return this.code === 'INVALID_TOKEN' || this.code === 'TOKEN_EXPIRED'
  }
}

/** Resolves the auth-worker base URL as documented in the module header. */
export const resolveAuthBaseUrl = (location: Location = window.location): string => {
  const fromQuery = new URLSearchParams(location.search).get('auth')
  if (fromQuery !== null && fromQuery !== '') return fromQuery.replace(/\/+$/, '')
  return `${location.protocol}//${location.hostname}:8788`
}

type ApiBody = {
  success?: boolean
  error?: { code?: string; message?: string }
  user?: User
  accessToken?: string
  refreshToken?: string
}

/** Thin typed wrapper over `fetch` for the auth endpoints. */
export class AuthApi {
  constructor(readonly baseUrl: string) {}

  signup(email: string, password: string): Promise<Session> {
    return this.session('/signup', { email, password })
  }

  login(email: string, password: string): Promise<Session> {
    return this.session('/login', { email, password })
  }

  /** Rotates the refresh token: the one passed in is dead afterwards, keep the returned one. */
  refresh(refreshToken: string): Promise<Session> {
    return this.session('/refresh', { refreshToken })
  }

  async logout(refreshToken: string): Promise<void> {
    await this.call('POST', '/logout', { refreshToken })
  }

  async me(accessToken: string): Promise<User> {
    const body = await this.call('GET', '/me', undefined, accessToken)
    if (body.user === undefined) throw new AuthApiError('INVALID_RESPONSE', 'auth-worker answered without a user', 200)
    return body.user
  }

  private async session(path: string, payload: unknown): Promise<Session> {
    const body = await this.call('POST', path, payload)
    if (body.user === undefined || body.accessToken === undefined || body.refreshToken === undefined) {
      throw new AuthApiError('INVALID_RESPONSE', `auth-worker answered ${path} without tokens`, 200)
    }
    return { user: body.user, accessToken: body.accessToken, refreshToken: body.refreshToken }
  }

  private async call(method: 'GET' | 'POST', path: string, payload?: unknown, bearer?: string): Promise<ApiBody> {
    const headers: Record<string, string> = {}
    if (payload !== undefined) headers['Content-Type'] = 'application/json'
    if (bearer !== undefined) headers.Authorization = `Bearer ${bearer}`
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
      })
    } catch (error) {
      throw new AuthApiError('NETWORK_ERROR', `cannot reach the auth service at ${this.baseUrl}: ${String(error)}`, 0)
    }
    let body: ApiBody
    try {
      body = (await response.json()) as ApiBody
    } catch {
      throw new AuthApiError('INVALID_RESPONSE', `auth-worker answered ${path} with HTTP ${response.status} and no JSON`, response.status)
    }
    if (!response.ok || body.success === false) {
      throw new AuthApiError(
        body.error?.code ?? 'UNKNOWN_ERROR',
        body.error?.message ?? `HTTP ${response.status}`,
        response.status,
      )
    }
    return body
  }
}
