//! The chain rule of a pushed batch: its first parent is the store's head and each
//! event follows the previous one by exactly one.

use super::outcome::ChainError;
use crate::storage::NewEvent;

/// Checks that `batch` is a contiguous chain starting on `head`.
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
        if event.parent_seq_num != previous || event.seq_num != previous + 1 {
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

    fn chain(parent: u64, n: u64) -> Vec<NewEvent> {
        (0..n)
            .map(|i| NewEvent {
                seq_num: parent + i + 1,
                parent_seq_num: parent + i,
                name: "e".into(),
                args: None,
                client_id: "c".into(),
                session_id: "s".into(),
            })
            .collect()
    }

    #[test]
    fn chain_validation() {
        assert_eq!(validate_chain(&chain(0, 3), 0), Ok(()));
        assert_eq!(validate_chain(&[], 7), Ok(()));
        assert_eq!(
            validate_chain(&chain(2, 1), 5).unwrap_err().to_string(),
            "Invalid parent event number. Received e2 but expected e5"
        );
        let mut gap = chain(0, 3);
        gap[2].seq_num = 4;
        gap[2].parent_seq_num = 3;
        assert!(validate_chain(&gap, 0)
            .unwrap_err()
            .to_string()
            .starts_with("Invalid event sequence: event 2"));
        let mut skip = chain(0, 2);
        skip[0].seq_num = 5;
        assert!(validate_chain(&skip, 0)
            .unwrap_err()
            .to_string()
            .starts_with("Invalid event sequence: event 0"));
    }
}
