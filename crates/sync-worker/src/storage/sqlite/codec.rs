//! Conversions between the storage types and SQLite rows: the chain check a batch must
//! pass before it is written, the `created_at` text format, and row decoding.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;

pub(super) use crate::storage::check_chain;
use crate::storage::{StorageError, StoredEvent};

/// `created_at` as stored and as LiveStore shows `createdAt`: `2024-05-01T12:00:00.123Z`.
pub(super) fn format_created_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A sequence number as bound to SQLite; only called on numbers [`check_chain`] accepted
/// or on read cursors, which are clamped (nothing is stored beyond `i64::MAX`).
pub(super) fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The head of store `?1` (no row when the store is empty): one seek on the primary key.
pub(super) const SELECT_HEAD: &str =
    "SELECT seq_num FROM events WHERE store_id = ?1 ORDER BY seq_num DESC LIMIT 1";

/// A window of a store's events packed by SQLite into ONE text value, so a read costs one
/// row through sqlx instead of one row (eight value copies and a cross-thread hand-off)
/// per event. Each event is a header of decimal numbers
/// `seq:parent:name_len:args_len:client_len:session_len:created_len:pushed_len;` (byte
/// lengths, `args_len` -1 when args are absent) followed by those fields' bytes. Lengths
/// instead of separators: the text fields are stored as sent and may contain anything.
/// `concat` builds each event in one pass (a chain of `||` copies it once per operator).
///
/// `?1` store, events with `?2 < seq_num <= ?3`; NULL when the window is empty. A window
/// on the primary key rather than `ORDER BY .. LIMIT` in a subquery: the subquery costs
/// a copy of every column of every row (about a fifth of the read's CPU).
pub(super) const PACKED_WINDOW_SQL: &str = "SELECT group_concat(concat(\
        concat_ws(':', seq_num, parent_seq_num, octet_length(name), \
            ifnull(octet_length(args), -1), octet_length(client_id), \
            octet_length(session_id), octet_length(created_at), octet_length(pushed_by)), \
        ';', name, args, client_id, session_id, created_at, pushed_by), '') \
    FROM events WHERE store_id = ?1 AND seq_num > ?2 AND seq_num <= ?3";

/// The `seq_num` of the `?3 + 1`-th event after `?2` in store `?1` (none when fewer
/// follow): where a window must end to hold exactly that many events once numbering has
/// skipped (LiveStore 0.4 allows gaps). Walks `?3` keys of the primary key.
pub(super) const NTH_SEQ_SQL: &str = "SELECT seq_num FROM events WHERE store_id = ?1 \
     AND seq_num > ?2 ORDER BY seq_num LIMIT 1 OFFSET ?3";

/// Store `?1`'s head and the number of its events after `?2`, in one statement (one
/// snapshot). The chain's first parent is 0 and each event's parent is the event before
/// it, so the numbers in `(?2, head]` that no event has are exactly the gaps
/// `(parent, seq)` of the events after `?2`: the count is `head - ?2` less those, read
/// through the partial index `events_gaps` (only events that skip numbers are in it;
/// `INDEXED BY` because without statistics the planner would scan the primary key).
pub(super) const TAIL_SQL: &str = "SELECT h, max(0, h - ?2) - coalesce((\
        SELECT sum(seq_num - max(parent_seq_num, ?2) - 1) FROM events INDEXED BY events_gaps \
        WHERE store_id = ?1 AND seq_num > ?2 AND seq_num - parent_seq_num > 1), 0) \
    FROM (SELECT coalesce((SELECT seq_num FROM events WHERE store_id = ?1 \
        ORDER BY seq_num DESC LIMIT 1), 0) AS h)";

/// Unpacks [`PACKED_WINDOW_SQL`] results. Events of one push share their `created_at`,
/// so the last parsed timestamp is reused while its text repeats.
#[derive(Default)]
pub(super) struct PackedDecoder {
    last_created_at: Option<(String, DateTime<Utc>)>,
}

impl PackedDecoder {
    /// Appends the events of `packed` to `out`, in ascending `seq_num` order.
    pub fn decode(&mut self, packed: &str, out: &mut Vec<StoredEvent>) -> Result<(), StorageError> {
        let first = out.len();
        let mut rest = packed;
        while !rest.is_empty() {
            let mut cursor = rest;
            let seq_num = to_seq(number(&mut cursor, b':')?)?;
            let parent_seq_num = to_seq(number(&mut cursor, b':')?)?;
            let name_len = number(&mut cursor, b':')?;
            let args_len = number(&mut cursor, b':')?;
            let lengths = [
                number(&mut cursor, b':')?,
                number(&mut cursor, b':')?,
                number(&mut cursor, b':')?,
                number(&mut cursor, b';')?,
            ];
            let name = take(&mut cursor, name_len)?.to_owned();
            let args = match args_len {
                -1 => None,
                len => Some(
                    RawValue::from_string(take(&mut cursor, len)?.to_owned()).map_err(|error| {
                        StorageError::Corrupt(format!(
                            "args of seqNum {seq_num} is not JSON: {error}"
                        ))
                    })?,
                ),
            };
            let client_id = take(&mut cursor, lengths[0])?.to_owned();
            let session_id = take(&mut cursor, lengths[1])?.to_owned();
            let created_at = self.created_at(take(&mut cursor, lengths[2])?, seq_num)?;
            let pushed_by = take(&mut cursor, lengths[3])?.to_owned();
            out.push(StoredEvent {
                seq_num,
                parent_seq_num,
                name,
                args,
                client_id,
                session_id,
                created_at,
                pushed_by,
            });
            rest = cursor;
        }
        // group_concat keeps the subquery's order in practice, but SQL does not promise it.
        let decoded = &mut out[first..];
        if !decoded.is_sorted_by_key(|event| event.seq_num) {
            decoded.sort_unstable_by_key(|event| event.seq_num);
        }
        Ok(())
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

/// The decimal number at the start of `cursor` (optionally negative), which must be
/// followed by `terminator`; advances past the terminator.
fn number(cursor: &mut &str, terminator: u8) -> Result<i64, StorageError> {
    let bytes = cursor.as_bytes();
    let negative = bytes.first() == Some(&b'-');
    let digits_start = usize::from(negative);
    let mut value: i64 = 0;
    let mut index = digits_start;
    while let Some(digit) = bytes.get(index).filter(|byte| byte.is_ascii_digit()) {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(i64::from(digit - b'0')))
            .ok_or_else(|| corrupt_pack("a header number overflows"))?;
        index += 1;
    }
    if index == digits_start || bytes.get(index) != Some(&terminator) {
        return Err(corrupt_pack("an event header is malformed"));
    }
    // `index` is at an ASCII byte, so `index + 1` is a character boundary.
    *cursor = cursor
        .get(index + 1..)
        .ok_or_else(|| corrupt_pack("an event header is malformed"))?;
    Ok(if negative { -value } else { value })
}

/// The next `len` bytes of `cursor`, which must end on a character boundary.
fn take<'a>(cursor: &mut &'a str, len: i64) -> Result<&'a str, StorageError> {
    let len = usize::try_from(len).map_err(|_| corrupt_pack("a field length is negative"))?;
    let (field, rest) = cursor
        .split_at_checked(len)
        .ok_or_else(|| corrupt_pack("a field is cut short"))?;
    *cursor = rest;
    Ok(field)
}

fn to_seq(raw: i64) -> Result<u64, StorageError> {
    u64::try_from(raw)
        .map_err(|_| StorageError::Corrupt(format!("negative sequence number {raw} in the log")))
}

fn corrupt_pack(what: &str) -> StorageError {
    StorageError::Corrupt(format!("packed event range: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewEvent, MAX_STORED_SEQ as MAX_SEQ_NUM};

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
        assert!(
            check_chain(&[event(0, 100), event(100, 102)]).is_ok(),
            "gaps are legal"
        );
        assert!(check_chain(&[]).is_err());
        assert!(check_chain(&[event(3, 3)]).is_err());
        assert!(check_chain(&[event(3, 2)]).is_err());
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

    #[test]
    fn packed_ranges_decode_and_refuse_damage() {
        let created = "2024-05-01T12:00:00.123Z";
        let packed = format!(
            "2:1:1:-1:1:1:{len}:2;ncs{created}me1:0:2:7:0:0:{len}:0;é{{\"a\":1}}{created}",
            len = created.len()
        );
        let mut out = Vec::new();
        let decoded = PackedDecoder::default().decode(&packed, &mut out);
        assert!(decoded.is_ok(), "{decoded:?}");
        let seqs: Vec<u64> = out.iter().map(|event| event.seq_num).collect();
        assert_eq!(seqs, [1, 2], "sorted by seq_num");
        assert_eq!(out[0].name, "é");
        assert_eq!(out[0].args.as_deref().map(RawValue::get), Some("{\"a\":1}"));
        assert_eq!(out[1].args.as_deref().map(RawValue::get), None);
        assert_eq!(out[1].pushed_by, "me");
        assert_eq!(format_created_at(&out[0].created_at), created);

        for damaged in [
            "1:0:5:-1:0:0:0:0;abc",
            "1:0:x;",
            "1:0:1:-1:0:0:0:0",
            "1:0:1:3:0:0:0:0;n{]]",
            "-1:0:0:-1:0:0:0:0;",
        ] {
            assert!(
                matches!(
                    PackedDecoder::default().decode(damaged, &mut Vec::new()),
                    Err(StorageError::Corrupt(_))
                ),
                "{damaged}"
            );
        }
        // A length that splits a multi-byte character.
        assert!(PackedDecoder::default()
            .decode("1:0:1:-1:0:0:0:0;é", &mut Vec::new())
            .is_err());
    }
}
