/**
 * LiveStore schema of the demo: one `todos` table fed by five synced events.
 *
 * Event names are versioned (`v1.`) because they are persisted in the sync
 * backend's event log forever; a changed payload gets a new name. Logs written
 * before `v1.TodoTextChanged` and `v1.TodoDeleted` existed stay valid: the three
 * original events and their materializers are unchanged, the new events only add.
 * An edit or completion of a todo that another device deleted meanwhile updates
 * no row, so the delete wins whatever the order.
 */
import { Events, makeSchema, Schema, State } from '@livestore/livestore'

export const tables = {
  todos: State.SQLite.table({
    name: 'todos',
    columns: {
      id: State.SQLite.text({ primaryKey: true }),
      text: State.SQLite.text({ default: '' }),
      completed: State.SQLite.boolean({ default: false }),
      createdAt: State.SQLite.integer({ default: 0 }),
    },
  }),
}

export const events = {
  todoCreated: Events.synced({
    name: 'v1.TodoCreated',
    schema: Schema.Struct({ id: Schema.String, text: Schema.String, createdAt: Schema.Number }),
  }),
  todoCompleted: Events.synced({
    name: 'v1.TodoCompleted',
    schema: Schema.Struct({ id: Schema.String }),
  }),
  todoUncompleted: Events.synced({
    name: 'v1.TodoUncompleted',
    schema: Schema.Struct({ id: Schema.String }),
  }),
  todoTextChanged: Events.synced({
    name: 'v1.TodoTextChanged',
    schema: Schema.Struct({ id: Schema.String, text: Schema.String }),
  }),
  todoDeleted: Events.synced({
    name: 'v1.TodoDeleted',
    schema: Schema.Struct({ id: Schema.String, deletedAt: Schema.Number }),
  }),
}

const materializers = State.SQLite.materializers(events, {
  'v1.TodoCreated': ({ id, text, createdAt }) => tables.todos.insert({ id, text, createdAt, completed: false }),
  'v1.TodoCompleted': ({ id }) => tables.todos.update({ completed: true }).where({ id }),
  'v1.TodoUncompleted': ({ id }) => tables.todos.update({ completed: false }).where({ id }),
  'v1.TodoTextChanged': ({ id, text }) => tables.todos.update({ text }).where({ id }),
  'v1.TodoDeleted': ({ id }) => tables.todos.delete().where({ id }),
})

export const schema = makeSchema({ events, state: State.SQLite.makeState({ tables, materializers }) })
