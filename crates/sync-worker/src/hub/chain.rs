//! The chain rule of a pushed batch, the same for every protocol: its first parent is the
//! store's head, each next event's parent is the previous event's `seqNum`, and every
//! `seqNum` is greater than its parent. Gaps in numbering are legal (LiveStore 0.4's own
//! suite pushes `seqNum 100, parentSeqNum 0` into an empty store); a broken or
//! non-increasing chain is not.

use super::outcome::ChainError;
use crate::storage::NewEvent;

/// Checks that `batch` is a chain starting on `head`.
pub(crate) fn validate_chain(batch: &[NewEvent], head: u64) -> Result<(), ChainError> {
    let Some(first) = batch.first() else {
        return Ok(());
    };
    if first.parent_seq_num != head {
        return Err(ChainError::WrongParent {
            received: first.parent_seq_num,
            head,
        });
    }
    let mut previous = head;
    for (index, event) in batch.iter().enumerate() {
        if event.parent_seq_num != previous || event.seq_num <= event.parent_seq_num {
            return Err(ChainError::Broken {
                index,
                seq_num: event.seq_num,
                parent_seq_num: event.parent_seq_num,
                expected_parent: previous,
            });
        }
        previous = event.seq_num;
    }
    Ok(())
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

    fn broken_at(batch: &[NewEvent], head: u64) -> Option<usize> {
        match validate_chain(batch, head) {
            Err(ChainError::Broken { index, .. }) => Some(index),
            _ => None,
        }
    }

    #[test]
    fn contiguous_and_empty_batches_pass() {
        assert_eq!(
            validate_chain(&[event(0, 1), event(1, 2), event(2, 3)], 0),
            Ok(())
        );
        assert_eq!(validate_chain(&[event(7, 8)], 7), Ok(()));
        assert_eq!(validate_chain(&[], 7), Ok(()));
    }

    #[test]
    fn gaps_are_accepted() {
        // LiveStore 0.4's sync-provider suite: seqNum 100 on an empty store.
        assert_eq!(validate_chain(&[event(0, 100)], 0), Ok(()));
        assert_eq!(
            validate_chain(&[event(5, 9), event(9, 10), event(10, 50)], 5),
            Ok(())
        );
    }

    #[test]
    fn wrong_first_parent_is_refused() {
        assert_eq!(
            validate_chain(&[event(2, 3)], 5),
            Err(ChainError::WrongParent {
                received: 2,
                head: 5
            })
        );
        assert_eq!(
            validate_chain(&[event(2, 3)], 5).unwrap_err().to_string(),
            "Invalid parent event number. Received e2 but expected e5"
        );
        // A gap before the first event is a wrong parent too.
        assert!(matches!(
            validate_chain(&[event(0, 100)], 3),
            Err(ChainError::WrongParent { .. })
        ));
    }

    #[test]
    fn equal_and_decreasing_numbers_are_refused() {
        assert_eq!(broken_at(&[event(0, 0)], 0), Some(0));
        assert_eq!(broken_at(&[event(4, 4)], 4), Some(0));
        assert_eq!(broken_at(&[event(4, 3)], 4), Some(0));
        assert_eq!(broken_at(&[event(0, 5), event(5, 5)], 0), Some(1));
        assert_eq!(broken_at(&[event(0, 5), event(5, 2)], 0), Some(1));
        let text = validate_chain(&[event(0, 5), event(5, 5)], 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            "Invalid event sequence: event 1 has seqNum e5 and parentSeqNum e5, expected \
             parentSeqNum e5 and a greater seqNum"
        );
    }

    #[test]
    fn broken_links_are_refused() {
        // The second event does not name the first as its parent.
        assert_eq!(broken_at(&[event(0, 1), event(2, 3)], 0), Some(1));
        assert_eq!(broken_at(&[event(0, 10), event(9, 11)], 0), Some(1));
        assert_eq!(
            broken_at(&[event(0, 1), event(1, 2), event(0, 3)], 0),
            Some(2)
        );
    }
}
