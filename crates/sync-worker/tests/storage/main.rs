//! The event-log conformance suite: every test in [`conformance`] runs unchanged against
//! each backend (SQLite in a temporary folder, PostgreSQL in a scratch database created
//! and dropped by the test), plus each backend's own tests.
//!
//! PostgreSQL comes from `PG_TEST_URL` (default `postgres://root@127.0.0.1:5432/postgres`,
//! the machine's server with trust auth); the tests fail, they do not skip, when it is
//! not reachable.

mod conformance;
mod gaps;
mod harness;
mod migrations;
mod sqlite_only;

pub use harness::Backend;

/// One `#[tokio::test]` per conformance test and backend.
macro_rules! conformance_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::Backend::sqlite().await;
                    crate::conformance::$test(&backend).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::Backend::postgres().await;
                    crate::conformance::$test(&backend).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

conformance_suite!(
    round_trip_preserves_every_field_and_args_bytes,
    created_at_is_shared_by_a_batch_and_kept_to_the_millisecond,
    read_range_follows_cursor_and_limit,
    wrong_parent_is_a_conflict_and_stores_nothing,
    broken_chains_are_refused_and_empty_batches_ack,
    racing_appends_on_one_parent_have_exactly_one_winner,
    concurrent_writers_across_ten_stores_leave_contiguous_chains,
    pipelined_batches_of_one_store_all_commit_in_order,
    similar_store_ids_never_share_events,
    reset_empties_the_store_and_restarts_its_chain,
    committed_events_survive_close_and_reopen,
    a_second_node_moving_the_head_is_a_conflict,
    move_store_needs_an_empty_target,
    long_ranges_come_back_whole,
    backend_id_is_per_store_stable_shared_and_replaced_by_reset,
    gaps_append_read_and_count,
    pages_and_remaining_across_gaps,
    gaps_conflict_on_the_same_parent,
    non_increasing_chains_are_refused,
);
