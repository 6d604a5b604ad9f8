// vitest setup for the sync-provider suite on Node 20: the 0.4 WebSocket client uses the
// global WebSocket (Node 20 has none without a flag), and @effect/platform-node installs
// npm undici's Agent as the global dispatcher, which Node 20's built-in fetch cannot
// drive ("invalid content-length header"), so fetch comes from the same undici.
import { fetch as undiciFetch } from 'undici'
import { WebSocket } from 'ws'

if (globalThis.WebSocket === undefined) (globalThis as { WebSocket: unknown }).WebSocket = WebSocket
globalThis.fetch = undiciFetch as unknown as typeof globalThis.fetch
