// Vite build of the demo app. The output (`dist/`) is served by the sync-worker
// with STATIC_DIR=web/dist, so the page and the sync socket share one origin.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

import { defineConfig, type Plugin } from 'vite'

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  )

/**
 * Writes `dist/sw.js` from `sw/sw.js` once the whole build (workers and wasm
 * included) is on disk, with the list of files to cache and a version derived
 * from their contents, so every build gets its own cache.
 */
const precache = (): Plugin => {
  let outDir = 'dist'
  return {
    name: 'precache',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    closeBundle() {
      const files = filesUnder(outDir)
        .filter((file) => !file.endsWith('.map') && !file.endsWith('sw.js'))
        .map((file) => `/${relative(outDir, file).split('\\').join('/')}`)
        .sort()
      const hash = createHash('sha256')
      for (const file of files) hash.update(file).update(readFileSync(join(outDir, file)))
      const template = readFileSync(resolve(import.meta.dirname, 'sw/sw.js'), 'utf8')
      const script = template
        .replace('/* PRECACHE_FILES */ []', JSON.stringify(files))
        .replace("/* PRECACHE_VERSION */ 'dev'", JSON.stringify(hash.digest('hex').slice(0, 16)))
      writeFileSync(join(outDir, 'sw.js'), script)
    },
  }
}

export default defineConfig({
  plugins: [precache()],
  // LiveStore's workers are ES modules (they use top-level imports of wasm glue).
  worker: { format: 'es' },
  // wa-sqlite ships its own wasm next to its JS; pre-bundling would break the relative URL.
  optimizeDeps: { exclude: ['@livestore/wa-sqlite'] },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1500 },
  // `npm run dev`: the page is served by vite, which cannot tell the LiveStore 0.4 socket
  // (`/?storeId=…&transport=ws`) from the page by path; the worker connects to
  // `VITE_SYNC_URL` (e.g. `VITE_SYNC_URL=ws://127.0.0.1:8787 npm run dev`) instead.
})
