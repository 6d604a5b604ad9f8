// Makes sure the demo app is built: the test serves web/dist through the sync-worker.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { workspaceRoot } from './services.mjs'

/** The built app folder; WEB_DIST overrides it. */
export const webDist = process.env.WEB_DIST ?? join(workspaceRoot, 'web', 'dist')

const run = (args) => {
  const result = spawnSync('npm', args, { cwd: workspaceRoot, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`\`npm ${args.join(' ')}\` failed with status ${result.status}`)
}

/**
 * Builds web/dist when it has no index.html (installing web/node_modules with
 * `npm ci` first when they are missing). An existing dist is used as it is:
 * rebuild it yourself after changing web/.
 */
export const ensureWebDist = () => {
  if (existsSync(join(webDist, 'index.html'))) return webDist
  if (process.env.WEB_DIST) throw new Error(`WEB_DIST=${webDist} has no index.html`)
  const web = join(workspaceRoot, 'web')
  if (!existsSync(join(web, 'node_modules'))) run(['ci', '--prefix', web, '--no-audit', '--no-fund'])
  run(['--prefix', web, 'run', 'build'])
  return webDist
}
