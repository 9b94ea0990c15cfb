//! The AES-256-GCM keys that seal session configurations, with ids for rotation.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit as _};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose};
use mka1_http_api::SecretString;

/// Longest key id: it prefixes every sealed blob, so it is kept short.
pub const MAX_KEY_ID_LEN: usize = 16;

/// Errors reading `MKA1_CONFIG_KEYS`. None of them shows key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigKeyError {
    /// The list names no key.
    #[error("no config key: expected `kid:base64key[,kid:base64key...]`")]
    Empty,
    /// An entry is not `kid:base64key`.
    #[error("config key number {index} is not `kid:base64key`")]
    Syntax {
        /// Position in the list, from 1.
        index: usize,
    },
    /// A key id is empty, too long or has characters other than `A-Z a-z 0-9 _ -`.
    #[error("config key id `{key_id}` must be 1 to 16 characters of A-Z, a-z, 0-9, `_` or `-`")]
    BadKeyId {
        /// The id.
        key_id: String,
    },
    /// Two keys share an id.
    #[error("config key id `{key_id}` is used twice")]
    DuplicateKeyId {
        /// The id.
        key_id: String,
    },
    /// The key is not base64 (standard or URL-safe, padding optional).
    #[error("config key `{key_id}` is not valid base64")]
    NotBase64 {
        /// The id.
        key_id: String,
    },
    /// The key does not decode to 32 bytes (AES-256).
    #[error(
        "config key `{key_id}` is {len} bytes; AES-256-GCM needs 32 (e.g. `openssl rand -base64 32`)"
    )]
    WrongLength {
        /// The id.
        key_id: String,
        /// Decoded length.
        len: usize,
    },
}

/// One sealing key.
#[derive(Clone)]
pub(crate) struct ConfigKey {
    pub(crate) id: String,
    pub(crate) cipher: Aes256Gcm,
}

/// The configuration sealing keys (`MKA1_CONFIG_KEYS="kid:base64key,..."`): the first
/// seals, every one opens, so a new key can be put first while blobs sealed with the
/// old one still open until it is removed. `Debug` shows the ids only.
#[derive(Clone)]
pub struct ConfigKeys {
    keys: Vec<ConfigKey>,
}

impl fmt::Debug for ConfigKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigKeys")
            .field("ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

/// Base64 decoders that accept keys however `openssl`, Python or Go wrote them.
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl ConfigKeys {
    /// Parses `kid:base64key[,kid:base64key...]` (spaces around entries are ignored).
    pub fn parse(list: &str) -> Result<Self, ConfigKeyError> {
        let mut keys: Vec<ConfigKey> = Vec::new();
        for (i, entry) in list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (id, encoded) = entry
                .split_once(':')
                .ok_or(ConfigKeyError::Syntax { index: i + 1 })?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > MAX_KEY_ID_LEN
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigKeyError::BadKeyId {
                    key_id: id.to_owned(),
                });
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(ConfigKeyError::DuplicateKeyId {
                    key_id: id.to_owned(),
                });
            }
            let encoded = encoded.trim();
            let mut bytes = STANDARD_ANY_PADDING
                .decode(encoded)
                .or_else(|_| URL_SAFE_ANY_PADDING.decode(encoded))
                .map_err(|_| ConfigKeyError::NotBase64 {
                    key_id: id.to_owned(),
                })?;
            let cipher = Aes256Gcm::new_from_slice(&bytes);
            let len = bytes.len();
            zeroize::Zeroize::zeroize(&mut bytes);
            let cipher = cipher.map_err(|_| ConfigKeyError::WrongLength {
                key_id: id.to_owned(),
                len,
            })?;
            keys.push(ConfigKey {
                id: id.to_owned(),
                cipher,
            });
        }
        if keys.is_empty() {
            return Err(ConfigKeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// A new random key with id `key_id`, as a `kid:base64key` entry for
    /// `MKA1_CONFIG_KEYS` (or the data directory file that stands in for it).
    pub fn generate_entry(key_id: &str) -> SecretString {
        let mut bytes = [0u8; 32];
        mka1_http_api::random_bytes(&mut bytes);
        let entry = format!("{key_id}:{}", general_purpose::STANDARD.encode(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        SecretString::new(entry)
    }

    /// The ids, sealing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// The key that seals new blobs (the first).
    pub(crate) fn sealing_key(&self) -> &ConfigKey {
        // `parse` refuses an empty list, so there is always a first key.
        &self.keys[0]
    }

    /// The key with id `key_id`, if still configured.
    pub(crate) fn find(&self, key_id: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.id == key_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    #[test]
    fn parses_lists_in_any_base64_flavour() {
        let keys =
            ConfigKeys::parse(&format!(" new:{K1} , old:{} ,", K1.trim_end_matches('='))).unwrap();
        assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(keys.sealing_key().id, "new");
        let generated = ConfigKeys::generate_entry("g1");
        let keys = ConfigKeys::parse(generated.expose()).unwrap();
        assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["g1"]);
    }

    #[test]
    fn errors_name_the_key_id_never_the_key() {
        let cases = [
            (String::new(), ConfigKeyError::Empty),
            (K1.to_owned(), ConfigKeyError::Syntax { index: 1 }),
            (
                format!("a b:{K1}"),
                ConfigKeyError::BadKeyId {
                    key_id: "a b".into(),
                },
            ),
            (
                format!("{}:{K1}", "x".repeat(17)),
                ConfigKeyError::BadKeyId {
                    key_id: "x".repeat(17),
                },
            ),
            (
                format!("a:{K1},a:{K1}"),
                ConfigKeyError::DuplicateKeyId { key_id: "a".into() },
            ),
            (
                "a:not base64!".to_owned(),
                ConfigKeyError::NotBase64 { key_id: "a".into() },
            ),
            (
                "a:c2hvcnQ=".to_owned(),
                ConfigKeyError::WrongLength {
                    key_id: "a".into(),
                    len: 5,
                },
            ),
        ];
        for (input, expected) in cases {
            let err = ConfigKeys::parse(&input).unwrap_err();
            assert_eq!(err, expected, "{input}");
            assert!(!err.to_string().contains(K1), "{err}");
        }
    }

    #[test]
    fn debug_shows_ids_only() {
        let keys = ConfigKeys::parse(&format!("k1:{K1}")).unwrap();
        let shown = format!("{keys:?}");
        assert_eq!(shown, r#"ConfigKeys { ids: ["k1"] }"#);
    }
}
