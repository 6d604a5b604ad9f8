// A small todo schema, the shape of a typical LiveStore app: two synced events
// and one table they materialize into. Written once for both client versions: each
// client passes its own `@livestore/livestore` module (0.3.1 or 0.4.0), whose schema
// API (`Events.synced`, `State.SQLite.table`, `makeSchema`) is the same in both.

/** Builds `{ tables, events, schema }` with the given LiveStore module. */
export function makeTodoSchema({ Events, makeSchema, Schema, State }) {
  const tables = {
    todos: State.SQLite.table({
      name: 'todos',
      columns: {
        id: State.SQLite.text({ primaryKey: true }),
        text: State.SQLite.text({ default: '' }),
        completed: State.SQLite.boolean({ default: false }),
      },
    }),
  }

  const events = {
    todoCreated: Events.synced({
      name: 'v1.TodoCreated',
      schema: Schema.Struct({ id: Schema.String, text: Schema.String }),
    }),
    todoCompleted: Events.synced({
      name: 'v1.TodoCompleted',
      schema: Schema.Struct({ id: Schema.String }),
    }),
  }

  const materializers = State.SQLite.materializers(events, {
    'v1.TodoCreated': ({ id, text }) => tables.todos.insert({ id, text, completed: false }),
    'v1.TodoCompleted': ({ id }) => tables.todos.update({ completed: true }).where({ id }),
  })

  const state = State.SQLite.makeState({ tables, materializers })

  return { tables, events, schema: makeSchema({ events, state }) }
}
