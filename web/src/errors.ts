/**
 * Turns errors into sentences for the form that caused them. Codes stay out of
 * the text (they are kept in `data-code` for tests and bug reports).
 */
import { AuthApiError } from './auth-api.js'

/** What the user was doing, to word the sentence. */
export type ErrorContext = 'signup' | 'login' | 'workspace' | 'invite' | 'members' | 'leave' | 'todo'

const WORDS: Record<string, string | ((context: ErrorContext, message: string) => string)> = {
  INVALID_CREDENTIALS: 'That email and password do not match an account.',
  EMAIL_ALREADY_EXISTS: 'An account with this email already exists. Log in instead.',
  WEAK_PASSWORD: (_context, message) => `Choose a stronger password. ${message}`,
  RATE_LIMITED: 'Too many attempts in a short time. Wait a little and try again.',
  INVALID_TOKEN: 'Your session has ended. Log in again.',
  TOKEN_MISSING: 'You are not signed in. Log in again.',
  TOKEN_EXPIRED: 'Your session has expired. Log in again.',
  FORBIDDEN: (context) =>
    context === 'invite' || context === 'members'
      ? 'Only an owner of this workspace can manage its members.'
      : 'Your role in this workspace does not allow that.',
  NOT_FOUND: 'This workspace no longer exists, or you are no longer a member of it.',
  LAST_OWNER: 'A workspace needs at least one owner. Make another member an owner first.',
  INVALID_REQUEST: (_context, message) => `The auth service did not accept this: ${message}`,
  INTERNAL_ERROR: 'The auth service had a problem. Try again in a moment.',
}

/** One sentence describing `error` for a user who was doing `context`. */
export const describeError = (error: unknown, context: ErrorContext): string => {
  if (error instanceof AuthApiError) {
    if (error.code === 'NETWORK_ERROR') return 'The auth service cannot be reached. Check your connection, or whether it is running.'
    const words = WORDS[error.code]
    if (typeof words === 'function') return words(context, error.message)
    if (words !== undefined) return words
    return `Something went wrong (${error.message}).`
  }
  return `Something went wrong (${error instanceof Error ? error.message : String(error)}).`
}

/** Shows `error` (or clears it with `undefined`) in the error line of a form. */
export const showFormError = (element: HTMLElement, error: unknown, context: ErrorContext): void => {
  if (error === undefined) {
    element.textContent = ''
    element.hidden = true
    delete element.dataset.code
    return
  }
  element.textContent = describeError(error, context)
  element.hidden = false
  if (error instanceof AuthApiError) element.dataset.code = error.code
}

/** Shows a plain sentence (a notice or a local validation) in a form's error line. */
export const showFormText = (element: HTMLElement, text: string): void => {
  element.textContent = text
  element.hidden = false
  delete element.dataset.code
}
