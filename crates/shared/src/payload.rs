//! The sync payload a LiveStore client sends as the `payload` query parameter.

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

impl SyncPayload {
    /// Parses the decoded `payload` query value. `None` means it was not a JSON object.
    pub fn parse(json: &str) -> Option<Self> {
        match serde_json::from_str::<serde_json::Value>(json).ok()? {
            v @ serde_json::Value::Object(_) => serde_json::from_value(v).ok(),
            _ => None,
        }
    }

    /// The auth token, with an empty string counted as no token.
    pub fn auth_token(&self) -> Option<&str> {
        self.auth_token.as_deref().filter(|t| !t.is_empty())
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
        assert_eq!(SyncPayload::parse("[1,2]"), None);
        assert_eq!(SyncPayload::parse("not json"), None);
        assert_eq!(SyncPayload::parse("null"), None);
    }
}
