// Starts the auth-worker and sync-worker binaries for the browser test: free
// loopback ports, fresh temp databases, logs captured to files, readiness awaited
// over HTTP, and a clean SIGTERM stop.
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'

/** The e2e/browser folder, whatever the current directory. */
export const packageRoot = resolve(import.meta.dirname, '..')

/** The workspace root (two levels above e2e/browser). */
export const workspaceRoot = resolve(packageRoot, '../..')

/**
 * Path of a service binary: `<ENV_NAME>` when set, else `$CARGO_TARGET_DIR/debug/<name>`
 * when CARGO_TARGET_DIR is set, else `../../target/debug/<name>` from e2e/browser.
 */
export const binaryPath = (name, envName) => {
  const fromEnv = process.env[envName]
  if (fromEnv) return resolve(fromEnv)
  const targetDir = process.env.CARGO_TARGET_DIR ? resolve(workspaceRoot, process.env.CARGO_TARGET_DIR) : join(workspaceRoot, 'target')
  return join(targetDir, 'debug', name)
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export const freePort = () =>
  new Promise((ok, fail) => {
    const server = createServer()
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => ok(port))
    })
  })

/**
 * Spawns `bin` with `env` (on top of PATH/HOME only, so a developer's shell does
 * not leak settings in) in `cwd`, and waits until GET `readyPath` answers 200.
 * Returns `{ name, url, port, logFile, logText(), stop() }`.
 */
export const startService = async ({ name, bin, env, cwd, logDir, readyPath, readyTimeoutMs = 30_000 }) => {
  if (!existsSync(bin)) {
    throw new Error(`${name} binary not found at ${bin}; build it with \`cargo build -p ${name}\` or set the path in the environment`)
  }
  const port = Number(env.PORT)
  const url = `http://127.0.0.1:${port}`
  const logFile = join(logDir, `${name}-${port}.log`)
  const logStream = createWriteStream(logFile)
  let logText = ''
  const child = spawn(bin, [], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', RUST_LOG: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const collect = (chunk) => {
    logText += chunk.toString()
    logStream.write(chunk)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  let exited = null
  const exit = new Promise((ok) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      ok(exited)
    }),
  )

  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (exited) throw new Error(`${name} exited during start-up (${JSON.stringify(exited)}); log ${logFile}:\n${logText}`)
    try {
      const response = await fetch(`${url}${readyPath}`, { signal: AbortSignal.timeout(1_000) })
      if (response.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} not ready on ${url}${readyPath} after ${readyTimeoutMs} ms; log ${logFile}:\n${logText}`)
    }
    await delay(100)
  }

  return {
    name,
    url,
    port,
    logFile,
    logText: () => logText,
    /** SIGTERM, then SIGKILL after 10 s; resolves with the exit status. */
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exit
        clearTimeout(killer)
      }
      logStream.end()
      return exited
    },
  }
}
