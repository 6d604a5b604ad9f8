// Service worker of the demo app: keeps the built app in the Cache Storage so the
// page (and LiveStore's workers and wasm) start while the server that serves them
// is down. The build (vite.config.ts, plugin `precache`) replaces the two
// placeholders below with the build's file list and a hash of it.
//
// - Install: cache every built file, `/` (index.html) and `/config.json` when served.
// - Page loads (navigations) and `/config.json`: network first, so a new deploy or
//   configuration shows at once; the cached copy when the network fails.
// - Other built files: cache first (their names carry content hashes).
// - Never touched: the sync socket and its probes (any URL whose query has
//   `transport`, as LiveStore 0.4's `?storeId=…&transport=ws`, or a path ending in
//   `/websocket`, as 0.3.1's), other origins (the auth service), non-GET requests.
// - Activate: drop the caches of older builds.

const PRECACHE = /* PRECACHE_FILES */ []
const VERSION = /* PRECACHE_VERSION */ 'dev'
const CACHE = `livestore-demo-${VERSION}`

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then(async (cache) => {
        await cache.addAll(['/', ...PRECACHE])
        // The deployment's configuration, when it serves one, for starts without the server.
        const config = await fetch('/config.json', { cache: 'no-store' }).catch(() => undefined)
        if (config?.ok) await cache.put('/config.json', config)
      })
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith('livestore-demo-') && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  )
})

// `ignoreVary`: the server's CORS layer answers with `Vary: origin, …`, and module
// scripts and workers are requested with an `Origin` header the precache requests
// lacked, so a Vary-respecting lookup would miss every built script.
const networkFirst = async (request, fallbackUrl) => {
  const cache = await caches.open(CACHE)
  try {
    const response = await fetch(request)
    if (response.ok) await cache.put(fallbackUrl ?? request, response.clone())
    return response
  } catch (error) {
    const cached = await cache.match(fallbackUrl ?? request, { ignoreSearch: true, ignoreVary: true })
    if (cached) return cached
    throw error
  }
}

const cacheFirst = async (request) => {
  const cache = await caches.open(CACHE)
  const cached = await cache.match(request, { ignoreSearch: true, ignoreVary: true })
  if (cached) return cached
  const response = await fetch(request)
  if (response.ok) await cache.put(request, response.clone())
  return response
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (url.searchParams.has('transport') || url.pathname.endsWith('/websocket')) return
  if (request.mode === 'navigate') return event.respondWith(networkFirst(request, '/'))
  if (url.pathname === '/config.json') return event.respondWith(networkFirst(request))
  event.respondWith(cacheFirst(request))
})
