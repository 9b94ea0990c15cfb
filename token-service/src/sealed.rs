//! The session configuration, sealed for the voice agent.
//!
//! Only the token service (which seals) and the voice agent (which opens) hold the keys:
//! the client that carries the token can neither read nor change what it carries, and a
//! blob opens only for the room and participant it was sealed for.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInPlace as _, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mka1_http_api::SecretString;
use serde::{Deserialize, Serialize};

use crate::config_keys::ConfigKeys;

/// AES-GCM nonce length (96 bits, random per blob).
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Domain separation for the associated data: a blob of another format or version never
/// opens as this one.
const AD_CONTEXT: &[u8] = b"mka1-voice/sealed-config/v1";

/// What the voice agent needs to run one session, as the token service accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// The Responses API request body the agent sends each turn (plus `input`,
    /// `stream`, and `metadata.voice_mode`, which the agent manages). Fields this server
    /// does not know are kept unchanged.
    pub llm: serde_json::Map<String, serde_json::Value>,
    /// Turn-taking settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stt: Option<SttSettings>,
    /// Fixed language for STT and TTS (`None`: auto-detect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The end user (`X-On-Behalf-Of`) the agent calls the Responses API for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// How the agent authenticates to the Responses API for this caller.
    pub credentials: ResponsesCredentials,
    /// The room this session belongs to (also bound into the seal).
    pub room: String,
    /// When the token service sealed it (Unix seconds).
    pub issued_at: u64,
}

/// Turn-taking settings of a session (`stt` in the token request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SttSettings {
    /// Silence after speech that ends a user turn (100..=5000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_timeout_ms: Option<u32>,
    /// How long to wait for any speech at all (1000..=30000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_silence_timeout_ms: Option<u32>,
}

/// The caller's credentials for the Responses API. `Debug` hides the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsesCredentials {
    /// The caller's API key (sent as `Authorization: Bearer`).
    #[serde(with = "secret_text")]
    pub api_key: SecretString,
}

/// Serde for a [`SecretString`] inside the (encrypted) payload only.
mod secret_text {
    use mka1_http_api::SecretString;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

/// Why a blob could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Not `kid.base64url`, or too short to hold a nonce and a tag.
    #[error("not a sealed configuration")]
    Malformed,
    /// Sealed with a key that is no longer (or never was) configured.
    #[error("sealed with unknown config key `{key_id}`")]
    UnknownKey {
        /// The blob's key id.
        key_id: String,
    },
    /// Authentication failed: the blob was altered, or it was sealed for another room
    /// or participant. (AES-GCM cannot tell these apart, by design.)
    #[error(
        "sealed configuration does not open: altered, or sealed for another room or participant"
    )]
    Rejected,
    /// It opened, but the content is not a session configuration of this version.
    #[error("sealed configuration has an unexpected layout (line {line}, column {column})")]
    Layout {
        /// Where parsing stopped (serde's position; the content itself is not shown).
        line: usize,
        /// Column of that position.
        column: usize,
    },
    /// The configuration could not be encoded or encrypted.
    #[error("could not seal the configuration")]
    Encrypt,
}

/// A sealed [`SessionConfig`]: `kid.` + base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag),
/// with the room and participant identity as associated data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SealedConfig(String);

impl fmt::Debug for SealedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedConfig({} bytes, key {:?})",
            self.0.len(),
            self.key_id()
        )
    }
}

impl SealedConfig {
    /// Seals `config` for `config.room` and participant `identity` with the first key.
    pub fn seal(
        config: &SessionConfig,
        identity: &str,
        keys: &ConfigKeys,
    ) -> Result<Self, SealError> {
        let key = keys.sealing_key();
        let mut nonce = [0u8; NONCE_LEN];
        mka1_http_api::random_bytes(&mut nonce);
        let mut buffer = Vec::with_capacity(512);
        serde_json::to_writer(&mut buffer, config).map_err(|_| SealError::Encrypt)?;
        let ad = associated_data(&key.id, &config.room, identity);
        // In place: the plaintext (which holds the caller's key) becomes the ciphertext.
        key.cipher
            .encrypt_in_place(Nonce::<Aes256Gcm>::from_slice(&nonce), &ad, &mut buffer)
            .map_err(|_| SealError::Encrypt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + buffer.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&buffer);
        let mut text = String::with_capacity(key.id.len() + 1 + blob.len() * 4 / 3 + 4);
        text.push_str(&key.id);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&blob, &mut text);
        Ok(Self(text))
    }

    /// Opens the blob for `room` and participant `identity`, with whichever configured
    /// key sealed it. Both must come from a trusted source, not from the blob: the room
    /// of the job (LiveKit) or of the verified token (direct path), and the identity of
    /// the participant the agent serves.
    pub fn open(
        &self,
        keys: &ConfigKeys,
        room: &str,
        identity: &str,
    ) -> Result<SessionConfig, SealError> {
        let (key_id, payload) = self.0.split_once('.').ok_or(SealError::Malformed)?;
        let key = keys.find(key_id).ok_or_else(|| SealError::UnknownKey {
            key_id: key_id.to_owned(),
        })?;
        let mut blob = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let mut buffer = blob.split_off(NONCE_LEN);
        let ad = associated_data(key_id, room, identity);
        key.cipher
            .decrypt_in_place(Nonce::<Aes256Gcm>::from_slice(&blob), &ad, &mut buffer)
            .map_err(|_| SealError::Rejected)?;
        let parsed = serde_json::from_slice::<SessionConfig>(&buffer);
        zeroize::Zeroize::zeroize(&mut buffer);
        let config = parsed.map_err(|e| SealError::Layout {
            line: e.line(),
            column: e.column(),
        })?;
        // The associated data already binds the room; this catches a sealer bug.
        if config.room != room {
            return Err(SealError::Rejected);
        }
        Ok(config)
    }

    /// The blob as text (what travels in the token).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key that sealed it, when the blob has one.
    pub fn key_id(&self) -> Option<&str> {
        self.0.split_once('.').map(|(id, _)| id)
    }
}

impl From<String> for SealedConfig {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<SealedConfig> for String {
    fn from(sealed: SealedConfig) -> Self {
        sealed.0
    }
}

/// Context ‖ key id ‖ room ‖ identity, each length-prefixed so no two different triples
/// give the same bytes.
fn associated_data(key_id: &str, room: &str, identity: &str) -> Vec<u8> {
    let mut ad =
        Vec::with_capacity(AD_CONTEXT.len() + 12 + key_id.len() + room.len() + identity.len());
    ad.extend_from_slice(AD_CONTEXT);
    for part in [key_id, room, identity] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        ad.extend_from_slice(&len.to_be_bytes());
        ad.extend_from_slice(part.as_bytes());
    }
    ad
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn keys(list: &str) -> ConfigKeys {
        ConfigKeys::parse(list).unwrap()
    }

    fn config() -> SessionConfig {
        let llm = json!({
            "model": "meetkai:functionary-urdu-mini-pak",
            "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
            "some_future_field": {"nested": [1, 2.5, null, true, "x"]},
        });
        SessionConfig {
            llm: llm.as_object().unwrap().clone(),
            stt: Some(SttSettings {
                silence_timeout_ms: Some(700),
                initial_silence_timeout_ms: None,
            }),
            language: Some("en".into()),
            on_behalf_of: Some("user-7".into()),
            credentials: ResponsesCredentials {
                api_key: SecretString::new("caller-key-0123456789"),
            },
            room: "room-a".into(),
            issued_at: 1_700_000_000,
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let k = keys(ConfigKeys::generate_entry("k1").expose());
        let sealed = SealedConfig::seal(&config(), "alice", &k).unwrap();
        assert_eq!(sealed.key_id(), Some("k1"));
        assert!(sealed.as_str().starts_with("k1."));
        assert!(!sealed.as_str().contains("caller-key"));
        assert_eq!(sealed.open(&k, "room-a", "alice").unwrap(), config());
        // A fresh nonce each time: sealing twice never gives the same blob.
        assert_ne!(SealedConfig::seal(&config(), "alice", &k).unwrap(), sealed);
        assert!(!format!("{:?}", config()).contains("caller-key"));
    }

    #[test]
    fn tampering_and_moving_are_refused() {
        let k = keys(ConfigKeys::generate_entry("k1").expose());
        let sealed = SealedConfig::seal(&config(), "alice", &k).unwrap();

        // Every single flipped bit of the payload is detected.
        let (prefix, payload) = sealed.as_str().split_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let bad = SealedConfig::from(format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(&bad)));
            assert_eq!(
                bad.open(&k, "room-a", "alice"),
                Err(SealError::Rejected),
                "byte {i}"
            );
        }
        assert_eq!(sealed.open(&k, "room-b", "alice"), Err(SealError::Rejected));
        assert_eq!(
            sealed.open(&k, "room-a", "mallory"),
            Err(SealError::Rejected)
        );
        // Moving bytes between the room and identity fields does not help either.
        assert_eq!(sealed.open(&k, "room-aa", "lice"), Err(SealError::Rejected));

        let other = keys(ConfigKeys::generate_entry("k2").expose());
        assert_eq!(
            sealed.open(&other, "room-a", "alice"),
            Err(SealError::UnknownKey {
                key_id: "k1".into()
            })
        );
        // Same id, different key material: the tag fails.
        let impostor = keys(ConfigKeys::generate_entry("k1").expose());
        assert_eq!(
            sealed.open(&impostor, "room-a", "alice"),
            Err(SealError::Rejected)
        );

        for junk in ["", "k1", "k1.", "k1.!!!", "k1.AAAA"] {
            assert_eq!(
                SealedConfig::from(junk.to_owned()).open(&k, "room-a", "alice"),
                Err(SealError::Malformed),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn rotation_old_blobs_open_after_a_new_key_is_put_first() {
        let old_entry = ConfigKeys::generate_entry("old");
        let new_entry = ConfigKeys::generate_entry("new");
        let before = keys(old_entry.expose());
        let sealed_old = SealedConfig::seal(&config(), "alice", &before).unwrap();

        let after = keys(&format!("{},{}", new_entry.expose(), old_entry.expose()));
        assert_eq!(
            sealed_old.open(&after, "room-a", "alice").unwrap(),
            config()
        );
        let sealed_new = SealedConfig::seal(&config(), "alice", &after).unwrap();
        assert_eq!(sealed_new.key_id(), Some("new"));
        // Once the old key is retired, its blobs no longer open.
        let retired = keys(new_entry.expose());
        assert_eq!(
            sealed_old.open(&retired, "room-a", "alice"),
            Err(SealError::UnknownKey {
                key_id: "old".into()
            })
        );
        assert!(sealed_new.open(&retired, "room-a", "alice").is_ok());
    }
}
