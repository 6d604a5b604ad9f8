/**
 * The workspace panel: switcher, create form, members (with invite, role change
 * and removal for owners) and "leave". Only DOM and events live here; main.ts
 * decides what the actions do.
 */
import type { Instance, Member, Role } from './auth-api.js'
import { byTestId } from './dom.js'
import { showFormError, showFormText, type ErrorContext } from './errors.js'

/** What the panel asks main.ts to do; each returns when done and throws to show an error by its form. */
export type WorkspaceActions = {
  select(instanceId: string): Promise<void>
  create(name: string): Promise<void>
  invite(email: string, role: Role): Promise<void>
  setRole(member: Member, role: Role): Promise<void>
  remove(member: Member): Promise<void>
  leave(): Promise<void>
}

const ROLES: ReadonlyArray<Role> = ['owner', 'editor', 'viewer']

/** DOM of the panel. */
export class WorkspacePanel {
  readonly select = byTestId<HTMLSelectElement>('workspace-select')
  readonly role = byTestId('workspace-role')
  readonly notice = byTestId('workspace-notice')
  readonly createForm = byTestId<HTMLFormElement>('workspace-create-form')
  readonly createError = byTestId('workspace-create-error')
  readonly memberList = byTestId<HTMLUListElement>('member-list')
  readonly membersError = byTestId('members-error')
  readonly inviteForm = byTestId<HTMLFormElement>('invite-form')
  readonly inviteError = byTestId('invite-error')
  readonly inviteNotice = byTestId('invite-notice')
  readonly leaveButton = byTestId<HTMLButtonElement>('leave-button')
  readonly leaveError = byTestId('leave-error')

  constructor(private readonly actions: WorkspaceActions) {
    this.select.addEventListener('change', () => {
      this.clearErrors()
      void this.run(this.leaveError, 'workspace', () => actions.select(this.select.value))
    })
    this.createForm.addEventListener('submit', (event) => {
      event.preventDefault()
      const name = String(new FormData(this.createForm).get('name') ?? '').trim()
      if (name === '') return showFormText(this.createError, 'Give the workspace a name.')
      void this.run(this.createError, 'workspace', async () => {
        await actions.create(name)
        this.createForm.reset()
      }, this.createForm)
    })
    this.inviteForm.addEventListener('submit', (event) => {
      event.preventDefault()
      const data = new FormData(this.inviteForm)
      const email = String(data.get('email') ?? '').trim()
      const role = String(data.get('role') ?? 'editor') as Role
      this.inviteNotice.hidden = true
      void this.run(this.inviteError, 'invite', async () => {
        await actions.invite(email, role)
        this.inviteForm.reset()
        showFormText(
          this.inviteNotice,
          `${email} can now open this workspace as ${role}. Without an account yet, they get access when they sign up with this address.`,
        )
      }, this.inviteForm)
    })
    this.leaveButton.addEventListener('click', () => void this.run(this.leaveError, 'leave', () => actions.leave()))
  }

  /** Runs an action with its form disabled; shows a failure in `errorLine`. */
  private async run(errorLine: HTMLElement, context: ErrorContext, action: () => Promise<void>, form?: HTMLFormElement): Promise<void> {
    showFormError(errorLine, undefined, context)
    const controls = form?.querySelectorAll<HTMLButtonElement | HTMLInputElement>('button, input, select') ?? []
    for (const control of controls) control.disabled = true
    try {
      await action()
    } catch (error) {
      showFormError(errorLine, error, context)
    } finally {
      for (const control of controls) control.disabled = false
    }
  }

  clearErrors(): void {
    for (const line of [this.createError, this.membersError, this.inviteError, this.leaveError]) showFormError(line, undefined, 'workspace')
    this.inviteNotice.hidden = true
  }

  /** Fills the switcher; `lost` is the open workspace when the user is no longer a member of it. */
  renderInstances(instances: ReadonlyArray<Instance>, selectedId: string | undefined, lost: Instance | undefined): void {
    const options = instances.map((instance) => {
      const option = document.createElement('option')
      option.value = instance.id
      option.textContent = `${instance.name}${instance.isDefault ? ' (personal)' : ''} · ${instance.role ?? 'owner'}`
      option.dataset.role = instance.role ?? 'owner'
      return option
    })
    if (lost !== undefined) {
      const option = document.createElement('option')
      option.value = lost.id
      option.textContent = `${lost.name} · no access`
      option.disabled = true
      options.push(option)
    }
    this.select.replaceChildren(...options)
    if (selectedId !== undefined) this.select.value = selectedId
  }

  /** Shows the caller's role and what it allows; `undefined` while unknown or without access. */
  renderRole(role: Role | undefined): void {
    this.role.textContent = role ?? 'none'
    this.role.dataset.role = role ?? 'none'
    this.inviteForm.hidden = role !== 'owner'
  }

  showNotice(text: string | undefined): void {
    this.notice.textContent = text ?? ''
    this.notice.hidden = text === undefined
  }

  showMembersError(error: unknown): void {
    showFormError(this.membersError, error, 'members')
  }

  /** Lists the members; owners get a role picker and a remove button for the others. */
  renderMembers(members: ReadonlyArray<Member>, selfId: string, callerIsOwner: boolean): void {
    this.memberList.replaceChildren(
      ...members.map((member) => {
        const item = document.createElement('li')
        item.dataset.testid = 'member-item'
        item.dataset.email = member.email
        item.dataset.role = member.role
        item.dataset.userId = member.userId
        const email = document.createElement('span')
        email.textContent = member.userId === selfId ? `${member.email} (you)` : member.email
        item.append(email)
        if (callerIsOwner && member.userId !== selfId) {
          const picker = document.createElement('select')
          picker.dataset.testid = 'member-role'
          picker.setAttribute('aria-label', `Role of ${member.email}`)
          for (const role of ROLES) picker.append(new Option(role, role, false, role === member.role))
          picker.addEventListener('change', () =>
            void this.run(this.membersError, 'members', () => this.actions.setRole(member, picker.value as Role)),
          )
          const remove = document.createElement('button')
          remove.type = 'button'
          remove.textContent = 'Remove'
          remove.dataset.testid = 'member-remove'
          remove.addEventListener('click', () => void this.run(this.membersError, 'members', () => this.actions.remove(member)))
          item.append(picker, remove)
        } else {
          const role = document.createElement('span')
          role.className = 'muted'
          role.textContent = member.role
          item.append(role)
        }
        return item
      }),
    )
  }
}
