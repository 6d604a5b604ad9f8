//! Typed configuration shared by both services (SPEC section 1).
//!
//! Values come from a [`Vars`] map: the `.dev.vars` file of the working directory first,
//! then the process environment, which wins. Parsing is separate from reading so tests
//! build configurations from literal pairs without touching the process environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::constants::{self, env};
use crate::jwt::JwtKeys;
use crate::secret::Secret;

/// A configuration value that could not be used. The message names the key and never
/// contains the value of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Raw `KEY=value` settings. An empty value counts as unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// `.dev.vars` in the working directory (if present), overlaid by the environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Path::new(constants::DEV_VARS_FILE), std::env::vars())
    }

    /// The given dotenv-style file (if it exists), overlaid by `environment`.
    pub fn load_from(
        file: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut vars = BTreeMap::new();
        if file.exists() {
            let key = file.display().to_string();
            let entries = dotenvy::from_path_iter(file)
                .map_err(|e| ConfigError::new(&key, format!("cannot read: {e}")))?;
            for entry in entries {
                let (k, v) = entry.map_err(|e| ConfigError::new(&key, format!("{e}")))?;
                vars.insert(k, v);
            }
            for (unknown, suggestion) in unknown_keys(vars.keys().map(String::as_str)) {
                match suggestion {
                    Some(known) => tracing::warn!(
                        "{key}: unknown key {unknown} is ignored (did you mean {known}?)"
                    ),
                    None => tracing::warn!("{key}: unknown key {unknown} is ignored"),
                }
            }
        }
        vars.extend(environment);
        Ok(Self(vars))
    }

    /// Settings from literal pairs (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Sets or replaces one value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The trimmed value of `key`, or `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The value of `key` or `default`.
    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// Parses `key` with `FromStr`; an unparsable value is an error naming the key.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ConfigError::new(key, format!("cannot parse {raw:?}: {e}")))
            })
            .transpose()
    }

    /// Parses `key` or returns `default` when unset.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// `true` or `false` (any case); anything else (`yes`, `1`, `on`) is an error
    /// naming the accepted spellings, never a guess.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConfigError::new(
                key,
                format!("expected true or false, got {raw:?}"),
            )),
        }
    }

    /// A whole number of seconds, at least 1.
    pub fn seconds(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.parse::<u64>(key)? {
            None => Ok(default),
            Some(0) => Err(ConfigError::new(key, "must be at least 1 second")),
            Some(secs) => Ok(Duration::from_secs(secs)),
        }
    }

    /// A secret value, wrapped so it never shows in `Debug`.
    pub fn secret(&self, key: &str) -> Option<Secret> {
        self.get(key).map(Secret::new)
    }
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only key names: any value may be a secret.
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Every key `.dev.vars.example` documents (set or commented out): the keys the services
/// and `dev-stack` read. A key of `.dev.vars` outside this list is a typo or a leftover.
pub fn known_keys() -> std::collections::BTreeSet<&'static str> {
    const EXAMPLE: &str = include_str!("../../../.dev.vars.example");
    EXAMPLE
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches('#').trim_start();
            let (key, _) = line.split_once('=')?;
            let is_key = !key.is_empty()
                && key.starts_with(|c: char| c.is_ascii_uppercase())
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_key.then_some(key)
        })
        .collect()
}

/// The keys of `keys` that are not [`known_keys`], each with the closest known key when
/// one is near (a typo such as `REQUIRE_AUTHH`).
pub fn unknown_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Vec<(&'a str, Option<&'static str>)> {
    let known = known_keys();
    keys.into_iter()
        .filter(|key| !known.contains(key))
        .map(|key| {
            let nearest = known
                .iter()
                .map(|k| (strsim::levenshtein(key, k), *k))
                .min()
                .filter(|(distance, _)| *distance <= 3)
                .map(|(_, k)| k);
            (key, nearest)
        })
        .collect()
}

/// `ENVIRONMENT`: `production` forces authentication on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the two words: a near miss (`prod`, `staging`) is refused, not guessed.
        match s.to_ascii_lowercase().as_str() {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            _ => Err("expected development or production".to_owned()),
        }
    }
}

/// Which origins CORS allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: development default.
    Any,
    /// An explicit list of origins such as `https://app.example.com`.
    List(Vec<String>),
}

/// Settings both services read the same way.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub environment: Environment,
    /// Effective value: `true` whenever `environment` is production.
    pub require_auth: bool,
    pub jwt_secret: Secret,
    /// `JWT_SECRET` was unset and the fixed development secret is in use.
    pub jwt_secret_is_dev_default: bool,
    pub jwt_issuer: String,
    pub grace_period: Duration,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub server_bypass_token: Option<Secret>,
    pub admin_secret: Option<Secret>,
    pub cors_allowed_origins: CorsOrigins,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// `METRICS_ADDR`: serve `GET /metrics` on this address instead of the service's
    /// own port (which then answers 404 there).
    pub metrics_addr: Option<SocketAddr>,
}

impl CommonConfig {
    /// Parses and validates. In production (or with `REQUIRE_AUTH=true`) a missing or
    /// short `JWT_SECRET`, or a short `SERVER_BYPASS_TOKEN`, is an error.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let environment = vars.parse_or(env::ENVIRONMENT, Environment::Development)?;
        let production = environment == Environment::Production;
        let require_auth_setting = vars.flag(env::REQUIRE_AUTH, false)?;
        let require_auth = production || require_auth_setting;

        let (jwt_secret, jwt_secret_is_dev_default) = match vars.secret(env::JWT_SECRET) {
            Some(secret) => (secret, false),
            None if require_auth => {
                return Err(ConfigError::new(
                    env::JWT_SECRET,
                    "required when ENVIRONMENT=production or REQUIRE_AUTH=true",
                ))
            }
            None => (Secret::new(constants::DEV_JWT_SECRET), true),
        };
        if require_auth && jwt_secret.len() < constants::MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                env::JWT_SECRET,
                format!(
                    "must be at least {} bytes when auth is enforced (got {})",
                    constants::MIN_SECRET_BYTES,
                    jwt_secret.len()
                ),
            ));
        }

        let server_bypass_token = vars.secret(env::SERVER_BYPASS_TOKEN);
        if let Some(token) = &server_bypass_token {
            if require_auth && token.len() < constants::MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    env::SERVER_BYPASS_TOKEN,
                    format!(
                        "must be at least {} bytes when auth is enforced (got {})",
                        constants::MIN_SECRET_BYTES,
                        token.len()
                    ),
                ));
            }
        }

        let cors_allowed_origins = match vars.get(env::CORS_ALLOWED_ORIGINS) {
            Some("*") if production => {
                return Err(ConfigError::new(
                    env::CORS_ALLOWED_ORIGINS,
                    "`*` is not allowed in production; list the origins",
                ))
            }
            Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(parse_origins(list)?),
            None if production => {
                return Err(ConfigError::new(
                    env::CORS_ALLOWED_ORIGINS,
                    "required in production (comma-separated origins)",
                ))
            }
            None => CorsOrigins::Any,
        };

        Ok(Self {
            environment,
            require_auth,
            jwt_secret,
            jwt_secret_is_dev_default,
            jwt_issuer: vars
                .get_or(env::JWT_ISSUER, constants::DEFAULT_JWT_ISSUER)
                .to_owned(),
            grace_period: vars
                .seconds(env::GRACE_PERIOD_SECONDS, constants::DEFAULT_GRACE_PERIOD)?,
            access_token_ttl: vars.seconds(
                env::ACCESS_TOKEN_TTL_SECONDS,
                constants::DEFAULT_ACCESS_TOKEN_TTL,
            )?,
            refresh_token_ttl: vars.seconds(
                env::REFRESH_TOKEN_TTL_SECONDS,
                constants::DEFAULT_REFRESH_TOKEN_TTL,
            )?,
            server_bypass_token,
            admin_secret: vars.secret(env::ADMIN_SECRET),
            cors_allowed_origins,
            trust_proxy: vars.flag(env::TRUST_PROXY, false)?,
            metrics_addr: vars.parse(env::METRICS_ADDR)?,
        })
    }

    /// Signing and verification keys for this configuration.
    pub fn jwt_keys(&self) -> JwtKeys {
        JwtKeys::new(&self.jwt_secret, &self.jwt_issuer)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Logs the one start-up warning development mode deserves.
    pub fn warn_if_insecure(&self) {
        if self.jwt_secret_is_dev_default {
            tracing::warn!(
                "JWT_SECRET is not set: using the fixed development secret. \
                 Tokens signed with it are forgeable; set JWT_SECRET before exposing this service."
            );
        }
    }
}

fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| o.trim_end_matches('/').to_owned())
        .collect();
    for origin in &origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return Err(ConfigError::new(
                env::CORS_ALLOWED_ORIGINS,
                format!("{origin:?} is not an http(s) origin"),
            ));
        }
    }
    if origins.is_empty() {
        return Err(ConfigError::new(env::CORS_ALLOWED_ORIGINS, "empty list"));
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn development_starts_with_nothing() {
        let cfg = CommonConfig::from_vars(&Vars::default()).unwrap();
        assert!(!cfg.require_auth);
        assert!(cfg.jwt_secret_is_dev_default);
        assert_eq!(cfg.grace_period, constants::DEFAULT_GRACE_PERIOD);
        assert_eq!(cfg.cors_allowed_origins, CorsOrigins::Any);
        assert_eq!(cfg.jwt_issuer, "auth-worker");
    }

    #[test]
    fn production_forces_auth_and_requires_secret_and_origins() {
        let err = CommonConfig::from_vars(&Vars::from_pairs([("ENVIRONMENT", "production")]))
            .unwrap_err();
        assert_eq!(err.key, "JWT_SECRET");

        let err = CommonConfig::from_vars(&Vars::from_pairs([
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "short"),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "JWT_SECRET");
        assert!(!err.to_string().contains("short"), "secret leaked: {err}");

        let err = CommonConfig::from_vars(&Vars::from_pairs([
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", LONG),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "CORS_ALLOWED_ORIGINS");

        let cfg = CommonConfig::from_vars(&Vars::from_pairs([
            ("ENVIRONMENT", "production"),
            ("REQUIRE_AUTH", "false"),
            ("JWT_SECRET", LONG),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example/",
            ),
        ]))
        .unwrap();
        assert!(cfg.require_auth);
        assert_eq!(
            cfg.cors_allowed_origins,
            CorsOrigins::List(vec!["https://a.example".into(), "https://b.example".into()])
        );
    }

    #[test]
    fn require_auth_needs_secret_and_long_bypass() {
        let err =
            CommonConfig::from_vars(&Vars::from_pairs([("REQUIRE_AUTH", "true")])).unwrap_err();
        assert_eq!(err.key, "JWT_SECRET");
        let err = CommonConfig::from_vars(&Vars::from_pairs([
            ("REQUIRE_AUTH", "true"),
            ("JWT_SECRET", LONG),
            ("SERVER_BYPASS_TOKEN", "tiny"),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "SERVER_BYPASS_TOKEN");
    }

    #[test]
    fn invalid_values_name_the_key() {
        for (key, value) in [
            ("REQUIRE_AUTH", "maybe"),
            ("REQUIRE_AUTH", "yes"),
            ("REQUIRE_AUTH", "1"),
            ("TRUST_PROXY", "on"),
            ("ENVIRONMENT", "prod"),
            ("ENVIRONMENT", "dev"),
            ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
            ("REFRESH_TOKEN_TTL_SECONDS", "-5"),
            ("GRACE_PERIOD_SECONDS", "0"),
            ("ENVIRONMENT", "staging"),
            ("CORS_ALLOWED_ORIGINS", "ftp://x"),
            ("METRICS_ADDR", "localhost"),
        ] {
            let err = CommonConfig::from_vars(&Vars::from_pairs([(key, value)])).unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn near_misses_name_the_accepted_spellings() {
        let err =
            CommonConfig::from_vars(&Vars::from_pairs([("ENVIRONMENT", "prod")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: ENVIRONMENT: cannot parse \"prod\": expected development or production"
        );
        let err =
            CommonConfig::from_vars(&Vars::from_pairs([("REQUIRE_AUTH", "yes")])).unwrap_err();
        assert!(err.reason.contains("expected true or false"), "{err}");
        let cfg = CommonConfig::from_vars(&Vars::from_pairs([("REQUIRE_AUTH", "FALSE")])).unwrap();
        assert!(!cfg.require_auth);
    }

    #[test]
    fn unknown_keys_are_found_with_a_suggestion() {
        let known = known_keys();
        for key in [
            "ENVIRONMENT",
            "JWT_SECRET",
            "MAX_CONNECTIONS",
            "AUTH_PORT",
            "RUST_LOG",
        ] {
            assert!(
                known.contains(key),
                "{key} is not documented in .dev.vars.example"
            );
        }
        let unknown = unknown_keys(["REQUIRE_AUTH", "REQUIRE_AUTHH", "SOMETHING_ELSE_ENTIRELY"]);
        assert_eq!(
            unknown,
            vec![
                ("REQUIRE_AUTHH", Some("REQUIRE_AUTH")),
                ("SOMETHING_ELSE_ENTIRELY", None)
            ]
        );
    }

    #[test]
    fn environment_wins_over_file_and_debug_hides_values() {
        let dir = std::env::temp_dir().join(format!("shared-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".dev.vars");
        std::fs::write(
            &file,
            "# comment\nJWT_SECRET=\"from-file-secret\"\nGRACE_PERIOD_SECONDS=60\nJWT_ISSUER='quoted'\n",
        )
        .unwrap();
        let vars = Vars::load_from(
            &file,
            [("GRACE_PERIOD_SECONDS".to_owned(), "120".to_owned())],
        )
        .unwrap();
        assert_eq!(vars.get("JWT_SECRET"), Some("from-file-secret"));
        assert_eq!(vars.get("JWT_ISSUER"), Some("quoted"));
        assert_eq!(vars.get("GRACE_PERIOD_SECONDS"), Some("120"));
        assert!(!format!("{vars:?}").contains("from-file-secret"));
        let cfg = CommonConfig::from_vars(&vars).unwrap();
        assert!(!format!("{cfg:?}").contains("from-file-secret"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dev_vars_example_parses_as_a_development_config() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.dev.vars.example");
        let vars = Vars::load_from(&example, std::iter::empty()).unwrap();
        assert_eq!(vars.get("ENVIRONMENT"), Some("development"));
        let cfg = CommonConfig::from_vars(&vars).unwrap();
        assert!(!cfg.require_auth);
        assert_eq!(cfg.grace_period, constants::DEFAULT_GRACE_PERIOD);
    }
}
