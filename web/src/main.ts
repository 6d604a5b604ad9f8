/**
 * Page controller: shows the auth forms or the app, and ties the token keeper,
 * the workspaces, the LiveStore store of the selected workspace and the sync
 * status together.
 *
 * Lifecycle: login/signup stores the session, lists the user's workspaces and
 * opens the store of the selected one (the last one picked on this device, else
 * the personal one); switching workspaces shuts that store down and opens the
 * other; logout shuts the store down, revokes the session at the auth-worker and
 * forgets the tokens; a logout or login in another tab is followed here.
 */
import { AuthApi, AuthApiError, resolveAuthBaseUrl, type Instance, type Member, type Role } from './auth-api.js'
import { showFormError } from './errors.js'
import { describeSyncStatus, watchSyncStatus, CLOSE_SESSION_REVOKED, type SyncErrorMessage, type SyncStatusMessage } from './sync-status.js'
import { addTodo, forgetSyncPayloads, openTodoStore, todos$, watchPendingTodoIds, type Todo, type TodoStore } from './todo-store.js'
import { TodoListView } from './todo-view.js'
import { refreshDueAt, TokenKeeper, tokenMemberships, type SessionChange, type StoredSession } from './token-keeper.js'
import { WorkspacePanel } from './workspace-panel.js'
import { setState, showMessage, ui } from './dom.js'

/** The store open for the selected workspace, with what must be undone on close. */
type OpenStore = {
  instance: Instance
  store: TodoStore | undefined
  cleanups: Array<() => void>
  todos: ReadonlyArray<Todo>
  pending: ReadonlySet<string>
}

let api: AuthApi
let keeper: TokenKeeper
let open: OpenStore | undefined
/** The user whose workspaces are shown. */
let userId: string | undefined
let instances: Instance[] = []
/** The open workspace is no longer among the user's workspaces (removed, or deleted). */
let lost = false
const todoView = new TodoListView(ui.todoList)

/** Runs page transitions one after another (login, switch, logout never interleave). */
let chain: Promise<unknown> = Promise.resolve()
const serial = <T>(task: () => Promise<T>): Promise<T> => {
  const run = chain.then(task)
  chain = run.catch(() => undefined)
  return run
}

const selectionKey = (user: string): string => `livestore-demo.workspace.${user}`

const session = (): StoredSession => {
  const current = keeper.current()
  if (current === undefined) throw new AuthApiError('INVALID_TOKEN', 'not signed in', 401)
  return current
}

/** The caller's role in the open workspace; undefined without access. */
const currentRole = (): Role | undefined => {
  if (open === undefined || lost) return undefined
  return instances.find((instance) => instance.id === open?.instance.id)?.role ?? open.instance.role ?? 'owner'
}

const renderTodos = (): void => {
  if (open?.store === undefined) return
  const role = currentRole()
  todoView.render({ store: open.store, todos: open.todos, pending: open.pending, readOnly: role === undefined || role === 'viewer' })
}

/** Shows what the caller may do in the open workspace and why not. */
const renderAccess = (): void => {
  const role = currentRole()
  panel.renderRole(role)
  const name = open?.instance.name ?? ''
  let note: string | undefined
  if (open !== undefined && lost) {
    note = `You are no longer a member of “${name}”. Syncing stopped: the todos below are this device's last copy.`
  } else if (role === 'viewer') {
    note = `You are a viewer of “${name}”: you can see its todos but not add, change or delete them. Ask an owner for editor access.`
  }
  ui.todoInput.disabled = note !== undefined
  ui.todoAdd.disabled = note !== undefined
  ui.todoReadOnly.textContent = note ?? ''
  ui.todoReadOnly.hidden = note === undefined
  panel.showNotice(lost ? `You were removed from “${name}”, or it was deleted. This device no longer syncs it.` : undefined)
  ui.todoForm.dataset.readonly = String(note !== undefined)
  renderTodos()
}

/** Reloads the workspace list (roles may have changed) and the members of the open one. */
const loadInstances = async (): Promise<void> => {
  const current = keeper.current()
  if (current === undefined) return
  let fromServer = true
  try {
    instances = await api.instances(current.accessToken)
  } catch (error) {
    // Offline or an expired token: keep what we know (the login answer lists the workspaces too).
    fromServer = false
    if (instances.length === 0) instances = current.user.instances
    if (!(error instanceof AuthApiError && (error.code === 'NETWORK_ERROR' || error.status === 401))) console.warn('listing workspaces failed', error)
  }
  if (open !== undefined && fromServer) lost = !instances.some((instance) => instance.id === open?.instance.id)
  panel.renderInstances(instances, open?.instance.id, lost ? open?.instance : undefined)
  renderAccess()
  if (open !== undefined && !lost) void loadMembers(open)
}

const loadMembers = async (target: OpenStore): Promise<void> => {
  try {
    const members = await api.members(session().accessToken, target.instance.id)
    if (open !== target || userId === undefined) return
    panel.renderMembers(members, userId, currentRole() === 'owner')
    panel.showMembersError(undefined)
  } catch (error) {
    if (open !== target) return
    if (error instanceof AuthApiError && error.code === 'NETWORK_ERROR') return
    panel.showMembersError(error)
  }
}

const onSyncStatus = (status: SyncStatusMessage): void => {
  console.info(`[demo] sync ${status.storeId}: ${status.state} (attempt ${status.attempt}${status.code ? `, ${status.code}` : ''})`)
  setState(ui.syncStatus, status.state, describeSyncStatus(status))
  ui.syncStatus.title = [status.code, status.detail].filter(Boolean).join(': ')
  if (status.state === 'revoked' || status.state === 'forbidden') void loadInstances()
  if (status.state === 'revoked' && status.code === String(CLOSE_SESSION_REVOKED)) void checkSessionStillValid()
}

const onSyncError = (error: SyncErrorMessage): void => {
  panel.showNotice(`The sync server refused a change: ${error.message}`)
  void loadInstances()
}

/** After a "session revoked" close: a refresh tells whether the session is gone for good. */
const checkSessionStillValid = async (): Promise<void> => {
  try {
    await keeper.refresh(true)
  } catch (error) {
    if (error instanceof AuthApiError && error.sessionIsGone) {
      await keeper.clear()
      await onSessionChange({ kind: 'ended', reason: 'refresh-rejected', message: 'Your session was ended (logged out elsewhere, or revoked). Log in again.' })
    }
  }
}

/** Opens the store of `instance` (closing the one open before). Not serialized: callers are. */
const openWorkspace = async (instance: Instance): Promise<void> => {
  if (open?.instance.id === instance.id && !lost) return
  await closeStore()
  if (userId !== undefined) localStorage.setItem(selectionKey(userId), instance.id)
  let current = session()
  // Access tokens carry the memberships (`mem`); a workspace joined since this one was
  // issued needs a fresh token before the sync-worker lets its store open.
  const memberships = tokenMemberships(current.accessToken)
  if (memberships !== undefined && !(instance.id in memberships)) {
    try {
      current = (await keeper.refresh(true)) ?? current
    } catch (error) {
      console.warn('refreshing the token for a new workspace failed; opening with the current one', error)
    }
  }
  console.info(`[demo] opening workspace ${instance.id}`)
  const target: OpenStore = { instance, store: undefined, cleanups: [], todos: [], pending: new Set() }
  open = target
  lost = false
  panel.clearErrors()
  panel.renderInstances(instances, instance.id, undefined)
  renderAccess()
  target.cleanups.push(watchSyncStatus(instance.id, onSyncStatus, onSyncError))
  setState(ui.storeStatus, 'opening')
  void loadMembers(target)
  try {
    // LiveStore may report the last boot stage after the store resolved; only show stages before that.
    const store = await openTodoStore(instance.id, current.accessToken, (status) => {
      if (target.store === undefined && open === target) setState(ui.storeStatus, 'opening', `opening (${status.stage})`)
    })
    if (open !== target) {
      await store.shutdownPromise()
      return
    }
    target.store = store
    target.cleanups.push(
      store.subscribe(todos$, (todos) => {
        target.todos = todos
        if (open === target) renderTodos()
      }),
    )
    target.cleanups.push(
      watchPendingTodoIds(store, (ids) => {
        target.pending = ids
        if (open === target) renderTodos()
      }),
    )
    setState(ui.storeStatus, 'ready')
    renderTodos()
  } catch (error) {
    setState(ui.storeStatus, 'error')
    showMessage(`Could not open this workspace's local copy: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** Shuts the open store down (the leader worker closes its sync socket) and clears the list. */
const closeStore = async (): Promise<void> => {
  const current = open
  open = undefined
  if (current === undefined) return
  console.info(`[demo] closing workspace ${current.instance.id}`)
  for (const cleanup of current.cleanups) cleanup()
  todoView.clear()
  panel.renderMembers([], '', false)
  setState(ui.syncStatus, 'idle')
  ui.syncStatus.title = ''
  if (current.store !== undefined) {
    setState(ui.storeStatus, 'closing')
    try {
      await current.store.shutdownPromise()
    } catch (error) {
      console.warn('store shutdown failed', error)
    }
  }
  setState(ui.storeStatus, 'closed')
}

const defaultInstance = (): Instance | undefined => instances.find((instance) => instance.isDefault) ?? instances[0]

const panel = new WorkspacePanel({
  select: (instanceId) =>
    serial(async () => {
      const instance = instances.find((candidate) => candidate.id === instanceId)
      if (instance !== undefined) await openWorkspace(instance)
    }),
  create: (name) =>
    serial(async () => {
      const instance = await api.createInstance(session().accessToken, name)
      instances = [...instances.filter((candidate) => candidate.id !== instance.id), instance]
      await openWorkspace(instance)
    }),
  invite: async (email, role) => {
    const target = open
    if (target === undefined) return
    await api.addMember(session().accessToken, target.instance.id, email, role)
    await loadMembers(target)
  },
  setRole: async (member: Member, role: Role) => {
    const target = open
    if (target === undefined) return
    await api.setMemberRole(session().accessToken, target.instance.id, member.userId, role)
    await loadMembers(target)
  },
  remove: async (member: Member) => {
    const target = open
    if (target === undefined) return
    await api.removeMember(session().accessToken, target.instance.id, member.userId)
    await loadMembers(target)
  },
  leave: () =>
    serial(async () => {
      const target = open
      if (target === undefined || userId === undefined) return
      if (!lost) await api.removeMember(session().accessToken, target.instance.id, userId)
      await closeStore()
      lost = false
      await loadInstances()
      showMessage(`You left “${target.instance.name}”.`)
      const next = defaultInstance()
      if (next !== undefined) await openWorkspace(next)
    }),
})

const renderSession = (current: StoredSession): void => {
  ui.userEmail.textContent = current.user.email
  ui.tokenRefreshAt.textContent = new Date(refreshDueAt(current.accessToken)).toLocaleTimeString()
  ui.tokenRefreshCount.textContent = String(current.refreshCount)
}

const showAuthView = (): void => {
  document.body.dataset.view = 'auth'
  ui.appView.hidden = true
  ui.authView.hidden = false
}

/** Shows the app for `current`; on a new user, lists the workspaces and opens the selected one. */
const enterApp = async (current: StoredSession): Promise<void> => {
  document.body.dataset.view = 'app'
  ui.authView.hidden = true
  ui.appView.hidden = false
  renderSession(current)
  if (userId === current.user.id && open !== undefined) {
    // A refresh: memberships and roles may have changed.
    void loadInstances()
    return
  }
  if (userId !== current.user.id) {
    await closeStore()
    userId = current.user.id
    instances = current.user.instances
  }
  await loadInstances()
  const saved = localStorage.getItem(selectionKey(current.user.id))
  const target = instances.find((instance) => instance.id === saved) ?? defaultInstance()
  if (target !== undefined) await openWorkspace(target)
}

/** Closes everything of the signed-in user. */
const leaveApp = async (): Promise<void> => {
  await closeStore()
  userId = undefined
  instances = []
  lost = false
  panel.renderInstances([], undefined, undefined)
}

const logout = async (): Promise<void> => {
  await leaveApp()
  const ended = await keeper.clear()
  await forgetSyncPayloads()
  showAuthView()
  if (ended === undefined) return
  try {
    await api.logout(ended.refreshToken)
    showMessage('Logged out.')
  } catch {
    showMessage('Logged out on this device. The auth service could not be reached to end the session there; it ends when its tokens expire.')
  }
}

async function onSessionChange(change: SessionChange): Promise<void> {
  if (change.kind === 'refreshed') {
    await serial(() => enterApp(change.session))
    return
  }
  await serial(leaveApp)
  showAuthView()
  showMessage(change.message)
}

const submitAuth = (form: HTMLFormElement, errorLine: HTMLElement, context: 'signup' | 'login', call: (email: string, password: string) => Promise<StoredSession>): void => {
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const data = new FormData(form)
    const email = String(data.get('email') ?? '')
    const password = String(data.get('password') ?? '')
    const button = form.querySelector('button')
    if (button !== null) button.disabled = true
    showMessage(undefined)
    showFormError(errorLine, undefined, context)
    call(email, password)
      .then((current) => {
        form.reset()
        return serial(() => enterApp(current))
      })
      .catch((error: unknown) => showFormError(errorLine, error, context))
      .finally(() => {
        if (button !== null) button.disabled = false
      })
  })
}

/** Caches the built app so it starts without the server (see public/sw.js). */
const registerServiceWorker = (): void => {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return
  navigator.serviceWorker.register('/sw.js').catch((error: unknown) => console.warn('service worker not registered', error))
}

const boot = async (): Promise<void> => {
  registerServiceWorker()
  api = new AuthApi(await resolveAuthBaseUrl())
  keeper = new TokenKeeper(api, (change) => void onSessionChange(change))
  ui.authBase.textContent = api.baseUrl
  submitAuth(ui.signupForm, ui.signupError, 'signup', async (email, password) => keeper.adopt(await api.signup(email, password)))
  submitAuth(ui.loginForm, ui.loginError, 'login', async (email, password) => keeper.adopt(await api.login(email, password)))
  ui.logoutButton.addEventListener('click', () => void serial(logout))
  ui.todoForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const text = ui.todoInput.value.trim()
    const role = currentRole()
    // The form is disabled for viewers; this guard keeps a viewer's event off the wire whatever the DOM says.
    if (text === '' || open?.store === undefined || role === undefined || role === 'viewer') return
    addTodo(open.store, text)
    ui.todoInput.value = ''
  })

  keeper.start()
  let current = keeper.current()
  if (current !== undefined && refreshDueAt(current.accessToken) <= Date.now()) {
    try {
      current = await keeper.refresh()
    } catch (error) {
      if (error instanceof AuthApiError && error.sessionIsGone) {
        await keeper.clear()
        current = undefined
        showMessage('Your session has ended. Log in again.')
      } else {
        // Offline: the app is local-first, open the store with the token we have.
        showMessage('Working offline: the auth service cannot be reached, changes sync when it is back.')
      }
    }
  }
  if (current === undefined) showAuthView()
  else await serial(() => enterApp(current))
}

void boot()
