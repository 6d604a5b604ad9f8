// vitest configuration for the sync-provider suite run against sync-worker (see run.sh):
// the upstream file's settings, our setup file, and only the generic test file (the
// provider-specific files target Cloudflare, Electric and S2).
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    testTimeout: 60000,
    include: ['src/sync-provider.test.ts'],
    setupFiles: ['./sync-worker-setup.ts'],
    server: { deps: { inline: ['@effect/vitest'] } },
  },
})
