//! The token service: LiveKit room tokens that carry the voice session's configuration,
//! sealed so that only the voice agent can read it (shared/API.md, section 4).
//!
//! - [`TokenRequest`] validates the request body (the Responses API subset, `stt`,
//!   `language`);
//! - [`SealedConfig`] seals a [`SessionConfig`] with AES-256-GCM under [`ConfigKeys`]
//!   (key ids for rotation), bound to the room and participant identity; the voice agent
//!   opens it with the same type;
//! - [`TokenIssuer`] mints LiveKit tokens (`livekit-api`): the user's, which dispatches
//!   the agent with the sealed blob, and the agent worker's own;
//! - [`router`] serves `POST /api/v1/llm/speech/livekit/token`, configured by
//!   [`TokenServiceConfig`].
#![forbid(unsafe_code)]

mod config;
mod config_keys;
mod issuer;
mod request;
mod routes;
mod sealed;

pub use config::{ConfigError, MissingConfigKeys, TokenServiceConfig};
pub use config_keys::{ConfigKeyError, ConfigKeys, MAX_KEY_ID_LEN};
pub use issuer::{
    AGENT_NAME, DEFAULT_TTL, LiveKitCredentials, MAX_TOKEN_BYTES, SessionCaller, SessionToken,
    TokenError, TokenIssuer, VerifyError,
};
/// The claims of a verified token (livekit-api's type).
pub use livekit_api::access_token::Claims;
pub use request::{
    AGENT_MANAGED_FIELDS, MAX_CALLER_METADATA_PAIRS, MAX_METADATA_KEY_CHARS,
    MAX_METADATA_VALUE_CHARS, TOOL_TYPES, TTS_LANGUAGES, TokenRequest, ValidationError,
};
pub use routes::{ClientUrl, MAX_BODY_BYTES, TOKEN_PATH, TokenServiceState, router};
pub use sealed::{ResponsesCredentials, SealError, SealedConfig, SessionConfig, SttSettings};
