/**
 * Page controller: shows the auth forms or the todo list, and ties the token
 * keeper, the LiveStore store and the sync status together.
 *
 * Lifecycle: login/signup stores the session and opens the user's store; logout
 * shuts the store down, revokes the session at the auth-worker and forgets the
 * tokens; a logout or login in another tab of the same origin is followed here.
 */
import { AuthApi, AuthApiError, resolveAuthBaseUrl } from './auth-api.js'
import { watchSyncStatus, type SyncStatusMessage } from './sync-status.js'
import { addTodo, forgetSyncPayloads, openTodoStore, storeIdOf, todos$, toggleTodo, type Todo, type TodoStore } from './todo-store.js'
import { refreshDueAt, TokenKeeper, type SessionChange, type StoredSession } from './token-keeper.js'

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`index.html lacks #${id}`)
  return element as T
}

const ui = {
  authBase: byId('auth-base'),
  authView: byId('auth-view'),
  appView: byId('app-view'),
  signupForm: byId<HTMLFormElement>('signup-form'),
  loginForm: byId<HTMLFormElement>('login-form'),
  message: byId('message'),
  userEmail: byId('user-email'),
  syncStatus: byId('sync-status'),
  storeStatus: byId('store-status'),
  tokenRefreshAt: byId('token-refresh-at'),
  tokenRefreshCount: byId('token-refresh-count'),
  logoutButton: byId<HTMLButtonElement>('logout-button'),
  todoForm: byId<HTMLFormElement>('todo-form'),
  todoInput: byId<HTMLInputElement>('todo-input'),
  todoList: byId<HTMLUListElement>('todo-list'),
}

/** The store currently open for a signed-in user, with what must be undone on close. */
type OpenSession = { userId: string; store: TodoStore | undefined; cleanups: Array<() => void> }

const api = new AuthApi(resolveAuthBaseUrl())
const keeper = new TokenKeeper(api, (change) => void onSessionChange(change))
let open: OpenSession | undefined

const showMessage = (text: string | undefined): void => {
  ui.message.textContent = text ?? ''
  ui.message.hidden = text === undefined
}

const setState = (element: HTMLElement, state: string, label = state): void => {
  element.dataset.state = state
  element.textContent = label
}

const renderSession = (session: StoredSession): void => {
  ui.userEmail.textContent = session.user.email
  ui.tokenRefreshAt.textContent = new Date(refreshDueAt(session.accessToken)).toLocaleTimeString()
  ui.tokenRefreshCount.textContent = String(session.refreshCount)
}

const renderSync = (status: SyncStatusMessage): void => {
  setState(ui.syncStatus, status.state, status.state === 'refused' ? `refused (attempt ${status.attempt})` : status.state)
}

const renderTodos = (store: TodoStore, todos: ReadonlyArray<Todo>): void => {
  const items = todos.map((todo) => {
    const item = document.createElement('li')
    item.dataset.testid = 'todo-item'
    item.dataset.todoId = todo.id
    item.dataset.completed = String(todo.completed)
    const toggle = document.createElement('input')
    toggle.type = 'checkbox'
    toggle.checked = todo.completed
    toggle.dataset.testid = 'todo-toggle'
    toggle.addEventListener('change', () => toggleTodo(store, todo))
    const text = document.createElement('span')
    text.className = 'text'
    text.dataset.testid = 'todo-text'
    text.textContent = todo.text
    item.append(toggle, text)
    return item
  })
  ui.todoList.replaceChildren(...items)
}

const showAuthView = (): void => {
  document.body.dataset.view = 'auth'
  ui.appView.hidden = true
  ui.authView.hidden = false
}

/** Shows the app for `session` and opens its user's store unless it is already open. */
const enterApp = async (session: StoredSession): Promise<void> => {
  document.body.dataset.view = 'app'
  ui.authView.hidden = true
  ui.appView.hidden = false
  renderSession(session)
  if (open?.userId === session.user.id) return
  await leaveApp()

  const current: OpenSession = { userId: session.user.id, store: undefined, cleanups: [] }
  open = current
  current.cleanups.push(watchSyncStatus(storeIdOf(session.user), renderSync))
  setState(ui.storeStatus, 'opening')
  try {
    // LiveStore may report the last boot stage after the store resolved; only show stages before that.
    const store = await openTodoStore(session.user, session.accessToken, (status) => {
      if (current.store === undefined && open === current) setState(ui.storeStatus, 'opening', `opening (${status.stage})`)
    })
    if (open !== current) {
      // Logged out while the store was booting.
      await store.shutdown()
      return
    }
    current.store = store
    current.cleanups.push(store.subscribe(todos$, { onUpdate: (todos) => renderTodos(store, todos) }))
    setState(ui.storeStatus, 'ready')
  } catch (error) {
    setState(ui.storeStatus, 'error')
    showMessage(`Could not open the local store: ${String(error)}`)
  }
}

/** Shuts the open store down (the leader worker closes its sync socket) and clears the list. */
const leaveApp = async (): Promise<void> => {
  const current = open
  open = undefined
  if (current === undefined) return
  for (const cleanup of current.cleanups) cleanup()
  ui.todoList.replaceChildren()
  setState(ui.syncStatus, 'idle')
  if (current.store !== undefined) {
    setState(ui.storeStatus, 'closing')
    try {
      await current.store.shutdown()
    } catch (error) {
      console.warn('store shutdown failed', error)
    }
  }
  setState(ui.storeStatus, 'closed')
}

const logout = async (): Promise<void> => {
  await leaveApp()
  const session = await keeper.clear()
  await forgetSyncPayloads()
  showAuthView()
  if (session === undefined) return
  try {
    await api.logout(session.refreshToken)
    showMessage('Logged out.')
  } catch (error) {
    showMessage(`Logged out on this device; the auth service was not told: ${String(error)}`)
  }
}

async function onSessionChange(change: SessionChange): Promise<void> {
  if (change.kind === 'refreshed') {
    await enterApp(change.session)
    return
  }
  await leaveApp()
  showAuthView()
  showMessage(change.message)
}

const credentials = (form: HTMLFormElement): { email: string; password: string } => {
  const data = new FormData(form)
  return { email: String(data.get('email') ?? ''), password: String(data.get('password') ?? '') }
}

const submitAuth = (form: HTMLFormElement, call: (email: string, password: string) => Promise<StoredSession>): void => {
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const { email, password } = credentials(form)
    const button = form.querySelector('button')
    if (button !== null) button.disabled = true
    showMessage(undefined)
    call(email, password)
      .then((session) => {
        form.reset()
        return enterApp(session)
      })
      .catch((error: unknown) => {
        showMessage(error instanceof AuthApiError ? `${error.code}: ${error.message}` : String(error))
      })
      .finally(() => {
        if (button !== null) button.disabled = false
      })
  })
}

const boot = async (): Promise<void> => {
  ui.authBase.textContent = api.baseUrl
  submitAuth(ui.signupForm, async (email, password) => keeper.adopt(await api.signup(email, password)))
  submitAuth(ui.loginForm, async (email, password) => keeper.adopt(await api.login(email, password)))
  ui.logoutButton.addEventListener('click', () => void logout())
  ui.todoForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const text = ui.todoInput.value.trim()
    if (text === '' || open?.store === undefined) return
    addTodo(open.store, text)
    ui.todoInput.value = ''
  })

  keeper.start()
  let session = keeper.current()
  if (session !== undefined && refreshDueAt(session.accessToken) <= Date.now()) {
    try {
      session = await keeper.refresh()
    } catch (error) {
      if (error instanceof AuthApiError && error.sessionIsGone) {
        await keeper.clear()
        session = undefined
        showMessage(`Session ended: ${error.code}`)
      } else {
        // Offline: the app is local-first, open the store with the token we have.
        showMessage(`Could not refresh the session yet: ${String(error)}`)
      }
    }
  }
  if (session === undefined) showAuthView()
  else await enterApp(session)
}

void boot()
