//! LiveKit access tokens: for users (with the sealed session in their agent dispatch)
//! and for agent workers.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livekit_api::access_token::{
    AccessToken, AccessTokenError, Claims, TokenVerifier, VideoGrants,
};
use livekit_protocol::{RoomAgentDispatch, RoomConfiguration};
use mka1_http_api::SecretString;

use crate::config_keys::ConfigKeys;
use crate::request::TokenRequest;
use crate::sealed::{ResponsesCredentials, SealError, SealedConfig, SessionConfig};

/// The agent name that user tokens dispatch explicitly (and that workers register as).
pub const AGENT_NAME: &str = "mka1-voice-agent";
/// Longest token this service issues: tokens travel in HTTP headers (and query strings),
/// which proxies and LiveKit itself cap at about 8 KB.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Default token lifetime (DESIGN.md: `MKA1_TOKEN_TTL`, 1 h).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The LiveKit API key and secret that sign tokens. `Debug` hides the secret.
#[derive(Clone)]
pub struct LiveKitCredentials {
    api_key: String,
    api_secret: SecretString,
}

impl LiveKitCredentials {
    /// Credentials from a LiveKit API key and secret.
    pub fn new(api_key: impl Into<String>, api_secret: SecretString) -> Self {
        Self {
            api_key: api_key.into(),
            api_secret,
        }
    }

    /// The API key (the token's issuer; not secret).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The signing secret. Never log it.
    pub fn api_secret(&self) -> &SecretString {
        &self.api_secret
    }
}

impl fmt::Debug for LiveKitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitCredentials")
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// Who a session token is for.
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// The LiveKit participant identity (the end user, or one derived from the key id).
    pub identity: String,
    /// `X-On-Behalf-Of`, carried to the agent.
    pub on_behalf_of: Option<String>,
    /// The caller's API key, sealed for the agent's Responses calls.
    pub api_key: SecretString,
}

/// A token issued for a new voice session.
#[derive(Debug, Clone)]
pub struct SessionToken {
    /// The LiveKit JWT.
    pub token: String,
    /// The new room (a UUID).
    pub room: String,
    /// The participant identity in the token.
    pub identity: String,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The configuration makes the token longer than [`MAX_TOKEN_BYTES`].
    #[error("the token would be {bytes} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Size the token would have.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// livekit-api refused to sign (empty key or secret, missing identity or room).
    #[error("cannot sign the token: {0}")]
    Sign(AccessTokenError),
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Before its `nbf`.
    #[error("token not valid yet")]
    NotYetValid,
    /// Signed with another secret, or altered.
    #[error("token signature is invalid")]
    BadSignature,
    /// Issued for another LiveKit API key.
    #[error("token was issued for another API key")]
    WrongIssuer,
    /// Not a JWT of the expected shape.
    #[error("malformed token")]
    Malformed,
}

/// Mints (and checks) LiveKit tokens with one API key and secret. Cheap to share.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    credentials: LiveKitCredentials,
    ttl: Duration,
    agent_name: String,
}

impl TokenIssuer {
    /// An issuer whose tokens live `ttl`, dispatching [`AGENT_NAME`].
    pub fn new(credentials: LiveKitCredentials, ttl: Duration) -> Self {
        Self {
            credentials,
            ttl,
            agent_name: AGENT_NAME.to_owned(),
        }
    }

    /// Dispatches another agent name (for deployments running several agents).
    #[must_use]
    pub fn with_agent_name(mut self, agent_name: impl Into<String>) -> Self {
        self.agent_name = agent_name.into();
        self
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The LiveKit API key tokens are issued under.
    pub fn api_key(&self) -> &str {
        self.credentials.api_key()
    }

    /// Opens a new session: a fresh UUID room, the configuration sealed for that room and
    /// `caller.identity`, and a token that joins the room and dispatches the agent with
    /// the sealed blob. Fails with [`TokenError::TooLarge`] past [`MAX_TOKEN_BYTES`].
    pub fn issue_session(
        &self,
        request: TokenRequest,
        caller: SessionCaller,
        keys: &ConfigKeys,
    ) -> Result<SessionToken, TokenError> {
        let room = uuid::Uuid::new_v4().to_string();
        let config = SessionConfig {
            llm: request.llm,
            stt: request.stt,
            language: request.language,
            on_behalf_of: caller.on_behalf_of,
            credentials: ResponsesCredentials {
                api_key: caller.api_key,
            },
            room,
            issued_at: unix_now(),
        };
        let sealed = SealedConfig::seal(&config, &caller.identity, keys)?;
        let token = self.user_token(&caller.identity, &config.room, &sealed)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                bytes: token.len(),
                limit: MAX_TOKEN_BYTES,
            });
        }
        Ok(SessionToken {
            token,
            room: config.room,
            identity: caller.identity,
        })
    }

    /// A user's token: join `room` as `identity`, publish, subscribe and send data; the
    /// room's configuration dispatches the agent with `sealed` as its job metadata (the
    /// only place the blob appears).
    pub fn user_token(
        &self,
        identity: &str,
        room: &str,
        sealed: &SealedConfig,
    ) -> Result<String, TokenError> {
        let room_config = RoomConfiguration {
            agents: vec![RoomAgentDispatch {
                agent_name: self.agent_name.clone(),
                metadata: sealed.as_str().to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        };
        self.base_token()
            .with_identity(identity)
            .with_grants(VideoGrants {
                room_join: true,
                room: room.to_owned(),
                can_publish: Some(true),
                can_subscribe: Some(true),
                can_publish_data: Some(true),
                ..Default::default()
            })
            .with_room_config(room_config)
            .to_jwt()
            .map_err(TokenError::Sign)
    }

    /// A worker's token for LiveKit's `/agent` endpoint (register, receive jobs).
    pub fn agent_worker_token(&self, worker_identity: &str) -> Result<String, TokenError> {
        self.base_token()
            .with_identity(worker_identity)
            .with_kind("agent")
            .with_grants(VideoGrants {
                agent: true,
                ..Default::default()
            })
            .to_jwt()
            .map_err(TokenError::Sign)
    }

    /// The agent's own token to join `room`: a hidden agent participant that publishes
    /// the spoken answer and subscribes to the user.
    pub fn agent_room_token(&self, room: &str, identity: &str) -> Result<String, TokenError> {
        self.base_token()
            .with_identity(identity)
            .with_kind("agent")
            .with_grants(VideoGrants {
                room_join: true,
                room: room.to_owned(),
                agent: true,
                hidden: true,
                can_publish: Some(true),
                can_subscribe: Some(true),
                can_publish_data: Some(true),
                ..Default::default()
            })
            .to_jwt()
            .map_err(TokenError::Sign)
    }

    /// Checks a token this issuer's key signed (the direct WebRTC path has no LiveKit
    /// server to do it): signature, issuer, `exp` and `nbf` (60 s leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        TokenVerifier::with_api_key(
            self.credentials.api_key(),
            self.credentials.api_secret().expose(),
        )
        .verify(token)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e {
                AccessTokenError::Encoding(e) => match e.kind() {
                    ErrorKind::ExpiredSignature => VerifyError::Expired,
                    ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                    ErrorKind::InvalidSignature => VerifyError::BadSignature,
                    ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
                    _ => VerifyError::Malformed,
                },
                _ => VerifyError::Malformed,
            }
        })
    }

    fn base_token(&self) -> AccessToken {
        AccessToken::with_api_key(
            self.credentials.api_key(),
            self.credentials.api_secret().expose(),
        )
        .with_ttl(self.ttl)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    use serde_json::json;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(
            LiveKitCredentials::new("APIkey1", SecretString::new("lk-secret-0123456789abcdef")),
            Duration::from_secs(600),
        )
    }

    fn keys() -> ConfigKeys {
        ConfigKeys::parse(ConfigKeys::generate_entry("k1").expose()).unwrap()
    }

    fn request() -> TokenRequest {
        TokenRequest::from_json(json!({"llm": {"model": "auto", "x_future": {"a": [1, 2]}}}))
            .unwrap()
    }

    fn caller() -> SessionCaller {
        SessionCaller {
            identity: "user-1".into(),
            on_behalf_of: Some("user-1".into()),
            api_key: SecretString::new("caller-key-abcdefghij"),
        }
    }

    /// An HS256 JWT made without livekit-api, to test what our verifier refuses.
    fn hand_made_jwt(claims: &serde_json::Value, secret: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{header}.{body}").as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{header}.{body}.{sig}")
    }

    #[test]
    fn session_token_carries_grants_and_the_sealed_dispatch_once() {
        let issuer = issuer();
        let keys = keys();
        let t = issuer.issue_session(request(), caller(), &keys).unwrap();
        assert!(uuid::Uuid::parse_str(&t.room).is_ok());
        let claims = issuer.verify(&t.token).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.iss, "APIkey1");
        assert!(claims.video.room_join && claims.video.room == t.room);
        assert_eq!(
            (
                claims.video.can_publish,
                claims.video.can_subscribe,
                claims.video.can_publish_data
            ),
            (Some(true), Some(true), Some(true))
        );
        assert!(!claims.video.agent && !claims.video.hidden);
        assert_eq!(claims.exp - claims.nbf, 600);
        assert!(claims.metadata.is_empty());
        let rc = claims.room_config.unwrap();
        assert_eq!(rc.agents.len(), 1);
        assert_eq!(rc.agents[0].agent_name, AGENT_NAME);
        let sealed = SealedConfig::from(rc.agents[0].metadata.clone());
        let opened = sealed.open(&keys, &t.room, "user-1").unwrap();
        assert_eq!(opened.llm, request().llm);
        assert_eq!(opened.credentials.api_key.expose(), "caller-key-abcdefghij");
        assert_eq!(opened.on_behalf_of.as_deref(), Some("user-1"));
        // The blob appears exactly once in the payload.
        let payload = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(t.token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(payload.matches(sealed.as_str()).count(), 1);
        assert!(!payload.contains("caller-key"));
        // Two sessions never share a room.
        let t2 = issuer.issue_session(request(), caller(), &keys).unwrap();
        assert_ne!(t.room, t2.room);
    }

    #[test]
    fn oversize_configurations_are_refused() {
        let big = TokenRequest::from_json(
            json!({"llm": {"model": "m", "instructions": "x".repeat(6000)}}),
        )
        .unwrap();
        match issuer().issue_session(big, caller(), &keys()) {
            Err(TokenError::TooLarge { bytes, limit }) => {
                assert_eq!(limit, 8192);
                assert!(bytes > 8192);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn agent_tokens() {
        let issuer = issuer();
        let worker = issuer
            .verify(&issuer.agent_worker_token("worker-1").unwrap())
            .unwrap();
        assert!(worker.video.agent && !worker.video.room_join);
        assert_eq!(worker.kind, "agent");
        let room = issuer
            .verify(&issuer.agent_room_token("r1", "agent-r1").unwrap())
            .unwrap();
        assert!(room.video.agent && room.video.hidden && room.video.room_join);
        assert_eq!(
            (
                room.video.room.as_str(),
                room.sub.as_str(),
                room.kind.as_str()
            ),
            ("r1", "agent-r1", "agent")
        );
        assert_eq!(room.video.can_publish, Some(true));
    }

    #[test]
    fn verify_refuses_expired_forged_and_foreign_tokens() {
        let issuer = issuer();
        let now = unix_now() as i64;
        let base = json!({"iss": "APIkey1", "sub": "u", "nbf": now - 7200, "exp": now - 3600});
        assert_eq!(
            issuer.verify(&hand_made_jwt(&base, "lk-secret-0123456789abcdef")),
            Err(VerifyError::Expired)
        );
        let fresh = json!({"iss": "APIkey1", "sub": "u", "nbf": now, "exp": now + 60});
        assert!(
            issuer
                .verify(&hand_made_jwt(&fresh, "lk-secret-0123456789abcdef"))
                .is_ok()
        );
        assert_eq!(
            issuer.verify(&hand_made_jwt(&fresh, "another-secret")),
            Err(VerifyError::BadSignature)
        );
        let foreign = json!({"iss": "other", "sub": "u", "nbf": now, "exp": now + 60});
        assert_eq!(
            issuer.verify(&hand_made_jwt(&foreign, "lk-secret-0123456789abcdef")),
            Err(VerifyError::WrongIssuer)
        );
        let early = json!({"iss": "APIkey1", "sub": "u", "nbf": now + 3600, "exp": now + 7200});
        assert_eq!(
            issuer.verify(&hand_made_jwt(&early, "lk-secret-0123456789abcdef")),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(issuer.verify("not.a.jwt"), Err(VerifyError::Malformed));
    }

    #[test]
    fn debug_hides_the_livekit_secret() {
        let shown = format!("{:?}", issuer());
        assert!(shown.contains("APIkey1"));
        assert!(!shown.contains("lk-secret"), "{shown}");
    }
}
