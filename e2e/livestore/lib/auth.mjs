// Talking to auth-worker over HTTP like the frontend does, and minting test tokens with
// jose (HS256) for the cases the API cannot produce on demand: a token that expired a
// minute ago, and a token signed with another secret.
import { randomUUID } from 'node:crypto'

import { decodeJwt, SignJWT } from 'jose'

import { randomSecret } from './services.mjs'

const PASSWORD = 'Sync-Scenario-42!'

/**
 * POST /signup with a fresh email. Returns the user id, the default instance id and the
 * tokens, after checking the response has the documented shape.
 */
export async function signUp(authUrl, label = 'user') {
  const email = `${label}-${randomUUID()}@e2e.example.com`
  const response = await fetch(`${authUrl}/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  })
  const body = await response.json().catch(() => null)
  if (response.status !== 200 && response.status !== 201) {
    throw new Error(`signup failed: HTTP ${response.status} ${JSON.stringify(body)}`)
  }
  if (body?.success !== true || typeof body.accessToken !== 'string' || typeof body.refreshToken !== 'string') {
    throw new Error(`signup response lacks success/accessToken/refreshToken: ${JSON.stringify(body)}`)
  }
  const instance = body.user?.instances?.find((i) => i.isDefault === true)
  if (typeof body.user?.id !== 'string' || instance === undefined) {
    throw new Error(`signup response lacks user.id or a default instance: ${JSON.stringify(body.user)}`)
  }
  return {
    email: body.user.email ?? email,
    userId: body.user.id,
    instanceId: instance.id,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
  }
}

/** The session id (`sid` claim) of an access token auth-worker issued. */
export const sessionIdOf = (accessToken) => decodeJwt(accessToken).sid

/**
 * An access token with the claims auth-worker issues (sub/userId/email/iat/exp/iss/jti/
 * sid/typ, and the memberships `mem` {instanceId: role} with their version `mv`), signed
 * HS256 with `secret`. `expiresInSeconds` may be negative. `sid` should be a real
 * session's id when the token must look like one auth-worker issued. With
 * STORE_ACCESS=members (the default) a token opens only the stores listed in `mem`.
 */
export async function mintAccessToken({
  secret,
  userId,
  email,
  sid = randomUUID(),
  expiresInSeconds,
  issuer = 'auth-worker',
  ttlSeconds = 900,
  mem = {},
  mv = 0,
}) {
  const now = Math.floor(Date.now() / 1000)
  const exp = now + expiresInSeconds
  return new SignJWT({ userId, email, jti: randomUUID(), sid, typ: 'access', mem, mv })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(issuer)
    .setIssuedAt(exp - ttlSeconds)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret))
}

/** A well-formed, unexpired access token for `user`, signed with a secret nobody shares. */
export const mintForeignToken = (user) =>
  mintAccessToken({
    secret: randomSecret(),
    userId: user.userId,
    email: user.email,
    sid: sessionIdOf(user.accessToken),
    expiresInSeconds: 900,
    mem: { [user.instanceId]: 'owner' },
  })

export const INSECURE_DEV_TOKEN = 'insecure-token-change-me'
