//! One case per way a presented token can be good or bad.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::TimeZone;

const SECRET: &str = "test-secret-that-is-at-least-32-bytes!!";

fn keys() -> JwtKeys {
    JwtKeys::new(&Secret::new(SECRET), "auth-worker")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn token_at(issued: DateTime<Utc>, ttl: Duration) -> (String, AccessClaims) {
    let k = keys();
    let claims = k.access_claims("user-1", "a@b.co", "session-1", ttl, issued);
    (k.sign_access_token(&claims).unwrap(), claims)
}

/// Re-assembles a token from a JSON header, JSON claims and a signature part.
fn assemble(header: &str, claims: &str, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
        signature
    )
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn valid_token_verifies_with_all_claims() {
    let (token, claims) = token_at(now(), Duration::from_secs(900));
    let verified = keys().verify_access_token_at(&token, now()).unwrap();
    assert_eq!(verified.claims, claims);
    assert_eq!(verified.expired_for, None);
    assert_eq!(verified.claims.sub, "user-1");
    assert_eq!(verified.claims.user_id, "user-1");
    assert_eq!(verified.claims.typ, "access");
    assert_eq!(verified.claims.iss, "auth-worker");
    assert_eq!(verified.claims.sid, "session-1");
    assert_eq!(verified.claims.exp - verified.claims.iat, 900);
    assert!(!verified.claims.jti.is_empty());
}

#[test]
fn jti_is_random_per_token() {
    let (_, a) = token_at(now(), Duration::from_secs(900));
    let (_, b) = token_at(now(), Duration::from_secs(900));
    assert_ne!(a.jti, b.jti);
}

#[test]
fn alg_none_is_rejected() {
    let (token, _) = token_at(now(), Duration::from_secs(900));
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts(&token)[1]).unwrap()).unwrap();
    let forged = assemble(r#"{"alg":"none","typ":"JWT"}"#, &claims, "");
    let err = keys().verify_access_token_at(&forged, now()).unwrap_err();
    // `none` is not even a known algorithm name to jsonwebtoken.
    assert!(
        matches!(err, TokenError::WrongAlgorithm | TokenError::Malformed),
        "{err:?}"
    );
}

#[test]
fn rs256_header_is_rejected() {
    let (token, _) = token_at(now(), Duration::from_secs(900));
    let p = parts(&token);
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
    let forged = assemble(r#"{"alg":"RS256","typ":"JWT"}"#, &claims, &p[2]);
    assert_eq!(
        keys().verify_access_token_at(&forged, now()),
        Err(TokenError::WrongAlgorithm)
    );
}

#[test]
fn tampered_payload_is_rejected() {
    let (token, _) = token_at(now(), Duration::from_secs(900));
    let p = parts(&token);
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
    let tampered_claims = claims.replace("user-1", "admin-1");
    assert_ne!(claims, tampered_claims);
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[0]).unwrap()).unwrap();
    let forged = assemble(&header, &tampered_claims, &p[2]);
    assert_eq!(
        keys().verify_access_token_at(&forged, now()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn token_signed_with_another_secret_is_rejected() {
    let other = JwtKeys::new(
        &Secret::new("another-secret-another-secret-12345"),
        "auth-worker",
    );
    let claims = other.access_claims("u", "e@x.co", "s", Duration::from_secs(60), now());
    let token = other.sign_access_token(&claims).unwrap();
    assert_eq!(
        keys().verify_access_token_at(&token, now()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn wrong_issuer_is_rejected() {
    let other = JwtKeys::new(&Secret::new(SECRET), "someone-else");
    let claims = other.access_claims("u", "e@x.co", "s", Duration::from_secs(60), now());
    let token = other.sign_access_token(&claims).unwrap();
    assert_eq!(
        keys().verify_access_token_at(&token, now()),
        Err(TokenError::WrongIssuer)
    );
}

#[test]
fn typ_other_than_access_is_rejected() {
    let k = keys();
    let mut claims = k.access_claims("u", "e@x.co", "s", Duration::from_secs(60), now());
    claims.typ = "refresh".into();
    let token = k.sign_access_token(&claims).unwrap();
    assert_eq!(
        k.verify_access_token_at(&token, now()),
        Err(TokenError::WrongType)
    );
}

#[test]
fn expired_within_grace_is_reported_and_admitted() {
    let grace = Duration::from_secs(24 * 3600);
    let (token, _) = token_at(
        now() - chrono::Duration::minutes(16),
        Duration::from_secs(900),
    );
    let verified = keys().verify_access_token_at(&token, now()).unwrap();
    assert_eq!(verified.expired_for, Some(Duration::from_secs(60)));
    assert!(verified.is_expired());
    assert!(verified.within_grace(grace));
}

#[test]
fn expired_beyond_grace_is_reported_and_refused_by_the_rule() {
    let grace = Duration::from_secs(24 * 3600);
    let (token, _) = token_at(
        now() - chrono::Duration::hours(26),
        Duration::from_secs(3600),
    );
    let verified = keys().verify_access_token_at(&token, now()).unwrap();
    assert_eq!(verified.expired_for, Some(Duration::from_secs(25 * 3600)));
    assert!(!verified.within_grace(grace));
}

#[test]
fn grace_boundary_is_inclusive() {
    let grace = Duration::from_secs(60);
    let (token, _) = token_at(
        now() - chrono::Duration::seconds(160),
        Duration::from_secs(100),
    );
    let verified = keys().verify_access_token_at(&token, now()).unwrap();
    assert_eq!(verified.expired_for, Some(grace));
    assert!(verified.within_grace(grace));
}

#[test]
fn garbage_is_rejected() {
    for garbage in [
        "garbage",
        "a.b.c",
        "....",
        "eyJ.eyJ.sig",
        "not a token at all",
    ] {
        assert_eq!(
            keys().verify_access_token_at(garbage, now()),
            Err(TokenError::Malformed),
            "{garbage}"
        );
    }
}

#[test]
fn empty_string_is_rejected() {
    assert_eq!(
        keys().verify_access_token_at("", now()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn ten_kilobyte_token_is_rejected_unparsed() {
    let k = keys();
    let mut claims = k.access_claims("u", "e@x.co", "s", Duration::from_secs(60), now());
    claims.email = "x".repeat(10 * 1024);
    let token = k.sign_access_token(&claims).unwrap();
    assert!(token.len() > 10 * 1024);
    assert_eq!(
        k.verify_access_token_at(&token, now()),
        Err(TokenError::TooLong)
    );
    let junk = "a".repeat(10 * 1024);
    assert_eq!(
        k.verify_access_token_at(&junk, now()),
        Err(TokenError::TooLong)
    );
}

#[test]
fn errors_never_echo_the_token() {
    let token = "secret-looking-token-value";
    let err = keys().verify_access_token_at(token, now()).unwrap_err();
    assert!(!err.to_string().contains(token));
}

#[test]
fn memberships_round_trip_and_default_to_none() {
    let k = keys();
    let mut claims = k.access_claims("user-1", "a@b.co", "s", Duration::from_secs(900), now());
    claims.mem.insert("inst-1".into(), crate::Role::Owner);
    claims.mem.insert("inst-2".into(), crate::Role::Viewer);
    claims.mv = 42;
    let token = k.sign_access_token(&claims).unwrap();
    let verified = k.verify_access_token_at(&token, now()).unwrap();
    assert_eq!(verified.claims.mem, claims.mem);
    assert_eq!(verified.claims.mv, 42);

    // A token minted without them (older tokens) verifies with no memberships.
    let (plain, _) = token_at(now(), Duration::from_secs(900));
    let payload = parts(&plain)[1].clone();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(!json.contains("\"mem\""), "{json}");
    let verified = k.verify_access_token_at(&plain, now()).unwrap();
    assert!(verified.claims.mem.is_empty());
    assert_eq!(verified.claims.mv, 0);
}

#[test]
fn empty_or_non_string_subject_is_refused() {
    let k = keys();
    let claims = k.access_claims("", "a@b.co", "s", Duration::from_secs(900), now());
    let token = k.sign_access_token(&claims).unwrap();
    assert_eq!(
        k.verify_access_token_at(&token, now()),
        Err(TokenError::NoSubject)
    );
    // `sub` as a number: the signature is right, the claims are not ours.
    let claims = serde_json::json!({
        "sub": 5, "userId": "5", "email": "a@b.co", "iat": now().timestamp(),
        "exp": now().timestamp() + 900, "iss": "auth-worker", "jti": "j", "sid": "s",
        "typ": "access"
    });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        k.verify_access_token_at(&token, now()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn service_tokens_are_their_own_type() {
    let k = keys();
    let token = k
        .sign_service_token("sync-worker", Duration::from_secs(60), now())
        .unwrap();
    let claims = k.verify_service_token_at(&token, now()).unwrap();
    assert_eq!(claims.sub, "sync-worker");
    assert_eq!(claims.typ, "service");
    // Not an access token, and an access token is not a service token.
    assert_eq!(
        k.verify_access_token_at(&token, now()),
        Err(TokenError::Malformed)
    );
    let (access, _) = token_at(now(), Duration::from_secs(900));
    assert!(k.verify_service_token_at(&access, now()).is_err());
    // Expired: refused, no grace.
    let later = now() + chrono::Duration::seconds(61);
    assert_eq!(
        k.verify_service_token_at(&token, later),
        Err(TokenError::Expired)
    );
    // Another secret: refused.
    let other = JwtKeys::new(
        &Secret::new("another-secret-of-at-least-32-bytes!!"),
        "auth-worker",
    );
    assert_eq!(
        other.verify_service_token_at(&token, now()),
        Err(TokenError::BadSignature)
    );
}
