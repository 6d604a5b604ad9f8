//! The access table, case by case.

use std::sync::Arc;

use super::*;
use crate::connect::auth::TokenGrant;

const MEMBERS: AccessRules = AccessRules {
    require_auth: true,
    store_access: StoreAccess::Members,
};
const ANY_USER: AccessRules = AccessRules {
    require_auth: true,
    store_access: StoreAccess::AnyUser,
};
const LIVE: FeedFacts = FeedFacts {
    live: true,
    session_revoked: false,
    membership: None,
    deleted: None,
};

fn jwt(mem: &[(&str, Role)], mv: u64, expired: bool) -> Credential {
    Credential {
        user_id: Arc::from("u1"),
        session_id: Some(Arc::from("s1")),
        kind: IdentityKind::Jwt,
        grant: Some(TokenGrant {
            memberships: mem.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect(),
            membership_version: mv,
            expired,
        }),
    }
}

fn other(kind: IdentityKind) -> Credential {
    Credential {
        user_id: Arc::from("x"),
        session_id: None,
        kind,
        grant: None,
    }
}

fn code(r: Result<Identity, Rejection>) -> Result<Role, (u16, &'static str)> {
    r.map(|id| id.role).map_err(|e| (e.status.as_u16(), e.code))
}

#[test]
fn development_and_bypass_are_owners_of_anything() {
    let dev = AccessRules {
        require_auth: false,
        ..MEMBERS
    };
    for credential in [
        other(IdentityKind::Dev),
        jwt(&[], 0, true),
        other(IdentityKind::ServerBypass),
    ] {
        let revoked = FeedFacts {
            session_revoked: true,
            deleted: Some(9),
            ..FeedFacts::default()
        };
        assert_eq!(
            code(authorize(&credential, "any", dev, &revoked)),
            Ok(Role::Owner)
        );
    }
    let bypass = other(IdentityKind::ServerBypass);
    let deleted = FeedFacts {
        deleted: Some(3),
        ..FeedFacts::default()
    };
    assert_eq!(
        code(authorize(&bypass, "gone", MEMBERS, &deleted)),
        Ok(Role::Owner)
    );
    assert_eq!(
        code(authorize(&other(IdentityKind::Dev), "s", MEMBERS, &LIVE)),
        Err((401, "TOKEN_INVALID"))
    );
}

#[test]
fn members_get_their_claimed_role_and_others_403() {
    let c = jwt(&[("a", Role::Owner), ("b", Role::Viewer)], 5, false);
    assert_eq!(code(authorize(&c, "a", MEMBERS, &LIVE)), Ok(Role::Owner));
    assert_eq!(code(authorize(&c, "b", MEMBERS, &LIVE)), Ok(Role::Viewer));
    assert_eq!(
        code(authorize(&c, "c", MEMBERS, &LIVE)),
        Err((403, "STORE_FORBIDDEN"))
    );
    // An unexpired token needs no live feed.
    assert_eq!(
        code(authorize(&c, "a", MEMBERS, &FeedFacts::default())),
        Ok(Role::Owner)
    );
}

#[test]
fn newer_feed_changes_override_the_claims_and_older_ones_do_not() {
    let c = jwt(&[("a", Role::Owner)], 5, false);
    let with = |membership, deleted| FeedFacts {
        membership,
        deleted,
        ..LIVE
    };
    let cases = [
        (with(Some((6, Some(Role::Viewer))), None), Ok(Role::Viewer)),
        (with(Some((6, None)), None), Err((403, "STORE_FORBIDDEN"))),
        // Already reflected in the token (seq <= mv).
        (with(Some((5, None)), None), Ok(Role::Owner)),
        (with(None, Some(7)), Err((403, "STORE_FORBIDDEN"))),
        (with(None, Some(4)), Ok(Role::Owner)),
    ];
    for (facts, expected) in cases {
        assert_eq!(
            code(authorize(&c, "a", MEMBERS, &facts)),
            expected,
            "{facts:?}"
        );
    }
    // A later grant opens a store the token does not list yet.
    let added = with(Some((9, Some(Role::Editor))), None);
    assert_eq!(
        code(authorize(&jwt(&[], 5, false), "a", MEMBERS, &added)),
        Ok(Role::Editor)
    );
}

#[test]
fn revocation_beats_grace_and_a_dead_feed_suspends_grace() {
    let fresh = jwt(&[("a", Role::Owner)], 0, false);
    let late = jwt(&[("a", Role::Owner)], 0, true);
    let revoked = FeedFacts {
        session_revoked: true,
        ..LIVE
    };
    for c in [&fresh, &late] {
        assert_eq!(
            code(authorize(c, "a", MEMBERS, &revoked)),
            Err((401, "TOKEN_REVOKED"))
        );
        assert_eq!(
            code(authorize(c, "a", ANY_USER, &revoked)),
            Err((401, "TOKEN_REVOKED"))
        );
    }
    assert_eq!(code(authorize(&late, "a", MEMBERS, &LIVE)), Ok(Role::Owner));
    let dead = FeedFacts {
        live: false,
        ..LIVE
    };
    assert_eq!(
        code(authorize(&late, "a", MEMBERS, &dead)),
        Err((401, "GRACE_PERIOD_EXPIRED"))
    );
    assert_eq!(
        code(authorize(&fresh, "a", MEMBERS, &dead)),
        Ok(Role::Owner)
    );
}

#[test]
fn any_user_opens_any_store_as_editor_unless_told_otherwise() {
    let c = jwt(&[("a", Role::Viewer)], 0, false);
    assert_eq!(code(authorize(&c, "a", ANY_USER, &LIVE)), Ok(Role::Viewer));
    assert_eq!(
        code(authorize(&c, "zzz", ANY_USER, &LIVE)),
        Ok(Role::Editor)
    );
    let removed = FeedFacts {
        membership: Some((1, None)),
        ..LIVE
    };
    assert_eq!(
        code(authorize(&c, "a", ANY_USER, &removed)),
        Ok(Role::Editor)
    );
    assert_eq!(role_for(StoreAccess::Members, None), None);
    assert_eq!(
        role_for(StoreAccess::AnyUser, Some(Role::Owner)),
        Some(Role::Owner)
    );
}
