//! The sync payload a LiveStore client sends as the `payload` query parameter.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// What the frontend passes to `makeCfSync({ payload })`. Unknown fields are ignored, and
/// a field of the wrong type is treated as absent rather than failing the whole payload,
/// so that the decision table (not serde) decides what a strange payload means.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncPayload {
    #[serde(default, deserialize_with = "lenient_string")]
    pub instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub auth_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub server_bypass: Option<String>,
}

/// Why a `payload` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or JSON but not an object.
    #[error("payload must be a URI-encoded JSON object")]
    NotAnObject,
    /// An object (at any depth) names the same key twice. Refused rather than letting
    /// the last one win: a proxy or logger reading the first value would see another
    /// token than the one the server checks.
    #[error("payload must not repeat a key")]
    DuplicateKey,
}

impl SyncPayload {
    /// Parses the decoded `payload` query value. `None` means it was not a usable JSON
    /// object (see [`SyncPayload::parse_checked`] for why).
    pub fn parse(json: &str) -> Option<Self> {
        Self::parse_checked(json).ok()
    }

    /// Parses the decoded `payload` query value: a JSON object without duplicate keys at
    /// any level.
    pub fn parse_checked(json: &str) -> Result<Self, PayloadError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let value = match UniqueKeys.deserialize(&mut de).and_then(|v| {
            de.end()?;
            Ok(v)
        }) {
            Ok(value) => value,
            Err(e) if e.to_string().starts_with(DUPLICATE) => {
                return Err(PayloadError::DuplicateKey)
            }
            Err(_) => return Err(PayloadError::NotAnObject),
        };
        match value {
            v @ serde_json::Value::Object(_) => {
                serde_json::from_value(v).map_err(|_| PayloadError::NotAnObject)
            }
            _ => Err(PayloadError::NotAnObject),
        }
    }

    /// The auth token, with an empty string counted as no token.
    pub fn auth_token(&self) -> Option<&str> {
        self.auth_token.as_deref().filter(|t| !t.is_empty())
    }
}

const DUPLICATE: &str = "duplicate key";

/// Deserializes any JSON value, failing on an object that repeats a key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = serde_json::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                // The key itself is not echoed: it may sit next to a secret.
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(UniqueKeys)?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

fn lenient_string<'de, D>(de: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(de)?;
    Ok(match value {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_fields_and_ignores_others() {
        let p = SyncPayload::parse(r#"{"instanceId":"i1","authToken":"t","extra":1}"#).unwrap();
        assert_eq!(p.instance_id.as_deref(), Some("i1"));
        assert_eq!(p.auth_token(), Some("t"));
        assert_eq!(p.server_bypass, None);
    }

    #[test]
    fn wrong_types_are_absent_and_empty_token_is_none() {
        let p = SyncPayload::parse(r#"{"authToken":"","serverBypass":42}"#).unwrap();
        assert_eq!(p.auth_token(), None);
        assert_eq!(p.server_bypass, None);
    }

    #[test]
    fn non_object_is_rejected() {
        for raw in ["[1,2]", "not json", "null", "{}x", ""] {
            assert_eq!(SyncPayload::parse(raw), None, "{raw}");
            assert_eq!(
                SyncPayload::parse_checked(raw),
                Err(PayloadError::NotAnObject),
                "{raw}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for raw in [
            r#"{"authToken":"garbage","authToken":"valid"}"#,
            r#"{"instanceId":"a","x":{"k":1,"k":2}}"#,
            r#"{"list":[{"a":1},{"b":2,"b":3}]}"#,
        ] {
            assert_eq!(
                SyncPayload::parse_checked(raw),
                Err(PayloadError::DuplicateKey),
                "{raw}"
            );
        }
        // The same key in sibling objects is fine.
        let ok = SyncPayload::parse_checked(r#"{"a":{"k":1},"b":{"k":2},"authToken":"t"}"#);
        assert_eq!(ok.unwrap().auth_token(), Some("t"));
        // Escapes are compared after decoding: `"\u0061"` is `"a"`.
        assert_eq!(
            SyncPayload::parse_checked(r#"{"a":1,"\u0061":2}"#),
            Err(PayloadError::DuplicateKey)
        );
    }
}
