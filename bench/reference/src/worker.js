// The Cloudflare original, as `just bench-compare` runs it: @livestore/sync-cf 0.3.1's own
// worker and Durable Object, unchanged. Only the payload check is ours: it accepts every
// token, because sync-bench mints HS256 tokens the original cannot verify, and auth is
// not what the comparison measures (sync-worker checks every token and is still timed
// with that cost included).
import { makeDurableObject, makeWorker } from '@livestore/sync-cf/cf-worker'

export class WebSocketServer extends makeDurableObject({}) {}

export default makeWorker({
  validatePayload: () => {},
})
