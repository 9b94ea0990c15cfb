//! The API keys the server accepts, checked in constant time.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::data_dir::{DataDir, DataDirError};
use crate::secret::SecretString;

/// Comma-separated list of accepted API keys.
const KEYS_ENV: &str = "MKA1_API_KEYS";
/// A file with the accepted API keys (one per line or comma-separated, `#` comments).
const KEYS_FILE_ENV: &str = "MKA1_API_KEYS_FILE";
/// Where a generated key is kept in the data directory.
const GENERATED_KEY_FILE: &str = "api-key";
/// The secret that keys [`KeyId`]s (so ids are stable across restarts but reveal nothing
/// about weak keys).
const KEY_ID_SECRET_FILE: &str = "key-id.secret";
/// Hex digits of a [`KeyId`] (96 bits: no collisions among any realistic number of keys).
const KEY_ID_HEX_LEN: usize = 24;

type HmacSha256 = Hmac<Sha256>;

/// Errors loading the API keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A setting names no key at all.
    #[error("{setting} holds no API key")]
    NoKeys {
        /// `MKA1_API_KEYS` or the file of `MKA1_API_KEYS_FILE`.
        setting: String,
    },
    /// A key has characters that cannot travel in an `Authorization` header.
    #[error("API key number {index} of {setting} contains whitespace or control characters")]
    InvalidKey {
        /// Where it came from.
        setting: String,
        /// Its position, from 1 (never the key itself).
        index: usize,
    },
    /// The keys file could not be read.
    #[error("reading {path} (MKA1_API_KEYS_FILE): {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory could not provide the generated key or the key-id secret.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
}

/// Where the accepted keys came from; tells the binary what to announce.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeySource {
    /// `MKA1_API_KEYS`.
    Env,
    /// The file named by `MKA1_API_KEYS_FILE`.
    File(PathBuf),
    /// The key generated on an earlier run, read back from the data directory.
    Stored(PathBuf),
    /// Generated and stored by this run: the one moment the key is shown to the operator.
    Generated {
        /// The file it was stored in.
        path: PathBuf,
        /// The new key, to print once.
        key: SecretString,
    },
}

/// A stable, non-secret id of an API key: a keyed hash prefix (`key_` + 24 hex digits).
/// Safe to log and to store (history ownership); it cannot be turned back into the key,
/// even a weak one, without the server's key-id secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The accepted API keys. Cheap to clone (shared). Only keyed digests of the keys are
/// kept, and a presented key is checked against every one of them in constant time.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    /// HMAC key for digests and ids.
    id_secret: SecretString,
    /// HMAC-SHA256(id_secret, key) of each accepted key.
    digests: Vec<[u8; 32]>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.inner.digests.len())
            .finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// Accepts `keys`; `id_secret` keys the digests and [`KeyId`]s (keep it stable to keep
    /// ids stable).
    pub fn new<I, K>(keys: I, id_secret: SecretString) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let digests = keys
            .into_iter()
            .map(|k| digest(&id_secret, k.as_ref()))
            .collect();
        Self {
            inner: Arc::new(Inner { id_secret, digests }),
        }
    }

    /// Loads the keys as DESIGN.md's settings say: `MKA1_API_KEYS` (comma list), else
    /// `MKA1_API_KEYS_FILE`, else the key generated into the data directory on the first
    /// run (file mode 0600), reused afterwards. The key-id secret lives in the data
    /// directory too.
    pub fn from_env(data_dir: &DataDir) -> Result<(Self, KeySource), KeyError> {
        Self::from_lookup(|name| std::env::var(name).ok(), data_dir)
    }

    /// [`ApiKeys::from_env`] reading settings through `lookup` (tests pass a map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        data_dir: &DataDir,
    ) -> Result<(Self, KeySource), KeyError> {
        let (keys, source) = if let Some(list) = lookup(KEYS_ENV).filter(|v| !v.trim().is_empty()) {
            (parse_keys(&list, KEYS_ENV)?, KeySource::Env)
        } else if let Some(file) = lookup(KEYS_FILE_ENV).filter(|v| !v.trim().is_empty()) {
            let path = PathBuf::from(file);
            let content = std::fs::read_to_string(&path).map_err(|source| KeyError::File {
                path: path.clone(),
                source,
            })?;
            let content = SecretString::new(content);
            let uncommented: String = content
                .expose()
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(|l| [l, ","])
                .collect();
            let uncommented = SecretString::new(uncommented);
            (
                parse_keys(uncommented.expose(), &path.display().to_string())?,
                KeySource::File(path),
            )
        } else {
            let stored = data_dir.read_or_create_secret(GENERATED_KEY_FILE, generate_key)?;
            let source = if stored.created {
                KeySource::Generated {
                    path: stored.path,
                    key: stored.value.clone(),
                }
            } else {
                KeySource::Stored(stored.path)
            };
            (vec![stored.value], source)
        };
        let id_secret = data_dir
            .read_or_create_secret(KEY_ID_SECRET_FILE, || random_base64(32))?
            .value;
        Ok((
            Self::new(keys.iter().map(SecretString::expose), id_secret),
            source,
        ))
    }

    /// The id of `presented` when it is one of the accepted keys. Takes the same time
    /// whichever key (if any) matches, and however much of it matches.
    pub fn verify(&self, presented: &str) -> Option<KeyId> {
        let candidate = digest(&self.inner.id_secret, presented);
        let mut matched = subtle::Choice::from(0);
        for accepted in &self.inner.digests {
            matched |= accepted.ct_eq(&candidate);
        }
        bool::from(matched).then(|| key_id_of(&candidate))
    }

    /// The id a key has (whether or not it is accepted).
    pub fn key_id(&self, key: &str) -> KeyId {
        key_id_of(&digest(&self.inner.id_secret, key))
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.inner.digests.len()
    }

    /// Whether no key is accepted (every call is refused).
    pub fn is_empty(&self) -> bool {
        self.inner.digests.is_empty()
    }
}

fn digest(id_secret: &SecretString, key: &str) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(id_secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"mka1-voice/api-key/v1\0");
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

fn key_id_of(digest: &[u8; 32]) -> KeyId {
    use fmt::Write as _;
    let mut id = String::with_capacity(4 + KEY_ID_HEX_LEN);
    id.push_str("key_");
    for byte in &digest[..KEY_ID_HEX_LEN / 2] {
        let _ = write!(id, "{byte:02x}");
    }
    KeyId(id)
}

fn parse_keys(list: &str, setting: &str) -> Result<Vec<SecretString>, KeyError> {
    let mut keys = Vec::new();
    for (i, key) in list
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
    {
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::InvalidKey {
                setting: setting.to_owned(),
                index: i + 1,
            });
        }
        keys.push(SecretString::new(key));
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys {
            setting: setting.to_owned(),
        });
    }
    if keys.iter().any(|k| k.expose().len() < 16) {
        tracing::warn!(
            setting,
            "an API key is shorter than 16 characters: easy to guess"
        );
    }
    Ok(keys)
}

/// A new API key: `mka1_` + 32 random bytes in base64url.
fn generate_key() -> SecretString {
    SecretString::new(format!("mka1_{}", random_base64(32).expose()))
}

fn random_base64(len: usize) -> SecretString {
    let mut bytes = vec![0u8; len];
    crate::random_bytes(&mut bytes);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    SecretString::new(encoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn accepts_listed_keys_only_and_ids_are_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let vars = [(
            "MKA1_API_KEYS",
            " alpha-key-0123456789 , beta-key-0123456789 ,",
        )];
        let (keys, source) = ApiKeys::from_lookup(lookup(&vars), &dir).unwrap();
        assert!(matches!(source, KeySource::Env));
        assert_eq!(keys.len(), 2);
        let a = keys.verify("alpha-key-0123456789").unwrap();
        let b = keys.verify("beta-key-0123456789").unwrap();
        assert_ne!(a, b);
        assert!(keys.verify("alpha-key-012345678").is_none());
        assert!(keys.verify("").is_none());
        assert!(a.as_str().starts_with("key_") && a.as_str().len() == 4 + KEY_ID_HEX_LEN);
        assert!(!a.as_str().contains("alpha"));

        // Same data directory, next start: same ids.
        let (again, _) = ApiKeys::from_lookup(lookup(&vars), &dir).unwrap();
        assert_eq!(again.verify("alpha-key-0123456789"), Some(a.clone()));
        // Another server (another key-id secret): another id, so ids are keyed.
        let other = tempfile::tempdir().unwrap();
        let (elsewhere, _) =
            ApiKeys::from_lookup(lookup(&vars), &DataDir::new(other.path())).unwrap();
        assert_ne!(elsewhere.verify("alpha-key-0123456789"), Some(a));
    }

    #[test]
    fn keys_file_with_comments() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("keys");
        std::fs::write(
            &file,
            "# ops team\nfirst-key-aaaaaaaaaa\nsecond-key-bbbbbbbb, third-key-cccccccccc\n",
        )
        .unwrap();
        let vars = [("MKA1_API_KEYS_FILE", file.to_str().unwrap())];
        let (keys, source) =
            ApiKeys::from_lookup(lookup(&vars), &DataDir::new(tmp.path())).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        assert_eq!(keys.len(), 3);
        assert!(keys.verify("third-key-cccccccccc").is_some());
        assert!(keys.verify("# ops team").is_none());
    }

    #[test]
    fn a_generated_key_is_announced_once_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let (keys, source) = ApiKeys::from_lookup(lookup(&[]), &dir).unwrap();
        let KeySource::Generated { key, path } = source else {
            panic!("expected a generated key, got {source:?}");
        };
        assert!(key.expose().starts_with("mka1_") && key.expose().len() > 40);
        assert!(keys.verify(key.expose()).is_some());
        let (keys2, source2) = ApiKeys::from_lookup(lookup(&[]), &dir).unwrap();
        assert!(
            matches!(source2, KeySource::Stored(ref p) if *p == path),
            "{source2:?}"
        );
        assert_eq!(keys2.verify(key.expose()), keys.verify(key.expose()));
    }

    #[test]
    fn bad_settings_are_refused_without_showing_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let err = ApiKeys::from_lookup(lookup(&[("MKA1_API_KEYS", " , ,")]), &dir).unwrap_err();
        assert!(matches!(err, KeyError::NoKeys { .. }), "{err}");
        let err = ApiKeys::from_lookup(
            lookup(&[("MKA1_API_KEYS", "good-key-123456789,bad key")]),
            &dir,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "API key number 2 of MKA1_API_KEYS contains whitespace or control characters"
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let keys = ApiKeys::new(["very-secret-key-1234"], SecretString::new("s"));
        let shown = format!("{keys:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
