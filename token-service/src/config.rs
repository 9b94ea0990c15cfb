//! The token service's settings (DESIGN.md, "Settings and defaults").

use std::time::Duration;

use mka1_http_api::{DataDir, DataDirError, SecretString};

use crate::config_keys::{ConfigKeyError, ConfigKeys};
use crate::issuer::{DEFAULT_TTL, LiveKitCredentials};

/// The URL clients are told to connect to (unset: this server's own base URL).
const URL_ENV: &str = "LIVEKIT_URL";
const API_KEY_ENV: &str = "LIVEKIT_API_KEY";
const API_SECRET_ENV: &str = "LIVEKIT_API_SECRET";
const CONFIG_KEYS_ENV: &str = "MKA1_CONFIG_KEYS";
const TTL_ENV: &str = "MKA1_TOKEN_TTL";
/// LiveKit's development credentials (`livekit-server --dev`).
const DEV_API_KEY: &str = "devkey";
const DEV_API_SECRET: &str = "secret";
/// The data-directory file that stands in for `MKA1_CONFIG_KEYS` when it is unset.
const GENERATED_CONFIG_KEYS_FILE: &str = "config-keys";
/// Key id of a generated config key.
const GENERATED_KEY_ID: &str = "local";

/// What to do when `MKA1_CONFIG_KEYS` is unset.
#[derive(Debug, Clone, Copy)]
pub enum MissingConfigKeys<'a> {
    /// Refuse to start (the standalone token service: its key must be shared with the
    /// agents, so a key only it knows would be useless).
    Refuse,
    /// Generate a key into the data directory (or reuse the one generated before) and
    /// warn (`mka1-voice serve`, where the agent runs in the same process).
    GenerateIn(&'a DataDir),
}

/// Errors in the token service's settings. None shows a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `MKA1_CONFIG_KEYS` is unset where it is required.
    #[error(
        "MKA1_CONFIG_KEYS is not set: the token service needs the key(s) it shares with the \
         voice agents to seal session configurations. Set MKA1_CONFIG_KEYS=\"kid:base64key\" \
         (32 random bytes, e.g. `openssl rand -base64 32`)"
    )]
    MissingConfigKeys,
    /// `MKA1_CONFIG_KEYS` (or the generated file) is not a valid key list.
    #[error("{setting}: {source}")]
    ConfigKeys {
        /// Where the list came from.
        setting: String,
        /// What is wrong.
        source: ConfigKeyError,
    },
    /// Only one of `LIVEKIT_API_KEY` and `LIVEKIT_API_SECRET` is set.
    #[error(
        "{set} is set but {missing} is not: set both, or neither for the development credentials"
    )]
    HalfCredentials {
        /// The one that is set.
        set: &'static str,
        /// The one that is missing.
        missing: &'static str,
    },
    /// `LIVEKIT_URL` is not a ws://, wss://, http:// or https:// URL.
    #[error("LIVEKIT_URL must start with ws://, wss://, http:// or https://")]
    BadUrl,
    /// `MKA1_TOKEN_TTL` is not a positive duration.
    #[error("MKA1_TOKEN_TTL `{value}` is not a duration like 3600, 90s, 15m or 1h")]
    BadTtl {
        /// The value.
        value: String,
    },
    /// The data directory could not provide the generated config key.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
}

/// The token service's settings. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct TokenServiceConfig {
    /// `LIVEKIT_URL`: what clients are told to connect to; `None` means this server's
    /// own base URL (the embedded direct WebRTC path).
    pub livekit_url: Option<String>,
    /// `LIVEKIT_API_KEY` / `LIVEKIT_API_SECRET` (default `devkey` / `secret`).
    pub livekit: LiveKitCredentials,
    /// Whether `livekit` is LiveKit's well-known development pair.
    pub dev_credentials: bool,
    /// `MKA1_CONFIG_KEYS`, or the generated key.
    pub config_keys: ConfigKeys,
    /// `MKA1_TOKEN_TTL` (default 1 h).
    pub ttl: Duration,
}

impl TokenServiceConfig {
    /// Reads the settings from the environment, warning (through `tracing`) about
    /// development credentials and generated keys.
    pub fn from_env(missing_keys: MissingConfigKeys<'_>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), missing_keys)
    }

    /// [`TokenServiceConfig::from_env`] reading settings through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        missing_keys: MissingConfigKeys<'_>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let livekit_url = get(URL_ENV).map(|u| u.trim().to_owned());
        if livekit_url.as_ref().is_some_and(|url| {
            !["ws://", "wss://", "http://", "https://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        }) {
            return Err(ConfigError::BadUrl);
        }

        // Keys first: a service that refuses to start should not warn about anything else.
        let config_keys = match (get(CONFIG_KEYS_ENV), missing_keys) {
            (Some(list), _) => {
                let list = SecretString::new(list);
                ConfigKeys::parse(list.expose()).map_err(|source| ConfigError::ConfigKeys {
                    setting: CONFIG_KEYS_ENV.to_owned(),
                    source,
                })?
            }
            (None, MissingConfigKeys::Refuse) => return Err(ConfigError::MissingConfigKeys),
            (None, MissingConfigKeys::GenerateIn(data_dir)) => {
                let stored = data_dir.read_or_create_secret(GENERATED_CONFIG_KEYS_FILE, || {
                    ConfigKeys::generate_entry(GENERATED_KEY_ID)
                })?;
                let path = stored.path.display().to_string();
                if stored.created {
                    tracing::warn!(
                        file = %path,
                        "MKA1_CONFIG_KEYS is unset: generated a session sealing key into the data \
                         directory; set MKA1_CONFIG_KEYS to share one with agents on other machines"
                    );
                } else {
                    tracing::warn!(
                        file = %path,
                        "MKA1_CONFIG_KEYS is unset: using the sealing key generated earlier"
                    );
                }
                ConfigKeys::parse(stored.value.expose()).map_err(|source| {
                    ConfigError::ConfigKeys {
                        setting: path,
                        source,
                    }
                })?
            }
        };

        let (livekit, dev_credentials) = match (get(API_KEY_ENV), get(API_SECRET_ENV)) {
            (Some(key), Some(secret)) => (
                LiveKitCredentials::new(key.trim(), SecretString::new(secret.trim())),
                key.trim() == DEV_API_KEY && secret.trim() == DEV_API_SECRET,
            ),
            (None, None) => {
                tracing::warn!(
                    "LIVEKIT_API_KEY/LIVEKIT_API_SECRET are unset: signing tokens with LiveKit's \
                     development credentials (devkey/secret); anyone can forge those, so set \
                     your own outside development"
                );
                (
                    LiveKitCredentials::new(DEV_API_KEY, SecretString::new(DEV_API_SECRET)),
                    true,
                )
            }
            (Some(_), None) => {
                return Err(ConfigError::HalfCredentials {
                    set: API_KEY_ENV,
                    missing: API_SECRET_ENV,
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::HalfCredentials {
                    set: API_SECRET_ENV,
                    missing: API_KEY_ENV,
                });
            }
        };

        let ttl = match get(TTL_ENV) {
            Some(value) => parse_ttl(&value).ok_or(ConfigError::BadTtl { value })?,
            None => DEFAULT_TTL,
        };

        Ok(Self {
            livekit_url,
            livekit,
            dev_credentials,
            config_keys,
            ttl,
        })
    }
}

/// `3600`, `3600s`, `60m` or `1h` → a positive duration.
fn parse_ttl(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (digits, unit) = match value.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => value.split_at(i),
        None => (value, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn explicit_settings() {
        let c = TokenServiceConfig::from_lookup(
            lookup(&[
                ("LIVEKIT_URL", "wss://lk.example.com"),
                ("LIVEKIT_API_KEY", "APIabc"),
                ("LIVEKIT_API_SECRET", "very-secret-signing-key"),
                ("MKA1_CONFIG_KEYS", KEY),
                ("MKA1_TOKEN_TTL", "15m"),
            ]),
            MissingConfigKeys::Refuse,
        )
        .unwrap();
        assert_eq!(c.livekit_url.as_deref(), Some("wss://lk.example.com"));
        assert_eq!(c.livekit.api_key(), "APIabc");
        assert!(!c.dev_credentials);
        assert_eq!(c.ttl, Duration::from_secs(900));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("MDEyMzQ1"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_and_refusals() {
        let err =
            TokenServiceConfig::from_lookup(lookup(&[]), MissingConfigKeys::Refuse).unwrap_err();
        assert!(matches!(err, ConfigError::MissingConfigKeys));
        assert!(err.to_string().contains("MKA1_CONFIG_KEYS"));

        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let c = TokenServiceConfig::from_lookup(lookup(&[]), MissingConfigKeys::GenerateIn(&dir))
            .unwrap();
        assert!(c.dev_credentials && c.livekit.api_key() == "devkey");
        assert_eq!(c.livekit.api_secret().expose(), "secret");
        assert_eq!(c.livekit_url, None);
        assert_eq!(c.ttl, DEFAULT_TTL);
        assert_eq!(c.config_keys.key_ids().collect::<Vec<_>>(), ["local"]);
        // A restart reuses the generated key, so blobs sealed before it still open.
        let again =
            TokenServiceConfig::from_lookup(lookup(&[]), MissingConfigKeys::GenerateIn(&dir))
                .unwrap();
        let stored = std::fs::read_to_string(tmp.path().join("config-keys")).unwrap();
        assert!(stored.starts_with("local:"));
        let cfg = crate::sealed::SessionConfig {
            llm: serde_json::Map::new(),
            stt: None,
            language: None,
            on_behalf_of: None,
            credentials: crate::sealed::ResponsesCredentials {
                api_key: SecretString::new("k"),
            },
            room: "r".into(),
            issued_at: 0,
        };
        let sealed = crate::sealed::SealedConfig::seal(&cfg, "i", &c.config_keys).unwrap();
        assert_eq!(sealed.open(&again.config_keys, "r", "i").unwrap(), cfg);

        let err = TokenServiceConfig::from_lookup(
            lookup(&[("LIVEKIT_API_KEY", "k"), ("MKA1_CONFIG_KEYS", KEY)]),
            MissingConfigKeys::Refuse,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "LIVEKIT_API_KEY is set but LIVEKIT_API_SECRET is not: set both, or neither for the development credentials"
        );
        for (var, value) in [
            ("LIVEKIT_URL", "lk.example.com"),
            ("MKA1_TOKEN_TTL", "0"),
            ("MKA1_TOKEN_TTL", "1 week"),
        ] {
            let r = TokenServiceConfig::from_lookup(
                lookup(&[(var, value), ("MKA1_CONFIG_KEYS", KEY)]),
                MissingConfigKeys::Refuse,
            );
            assert!(r.is_err(), "{var}={value}");
        }
        let err = TokenServiceConfig::from_lookup(
            lookup(&[("MKA1_CONFIG_KEYS", "k1:c2VjcmV0LWJ1dC1zaG9ydA==")]),
            MissingConfigKeys::Refuse,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn ttl_syntax() {
        assert_eq!(parse_ttl("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("-5"), None);
    }
}
