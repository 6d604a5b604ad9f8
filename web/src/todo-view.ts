/**
 * Renders the todo list: toggle, inline edit, delete, and a "pending" mark on
 * todos whose latest change the sync server has not confirmed yet. Read-only
 * (a viewer, or a workspace the user lost access to) hides the controls that
 * would commit events.
 */
import { deleteTodo, editTodo, toggleTodo, type Todo, type TodoStore } from './todo-store.js'

/** What the list needs to render. */
export type TodoViewState = {
  store: TodoStore
  todos: ReadonlyArray<Todo>
  pending: ReadonlySet<string>
  readOnly: boolean
}

const button = (label: string, testId: string, onClick: () => void): HTMLButtonElement => {
  const element = document.createElement('button')
  element.type = 'button'
  element.textContent = label
  element.dataset.testid = testId
  element.addEventListener('click', onClick)
  return element
}

/** Renders into `list`; keeps one todo's edit box (and its draft) across re-renders. */
export class TodoListView {
  private editing: { id: string; draft: string } | undefined
  private state: TodoViewState | undefined

  constructor(private readonly list: HTMLUListElement) {}

  render(state: TodoViewState): void {
    this.state = state
    if (state.readOnly) this.editing = undefined
    if (this.editing !== undefined && !state.todos.some((todo) => todo.id === this.editing?.id)) this.editing = undefined
    const hadFocus = this.list.contains(document.activeElement) && document.activeElement instanceof HTMLInputElement
    this.list.replaceChildren(...state.todos.map((todo) => this.item(state, todo)))
    if (hadFocus) this.list.querySelector<HTMLInputElement>('[data-testid="todo-edit-input"]')?.focus()
  }

  clear(): void {
    this.state = undefined
    this.editing = undefined
    this.list.replaceChildren()
  }

  private rerender(): void {
    if (this.state !== undefined) this.render(this.state)
  }

  private item(state: TodoViewState, todo: Todo): HTMLLIElement {
    const item = document.createElement('li')
    item.dataset.testid = 'todo-item'
    item.dataset.todoId = todo.id
    item.dataset.completed = String(todo.completed)
    const pending = state.pending.has(todo.id)
    item.dataset.pending = String(pending)

    const toggle = document.createElement('input')
    toggle.type = 'checkbox'
    toggle.checked = todo.completed
    toggle.disabled = state.readOnly
    toggle.dataset.testid = 'todo-toggle'
    toggle.addEventListener('change', () => toggleTodo(state.store, todo))
    item.append(toggle)

    if (this.editing?.id === todo.id) {
      item.append(this.editForm(state.store, todo))
    } else {
      const text = document.createElement('span')
      text.className = 'text'
      text.dataset.testid = 'todo-text'
      text.textContent = todo.text
      item.append(text)
    }
    if (pending) {
      const mark = document.createElement('span')
      mark.className = 'pending'
      mark.dataset.testid = 'todo-pending'
      mark.textContent = 'pending'
      mark.title = 'Saved on this device; the sync server has not confirmed it yet.'
      item.append(mark)
    }
    if (!state.readOnly && this.editing?.id !== todo.id) {
      item.append(
        button('Edit', 'todo-edit', () => {
          this.editing = { id: todo.id, draft: todo.text }
          this.rerender()
          this.list.querySelector<HTMLInputElement>('[data-testid="todo-edit-input"]')?.focus()
        }),
        button('Delete', 'todo-delete', () => deleteTodo(state.store, todo)),
      )
    }
    return item
  }

  private editForm(store: TodoStore, todo: Todo): HTMLFormElement {
    const form = document.createElement('form')
    form.className = 'edit'
    form.dataset.testid = 'todo-edit-form'
    const input = document.createElement('input')
    input.value = this.editing?.draft ?? todo.text
    input.maxLength = 500
    input.required = true
    input.dataset.testid = 'todo-edit-input'
    input.setAttribute('aria-label', 'Todo text')
    input.addEventListener('input', () => {
      if (this.editing !== undefined) this.editing.draft = input.value
    })
    const error = document.createElement('span')
    error.className = 'form-error'
    error.dataset.testid = 'todo-edit-error'
    error.hidden = true
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const text = input.value.trim()
      if (text === '') {
        error.textContent = 'A todo needs some text. Delete it instead if it is done with.'
        error.hidden = false
        return
      }
      this.editing = undefined
      editTodo(store, todo, text)
      this.rerender()
    })
    const save = document.createElement('button')
    save.type = 'submit'
    save.textContent = 'Save'
    save.dataset.testid = 'todo-edit-save'
    form.append(
      input,
      save,
      button('Cancel', 'todo-edit-cancel', () => {
        this.editing = undefined
        this.rerender()
      }),
      error,
    )
    return form
  }
}
