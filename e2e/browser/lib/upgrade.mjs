// A bare WebSocket handshake from node, to read the HTTP status and body with
// which the sync-worker refuses an upgrade (a browser hides both from scripts).
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'

/**
 * Sends a LiveStore 0.4 upgrade request (`/?storeId=…&payload=…&transport=ws`) for
 * `storeId` with `payload` (encoded as LiveStore does: JSON, URI-encoded, then
 * URL-encoded as a query value). Resolves with
 * `{ status, body }`; status 101 means the server accepted the socket (closed at once).
 */
export const tryUpgrade = (baseUrl, storeId, payload) =>
  new Promise((ok, fail) => {
    const query = new URLSearchParams({ storeId })
    if (payload !== undefined) query.set('payload', encodeURIComponent(JSON.stringify(payload)))
    query.set('transport', 'ws')
    const url = new URL(`/?${query}`, baseUrl)
    const req = request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
      timeout: 10_000,
    })
    req.on('upgrade', (response, socket) => {
      socket.destroy()
      ok({ status: response.statusCode, body: '' })
    })
    req.on('response', (response) => {
      let body = ''
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () => ok({ status: response.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer to the upgrade at ${url}`)))
    req.on('error', fail)
    req.end()
  })
