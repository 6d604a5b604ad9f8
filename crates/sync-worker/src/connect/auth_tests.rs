//! The decision table, cell by cell.

use super::*;
use shared::Vars;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";
const BYPASS: &str = "bypass-0123456789abcdef0123456789abcdef";

fn settings(require_auth: bool) -> AuthSettings {
    let vars = Vars::from_pairs([
        ("REQUIRE_AUTH", if require_auth { "true" } else { "false" }),
        ("JWT_SECRET", SECRET),
        ("SERVER_BYPASS_TOKEN", BYPASS),
        ("GRACE_PERIOD_SECONDS", "3600"),
    ]);
    AuthSettings::from_common(&CommonConfig::from_vars(&vars).unwrap())
}

fn token(s: &AuthSettings, issued_secs_ago: i64, ttl_secs: u64) -> String {
    let now = Utc::now() - chrono::Duration::seconds(issued_secs_ago);
    let claims = s.keys.access_claims(
        "user-42",
        "u@example.com",
        "sess-9",
        Duration::from_secs(ttl_secs),
        now,
    );
    s.keys.sign_access_token(&claims).unwrap()
}

/// The seven token kinds of the table, as payloads.
fn kinds(s: &AuthSettings) -> Vec<(&'static str, Option<SyncPayload>)> {
    let with_token = |t: &str| {
        Some(SyncPayload {
            auth_token: Some(t.to_owned()),
            ..Default::default()
        })
    };
    vec![
        ("valid", with_token(&token(s, 0, 900))),
        ("expired_within_grace", with_token(&token(s, 1900, 900))),
        ("expired_beyond_grace", with_token(&token(s, 9000, 900))),
        ("insecure", with_token(INSECURE_DEV_TOKEN)),
        (
            "bypass",
            Some(SyncPayload {
                server_bypass: Some(BYPASS.to_owned()),
                ..Default::default()
            }),
        ),
        ("none", None),
        ("garbage", with_token("not.a.jwt")),
    ]
}

fn outcome(r: &Result<Credential, Rejection>) -> (String, &'static str) {
    match r {
        Ok(id) => (id.user_id.to_string(), "ok"),
        Err(rej) => (format!("{} {}", rej.status.as_u16(), rej.message), rej.code),
    }
}

#[test]
fn development_mode_cells() {
    let s = settings(false);
    let expected = [
        ("valid", "user-42"),
        ("expired_within_grace", "user-42"),
        ("expired_beyond_grace", DEV_USER_ID),
        ("insecure", DEV_USER_ID),
        ("bypass", SERVER_INTERNAL_ID),
        ("none", DEV_USER_ID),
        ("garbage", DEV_USER_ID),
    ];
    for ((kind, payload), (ekind, user)) in kinds(&s).into_iter().zip(expected) {
        assert_eq!(kind, ekind);
        let r = decide(payload.as_ref(), &s, Utc::now());
        assert_eq!(outcome(&r), (user.to_owned(), "ok"), "cell {kind}");
    }
}

#[test]
fn enforced_mode_cells() {
    let s = settings(true);
    let expected: [(&str, (&str, &str)); 7] = [
        ("valid", ("user-42", "ok")),
        ("expired_within_grace", ("user-42", "ok")),
        (
            "expired_beyond_grace",
            (
                "401 Token expired beyond grace period",
                "GRACE_PERIOD_EXPIRED",
            ),
        ),
        (
            "insecure",
            (
                "401 Legacy token not allowed in production",
                "TOKEN_INVALID",
            ),
        ),
        ("bypass", (SERVER_INTERNAL_ID, "ok")),
        ("none", ("401 Authentication required", "TOKEN_MISSING")),
        ("garbage", ("401 Invalid JWT token", "TOKEN_INVALID")),
    ];
    for ((kind, payload), (ekind, (what, code))) in kinds(&s).into_iter().zip(expected) {
        assert_eq!(kind, ekind);
        let r = decide(payload.as_ref(), &s, Utc::now());
        assert_eq!(outcome(&r), (what.to_owned(), code), "cell {kind}");
    }
}

#[test]
fn jwt_identity_carries_session_and_kind() {
    let s = settings(true);
    let payload = SyncPayload {
        auth_token: Some(token(&s, 0, 900)),
        ..Default::default()
    };
    let id = decide(Some(&payload), &s, Utc::now()).unwrap();
    assert_eq!(id.kind, IdentityKind::Jwt);
    assert_eq!(id.session_id.as_deref(), Some("sess-9"));
}

#[test]
fn wrong_bypass_is_treated_as_absent() {
    let s = settings(true);
    let payload = SyncPayload {
        server_bypass: Some("wrong".into()),
        auth_token: Some(token(&s, 0, 900)),
        ..Default::default()
    };
    assert_eq!(
        decide(Some(&payload), &s, Utc::now()).unwrap().kind,
        IdentityKind::Jwt
    );
    let only_wrong = SyncPayload {
        server_bypass: Some("wrong".into()),
        ..Default::default()
    };
    assert_eq!(
        decide(Some(&only_wrong), &s, Utc::now()).unwrap_err().code,
        "TOKEN_MISSING"
    );
}

#[test]
fn unset_bypass_matches_nothing() {
    let mut s = settings(true);
    s.server_bypass_token = None;
    for presented in [None, Some(""), Some(BYPASS)] {
        let payload = SyncPayload {
            server_bypass: presented.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(
            decide(Some(&payload), &s, Utc::now()).unwrap_err().code,
            "TOKEN_MISSING"
        );
    }
}

#[test]
fn other_keys_and_wrong_issuer_are_invalid_tokens() {
    let s = settings(true);
    let other = AuthSettings::from_common(
        &CommonConfig::from_vars(&Vars::from_pairs([
            ("REQUIRE_AUTH", "true"),
            ("JWT_SECRET", "another-secret-another-secret-another"),
            ("JWT_ISSUER", "someone-else"),
        ]))
        .unwrap(),
    );
    let foreign = token(&other, 0, 900);
    let payload = SyncPayload {
        auth_token: Some(foreign),
        ..Default::default()
    };
    assert_eq!(
        decide(Some(&payload), &s, Utc::now()).unwrap_err().code,
        "TOKEN_INVALID"
    );
}
