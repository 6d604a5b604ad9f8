//! Request extractors whose every rejection is an [`ApiError`], so axum's plain-text
//! rejections never reach a client.
//!
//! `JsonBody<T>` checks the content type, reads at most `max_body_bytes` (over the limit
//! is 400 `INVALID_REQUEST`, as the SPEC says, not 413), parses JSON and reads named
//! fields with messages that name the field. `BearerToken` reads `Authorization`;
//! `CurrentUser` also verifies it as a live access token, as `/me` does.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// A request body type read from a JSON object.
pub trait RequestBody: Sized {
    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError>;
}

/// The members of a JSON request object. Unknown members are ignored.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// A required string member.
    pub fn string(&mut self, name: &str) -> Result<String, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Err(ApiError::invalid_request(format!(
                "Missing required field `{name}`"
            ))),
            Some(Value::String(value)) => Ok(value),
            Some(_) => Err(ApiError::invalid_request(format!(
                "Field `{name}` must be a string"
            ))),
        }
    }
}

/// A JSON request body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: RequestBody> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        if !is_json_content_type(request.headers()) {
            return Err(ApiError::invalid_request(
                "Content-Type must be application/json",
            ));
        }
        if declared_length(request.headers()).is_some_and(|len| len > limit) {
            return Err(too_large(limit));
        }
        // Also bounds bodies without (or lying about) Content-Length.
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| too_large(limit))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::invalid_request("Request body is not valid JSON"))?;
        let Value::Object(map) = value else {
            return Err(ApiError::invalid_request(
                "Request body must be a JSON object",
            ));
        };
        T::from_fields(&mut Fields(map)).map(JsonBody)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::invalid_request(format!(
        "Request body is too large or unreadable (limit {limit} bytes)"
    ))
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The token of an `Authorization: Bearer <token>` header: no header is
/// `TOKEN_MISSING`, one that is not a Bearer token (or not text) `INVALID_TOKEN`.
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::TokenMissing)?
            .to_str()
            .map_err(|_| ApiError::InvalidToken)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(ApiError::InvalidToken)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::InvalidToken);
        }
        Ok(Self(token.to_owned()))
    }
}

/// The caller of a route that needs `Authorization: Bearer <access token>`: a valid,
/// unexpired access token (no grace period) whose session is still live. Expired is
/// `TOKEN_EXPIRED`; anything else wrong is `INVALID_TOKEN`.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub email: String,
    pub session_id: String,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        let verified = state
            .jwt
            .verify_access_token(&token)
            .map_err(|_| ApiError::InvalidToken)?;
        if verified.is_expired() {
            return Err(ApiError::TokenExpired);
        }
        let claims = verified.claims;
        crate::routes::record_user(&claims.sub);
        if !state
            .store
            .session_is_active(&claims.sid, &claims.sub)
            .await?
        {
            return Err(ApiError::InvalidToken);
        }
        Ok(Self {
            user_id: claims.sub,
            email: claims.email,
            session_id: claims.sid,
        })
    }
}

/// The client's IP: the TCP peer, or with `TRUST_PROXY=true` the address the proxy
/// appended to `X-Forwarded-For` (see [`shared::net::client_ip`]).
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| *addr);
        Ok(Self(shared::net::client_ip(
            peer,
            &parts.headers,
            state.config.common.trust_proxy,
        )))
    }
}

/// `{id}` of `/instances/{id}...`. Anything that is not a UUID cannot be an instance id
/// and is `NOT_FOUND`, like an instance the caller is not a member of.
pub struct InstancePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Ok(Self(uuid_param(&params, "id")?))
    }
}

/// `{id}` and `{userId}` of `/instances/{id}/members/{userId}`; non-UUIDs are `NOT_FOUND`.
pub struct MemberPath {
    pub instance_id: String,
    pub user_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Ok(Self {
            instance_id: uuid_param(&params, "id")?,
            user_id: uuid_param(&params, "userId")?,
        })
    }
}

fn uuid_param(params: &[(String, String)], name: &str) -> Result<String, ApiError> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .filter(|value| uuid::Uuid::try_parse(value).is_ok())
        .cloned()
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_essence_is_matched() {
        let mut headers = HeaderMap::new();
        assert!(!is_json_content_type(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/jsonp", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json_content_type(&headers), ok, "{value}");
        }
    }

    #[test]
    fn fields_name_what_is_wrong() {
        let Value::Object(map) = serde_json::json!({"a": "x", "b": 5, "c": null}) else {
            unreachable!()
        };
        let mut fields = Fields(map);
        assert_eq!(fields.string("a").unwrap(), "x");
        assert!(fields
            .string("b")
            .unwrap_err()
            .to_string()
            .contains("`b` must be a string"));
        assert!(fields
            .string("c")
            .unwrap_err()
            .to_string()
            .contains("Missing required field `c`"));
        assert!(fields.string("d").unwrap_err().to_string().contains("`d`"));
    }
}
