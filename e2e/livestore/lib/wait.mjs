// Bounded waiting: poll a condition until it holds or a deadline passes. Every wait in
// the scenario goes through here so that nothing waits forever and every timeout says
// what it was waiting for and what it saw last.
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Calls `probe` until `accept(value)` is true. Returns the accepted value; throws after
 * `timeoutMs` with `what` and the last value seen.
 */
export async function waitUntil(what, probe, accept = Boolean, { timeoutMs = 15_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs
  let last
  let lastError
  for (;;) {
    try {
      last = await probe()
      lastError = undefined
      if (accept(last)) return last
    } catch (error) {
      // An error marked terminal (e.g. the probed process is gone) ends the wait at once.
      if (error?.terminal === true) throw error
      lastError = error
    }
    if (Date.now() >= deadline) {
      const seen = lastError ? `error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`)
    }
    await sleep(intervalMs)
  }
}

/** Rejects with a clear message if `promise` does not settle within `timeoutMs`. */
export async function withTimeout(what, promise, timeoutMs) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
