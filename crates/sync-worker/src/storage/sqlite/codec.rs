//! Conversions between the storage types and SQLite rows: the chain check a batch must
//! pass before it is written, the `created_at` text format, and row decoding.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::storage::{NewEvent, StorageError, StoredEvent};

/// The largest sequence number SQLite's signed 64-bit `INTEGER` can hold.
const MAX_SEQ_NUM: u64 = i64::MAX as u64;

/// `created_at` as stored and as LiveStore shows `createdAt`: `2024-05-01T12:00:00.123Z`.
pub(super) fn format_created_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A sequence number as bound to SQLite; only called on numbers [`check_chain`] accepted
/// or on read cursors, which are clamped (nothing is stored beyond `i64::MAX`).
pub(super) fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Refuses a batch that would break a store's chain: empty, not contiguous
/// (`seq_num = parent_seq_num + 1`, each parent the previous `seq_num`), or beyond what
/// SQLite stores. The protocol layer validates first; this guards the log itself.
pub(super) fn check_chain(events: &[NewEvent]) -> Result<(), StorageError> {
    let Some(first) = events.first() else {
        return Err(StorageError::Corrupt("empty batch".into()));
    };
    let mut expected_parent = first.parent_seq_num;
    for event in events {
        if event.parent_seq_num != expected_parent
            || event.parent_seq_num.checked_add(1) != Some(event.seq_num)
        {
            return Err(StorageError::Corrupt(format!(
                "batch is not a contiguous chain at seqNum {} (parent {})",
                event.seq_num, event.parent_seq_num
            )));
        }
        if event.seq_num > MAX_SEQ_NUM {
            return Err(StorageError::Corrupt(format!(
                "seqNum {} is beyond the largest storable {MAX_SEQ_NUM}",
                event.seq_num
            )));
        }
        expected_parent = event.seq_num;
    }
    Ok(())
}

/// The columns [`RowDecoder`] expects, in order.
pub(super) const EVENT_COLUMNS: &str =
    "seq_num, parent_seq_num, name, args, client_id, session_id, created_at, pushed_by";

/// Decodes rows of [`EVENT_COLUMNS`]. Rows of one push share their `created_at`, so the
/// last parsed timestamp is reused while the text repeats.
#[derive(Default)]
pub(super) struct RowDecoder {
    last_created_at: Option<(String, DateTime<Utc>)>,
}

impl RowDecoder {
    pub fn decode(&mut self, row: &SqliteRow) -> Result<StoredEvent, StorageError> {
        let seq_num = decode_seq(row, 0)?;
        let parent_seq_num = decode_seq(row, 1)?;
        let args = match column::<Option<String>>(row, 3, seq_num)? {
            // Validates the JSON once (RawValue requires it) and keeps the text as is.
            Some(text) => Some(RawValue::from_string(text).map_err(|error| {
                StorageError::Corrupt(format!("args of seqNum {seq_num} is not JSON: {error}"))
            })?),
            None => None,
        };
        let created_at = self.created_at(column::<&str>(row, 6, seq_num)?, seq_num)?;
        Ok(StoredEvent {
            seq_num,
            parent_seq_num,
            name: column(row, 2, seq_num)?,
            args,
            client_id: column(row, 4, seq_num)?,
            session_id: column(row, 5, seq_num)?,
            created_at,
            pushed_by: column(row, 7, seq_num)?,
        })
    }

    fn created_at(&mut self, text: &str, seq_num: u64) -> Result<DateTime<Utc>, StorageError> {
        if let Some((last_text, last)) = &self.last_created_at {
            if last_text == text {
                return Ok(*last);
            }
        }
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|error| {
                StorageError::Corrupt(format!(
                    "created_at of seqNum {seq_num} is not an ISO-8601 time: {error}"
                ))
            })?
            .with_timezone(&Utc);
        self.last_created_at = Some((text.to_owned(), parsed));
        Ok(parsed)
    }
}

fn decode_seq(row: &SqliteRow, index: usize) -> Result<u64, StorageError> {
    let raw: i64 = column(row, index, 0)?;
    u64::try_from(raw)
        .map_err(|_| StorageError::Corrupt(format!("negative sequence number {raw} in the log")))
}

fn column<'r, T>(row: &'r SqliteRow, index: usize, seq_num: u64) -> Result<T, StorageError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(index).map_err(|error| {
        StorageError::Corrupt(format!("column {index} of seqNum {seq_num}: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(parent: u64, seq: u64) -> NewEvent {
        NewEvent {
            seq_num: seq,
            parent_seq_num: parent,
            name: "e".into(),
            args: None,
            client_id: "c".into(),
            session_id: "s".into(),
        }
    }

    #[test]
    fn chain_rules() {
        assert!(check_chain(&[event(0, 1), event(1, 2)]).is_ok());
        assert!(check_chain(&[]).is_err());
        assert!(check_chain(&[event(0, 2)]).is_err());
        assert!(check_chain(&[event(0, 1), event(2, 3)]).is_err());
        assert!(check_chain(&[event(MAX_SEQ_NUM, u64::MAX)]).is_err());
        assert!(check_chain(&[event(u64::MAX, 0)]).is_err());
    }

    #[test]
    fn created_at_has_millis_and_z() {
        let at = DateTime::parse_from_rfc3339("2024-05-01T12:00:00.123456Z")
            .map(|at| at.with_timezone(&Utc))
            .ok();
        assert_eq!(
            at.map(|at| format_created_at(&at)).as_deref(),
            Some("2024-05-01T12:00:00.123Z")
        );
    }
}
