//! SQLite backend of [`super::EventLog`] (to be implemented).
