//! One failed group transaction has many callers, but `sqlx::Error` is not `Clone`: this
//! copies what a caller can act on (message, SQLite code, kind) into a fresh error each.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use sqlx::error::{DatabaseError, ErrorKind};

/// A database error shared by every append of a failed group commit.
#[derive(Debug)]
struct GroupCommitError {
    message: String,
    code: Option<String>,
    kind: SharedKind,
}

/// `sqlx::error::ErrorKind` is neither `Clone` nor exhaustive.
#[derive(Debug, Clone, Copy)]
enum SharedKind {
    UniqueViolation,
    ForeignKeyViolation,
    NotNullViolation,
    CheckViolation,
    Other,
}

impl fmt::Display for GroupCommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group commit failed: {}", self.message)
    }
}

impl StdError for GroupCommitError {}

impl DatabaseError for GroupCommitError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.kind {
            SharedKind::UniqueViolation => ErrorKind::UniqueViolation,
            SharedKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
            SharedKind::NotNullViolation => ErrorKind::NotNullViolation,
            SharedKind::CheckViolation => ErrorKind::CheckViolation,
            SharedKind::Other => ErrorKind::Other,
        }
    }
}

/// A copy of `error` for one more caller of the failed group.
pub(super) fn replicate(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::Database(db) => sqlx::Error::Database(Box::new(GroupCommitError {
            message: db.message().to_owned(),
            code: db.code().map(Cow::into_owned),
            kind: match db.kind() {
                ErrorKind::UniqueViolation => SharedKind::UniqueViolation,
                ErrorKind::ForeignKeyViolation => SharedKind::ForeignKeyViolation,
                ErrorKind::NotNullViolation => SharedKind::NotNullViolation,
                ErrorKind::CheckViolation => SharedKind::CheckViolation,
                _ => SharedKind::Other,
            },
        })),
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::WorkerCrashed => sqlx::Error::WorkerCrashed,
        other => sqlx::Error::Database(Box::new(GroupCommitError {
            message: other.to_string(),
            code: None,
            kind: SharedKind::Other,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_keep_message_and_kind() {
        let original = replicate(&sqlx::Error::Protocol("disk on fire".into()));
        let copy = replicate(&original);
        match copy {
            sqlx::Error::Database(db) => {
                assert!(db.message().contains("disk on fire"));
                assert!(matches!(db.kind(), ErrorKind::Other));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
