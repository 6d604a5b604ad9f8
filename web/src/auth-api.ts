/**
 * Client of the auth-worker HTTP API: accounts (`/signup`, `/login`, `/refresh`,
 * `/logout`, `/me`) and workspaces (`/instances`, `/instances/{id}/members`).
 *
 * Base URL (see `resolveAuthBaseUrl`): the `?auth=` query parameter of the page
 * when present, else `authUrl` from the `/config.json` the serving origin answers,
 * else the page's own host on port 8788 (the auth-worker's default port).
 */

/** A member's role in a workspace: owner (everything), editor (read and write), viewer (read only). */
export type Role = 'owner' | 'editor' | 'viewer'

/** One workspace ("instance") of a user; its id is the id of its LiveStore store. */
export type Instance = {
  id: string
  name: string
  /** Absent from auth-workers that predate roles; treat as owner of one's own workspace. */
  role?: Role
  createdAt: string
  lastAccessedAt: string
  isDefault: boolean
}

/** One member of a workspace. */
export type Member = { userId: string; email: string; role: Role }

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
    return this.code === 'INVALID_TOKEN' || this.code === 'TOKEN_EXPIRED' || this.code === 'TOKEN_MISSING'
  }
}

/** What `/config.json` on the serving origin may hold (all optional). */
export type AppConfig = { authUrl?: string }

/**
 * Resolves the auth-worker base URL: `?auth=` wins (links and tests), then
 * `authUrl` from `/config.json` (the deployment tells the app where auth lives;
 * the service worker keeps the last answer for offline starts), then the page's
 * host on port 8788 with the page's scheme.
 */
export const resolveAuthBaseUrl = async (location: Location = window.location): Promise<string> => {
  const fromQuery = new URLSearchParams(location.search).get('auth')
  if (fromQuery !== null && fromQuery !== '') return fromQuery.replace(/\/+$/, '')
  try {
    const response = await fetch('/config.json', { cache: 'no-store', signal: AbortSignal.timeout(3_000) })
    if (response.ok && (response.headers.get('content-type') ?? '').includes('json')) {
      const config = (await response.json()) as AppConfig
      if (typeof config.authUrl === 'string' && config.authUrl !== '') return config.authUrl.replace(/\/+$/, '')
    }
  } catch {
    // No config served (or offline without a cached one): use the default below.
  }
  return `${location.protocol}//${location.hostname}:8788`
}

type ApiBody = {
  success?: boolean
  error?: { code?: string; message?: string }
  user?: User
  accessToken?: string
  refreshToken?: string
  instances?: Instance[]
  instance?: Instance
  members?: Member[]
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'

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

  /** Every workspace the caller is a member of, with the caller's role. */
  async instances(accessToken: string): Promise<Instance[]> {
    const body = await this.call('GET', '/instances', undefined, accessToken)
    return body.instances ?? []
  }

  /** Creates a workspace owned by the caller. */
  async createInstance(accessToken: string, name: string): Promise<Instance> {
    const body = await this.call('POST', '/instances', { name }, accessToken)
    if (body.instance === undefined) throw new AuthApiError('INVALID_RESPONSE', 'auth-worker answered without the instance', 201)
    return body.instance
  }

  async members(accessToken: string, instanceId: string): Promise<Member[]> {
    const body = await this.call('GET', `/instances/${encodeURIComponent(instanceId)}/members`, undefined, accessToken)
    return body.members ?? []
  }

  /** Adds (or invites, when no account has that email yet) a member; the answer does not tell which. */
  async addMember(accessToken: string, instanceId: string, email: string, role: Role): Promise<void> {
    await this.call('POST', `/instances/${encodeURIComponent(instanceId)}/members`, { email, role }, accessToken)
  }

  async setMemberRole(accessToken: string, instanceId: string, userId: string, role: Role): Promise<void> {
    await this.call('PATCH', this.memberPath(instanceId, userId), { role }, accessToken)
  }

  /** Removes a member; with the caller's own id, leaves the workspace. */
  async removeMember(accessToken: string, instanceId: string, userId: string): Promise<void> {
    await this.call('DELETE', this.memberPath(instanceId, userId), undefined, accessToken)
  }

  private memberPath(instanceId: string, userId: string): string {
    return `/instances/${encodeURIComponent(instanceId)}/members/${encodeURIComponent(userId)}`
  }

  private async session(path: string, payload: unknown): Promise<Session> {
    const body = await this.call('POST', path, payload)
    if (body.user === undefined || body.accessToken === undefined || body.refreshToken === undefined) {
      throw new AuthApiError('INVALID_RESPONSE', `auth-worker answered ${path} without tokens`, 200)
    }
    return { user: body.user, accessToken: body.accessToken, refreshToken: body.refreshToken }
  }

  private async call(method: Method, path: string, payload?: unknown, bearer?: string): Promise<ApiBody> {
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
