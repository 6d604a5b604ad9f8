//! The change feed auth-worker serves to sync nodes: revoked sessions, membership
//! changes and deleted instances, in commit order, each with a sequence number.
//!
//! `GET /internal/changes?after=<seq>&limit=<n>&wait=<seconds>` with
//! `Authorization: Bearer <service token>` (an HS256 JWT with `typ: "service"`, signed with
//! the shared `JWT_SECRET`; see [`crate::JwtKeys::sign_service_token`]). The answer is a
//! [`ChangePage`]: changes with `seq > after`, ascending, at most `limit`; when there are
//! none yet the request waits up to `wait` seconds for one (long poll). Changes are kept
//! for [`retention`] (access-token lifetime plus grace period): older ones cannot affect
//! any token a sync node would still accept, so a node that starts with `after=0` reads
//! everything it needs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::access::Role;

/// Path of the feed on auth-worker.
pub const CHANGE_FEED_PATH: &str = "/internal/changes";
/// Most changes one page holds (and the default `limit`).
pub const MAX_PAGE: usize = 1000;
/// Longest long-poll wait a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// One change, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Logout or refresh-token reuse: no access token of this session may open a socket,
    /// and its open sockets close.
    #[serde(rename_all = "camelCase")]
    SessionRevoked { session_id: String, user_id: String },
    /// The user's role in the instance is now `role`; `None`: no longer a member.
    #[serde(rename_all = "camelCase")]
    MembershipChanged {
        user_id: String,
        instance_id: String,
        role: Option<Role>,
    },
    /// The instance is gone: its store is refused to everyone but internal services.
    #[serde(rename_all = "camelCase")]
    InstanceDeleted { instance_id: String },
}

/// A change with its position in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub seq: u64,
    /// When it was committed (ISO-8601, UTC, milliseconds).
    pub at: String,
    #[serde(flatten)]
    pub change: Change,
}

/// One answer of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePage {
    pub changes: Vec<ChangeRecord>,
    /// The feed's latest sequence number (0 when empty).
    pub head: u64,
}

/// How long changes are kept: no token older than this is accepted by a sync node.
pub fn retention(access_token_ttl: Duration, grace: Duration) -> Duration {
    access_token_ttl + grace + Duration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let record = ChangeRecord {
            seq: 7,
            at: "2026-12-01T00:00:00.000Z".into(),
            change: Change::MembershipChanged {
                user_id: "u".into(),
                instance_id: "i".into(),
                role: None,
            },
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq":7,"at":"2026-12-01T00:00:00.000Z","kind":"membership_changed","userId":"u","instanceId":"i","role":null})
        );
        let back: ChangeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        let revoked: ChangeRecord = serde_json::from_str(
            r#"{"seq":1,"at":"x","kind":"session_revoked","sessionId":"s","userId":"u"}"#,
        )
        .unwrap();
        assert_eq!(
            revoked.change,
            Change::SessionRevoked {
                session_id: "s".into(),
                user_id: "u".into()
            }
        );
    }
}
