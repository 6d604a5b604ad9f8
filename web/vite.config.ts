// Vite build of the demo app. The output (`dist/`) is served by the sync-worker
// with STATIC_DIR=web/dist, so the page and the sync socket share one origin.
import { defineConfig } from 'vite'

const syncWorker = process.env.SYNC_WORKER_URL ?? 'http://127.0.0.1:8787'

export default defineConfig({
  // LiveStore's workers are ES modules (they use top-level imports of wasm glue).
  worker: { format: 'es' },
  // wa-sqlite ships its own wasm next to its JS; pre-bundling would break the relative URL.
  optimizeDeps: { exclude: ['@livestore/wa-sqlite'] },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1500 },
  // `npm run dev`: the page is served by vite, so forward the sync socket to the sync-worker.
  server: {
    proxy: { '/websocket': { target: syncWorker, ws: true } },
  },
})
