/**
 * The page's fixed elements (index.html), looked up once, and small DOM helpers
 * shared by the controllers.
 */

/** The element with `id`; fails loudly when index.html lacks it. */
export const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`index.html lacks #${id}`)
  return element as T
}

/** The element with `data-testid="testId"`; fails loudly when index.html lacks it. */
export const byTestId = <T extends HTMLElement>(testId: string): T => {
  const element = document.querySelector<T>(`[data-testid="${testId}"]`)
  if (element === null) throw new Error(`index.html lacks [data-testid="${testId}"]`)
  return element
}

/** The page's fixed elements. */
export const ui = {
  authBase: byId('auth-base'),
  authView: byId('auth-view'),
  appView: byId('app-view'),
  signupForm: byId<HTMLFormElement>('signup-form'),
  signupError: byTestId('signup-error'),
  loginForm: byId<HTMLFormElement>('login-form'),
  loginError: byTestId('login-error'),
  message: byId('message'),
  userEmail: byId('user-email'),
  syncStatus: byId('sync-status'),
  storeStatus: byId('store-status'),
  tokenRefreshAt: byId('token-refresh-at'),
  tokenRefreshCount: byId('token-refresh-count'),
  logoutButton: byId<HTMLButtonElement>('logout-button'),
  todoForm: byId<HTMLFormElement>('todo-form'),
  todoInput: byId<HTMLInputElement>('todo-input'),
  todoAdd: byTestId<HTMLButtonElement>('todo-add'),
  todoReadOnly: byTestId('todo-readonly'),
  todoList: byId<HTMLUListElement>('todo-list'),
}

/** Shows (or hides, with undefined) the page-level message line. */
export const showMessage = (text: string | undefined): void => {
  ui.message.textContent = text ?? ''
  ui.message.hidden = text === undefined
}

/** Sets a status element's `data-state` and its text. */
export const setState = (element: HTMLElement, state: string, label = state): void => {
  element.dataset.state = state
  element.textContent = label
}

