//! `POST /api/v1/llm/speech/livekit/token`: thin HTTP glue over [`TokenIssuer`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, Uri, header};
use axum::routing::post;
use mka1_http_api::{ApiError, ApiKeys, Caller, Json};
use serde::Serialize;

use crate::config::TokenServiceConfig;
use crate::config_keys::ConfigKeys;
use crate::issuer::{MAX_TOKEN_BYTES, SessionCaller, TokenError, TokenIssuer};
use crate::request::{TokenRequest, ValidationError};

/// The route this crate serves.
pub const TOKEN_PATH: &str = "/api/v1/llm/speech/livekit/token";
/// Largest accepted request body. A body this big could never fit an 8 KB token anyway,
/// so anything larger is refused (413) before it is parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where clients are told to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientUrl {
    /// `LIVEKIT_URL`, as configured.
    LiveKit(String),
    /// No LiveKit: this server's own base URL (direct WebRTC), as the client reached it:
    /// `X-Forwarded-Host`, else `Host`, else `fallback` (the listen address); `wss` when
    /// `X-Forwarded-Proto: https`, else `ws`.
    ThisServer {
        /// Host (and port) used when the request names none.
        fallback: String,
    },
}

/// What the route needs; build it once and pass it to [`router`].
#[derive(Clone)]
pub struct TokenServiceState {
    inner: Arc<Inner>,
    api_keys: ApiKeys,
}

struct Inner {
    issuer: TokenIssuer,
    config_keys: ConfigKeys,
    client_url: ClientUrl,
}

impl std::fmt::Debug for TokenServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServiceState")
            .field("issuer", &self.inner.issuer)
            .field("config_keys", &self.inner.config_keys)
            .field("client_url", &self.inner.client_url)
            .field("api_keys", &self.api_keys)
            .finish()
    }
}

impl TokenServiceState {
    /// State from the settings; `listen` is the server's own address, the fallback URL
    /// when `LIVEKIT_URL` is unset.
    pub fn new(config: TokenServiceConfig, api_keys: ApiKeys, listen: SocketAddr) -> Self {
        let client_url = match config.livekit_url {
            Some(url) => ClientUrl::LiveKit(url),
            None => ClientUrl::ThisServer {
                fallback: listen.to_string(),
            },
        };
        Self::from_parts(
            TokenIssuer::new(config.livekit, config.ttl),
            config.config_keys,
            client_url,
            api_keys,
        )
    }

    /// State from its parts (tests, or an issuer with another agent name).
    pub fn from_parts(
        issuer: TokenIssuer,
        config_keys: ConfigKeys,
        client_url: ClientUrl,
        api_keys: ApiKeys,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer,
                config_keys,
                client_url,
            }),
            api_keys,
        }
    }

    /// The issuer (the voice agent's direct path verifies tokens with it).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.inner.issuer
    }

    /// The sealing keys.
    pub fn config_keys(&self) -> &ConfigKeys {
        &self.inner.config_keys
    }

    fn client_url(&self, headers: &HeaderMap, uri: &Uri) -> String {
        match &self.inner.client_url {
            ClientUrl::LiveKit(url) => url.clone(),
            ClientUrl::ThisServer { fallback } => {
                let header_text = |name| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split(',').next())
                        .map(str::trim)
                };
                let https = header_text("x-forwarded-proto")
                    .is_some_and(|p| p.eq_ignore_ascii_case("https"));
                let host = header_text("x-forwarded-host")
                    .filter(|h| is_host(h))
                    .or_else(|| header_text(header::HOST.as_str()).filter(|h| is_host(h)))
                    .or_else(|| uri.authority().map(|a| a.as_str()).filter(|h| is_host(h)))
                    .unwrap_or(fallback);
                format!("{}://{host}", if https { "wss" } else { "ws" })
            }
        }
    }
}

impl FromRef<TokenServiceState> for ApiKeys {
    fn from_ref(state: &TokenServiceState) -> Self {
        state.api_keys.clone()
    }
}

/// A host[:port] we are willing to echo into a URL.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// The token route, ready to merge into a server.
pub fn router(state: TokenServiceState) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(livekit_token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The response body (`roomName` too: older SDKs read that spelling).
#[derive(Debug, Serialize)]
struct TokenResponse {
    token: String,
    url: String,
    room_name: String,
    #[serde(rename = "roomName")]
    room_name_legacy: String,
}

async fn livekit_token(
    State(state): State<TokenServiceState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<TokenResponse>, ApiError> {
    let request = TokenRequest::from_json(body).map_err(validation_error)?;
    let identity = caller
        .on_behalf_of
        .clone()
        // The key id is a keyed hash of the key: stable for the caller, and useless to
        // anyone who reads the token (which the client can).
        .unwrap_or_else(|| caller.key_id.to_string());
    let session_caller = SessionCaller {
        identity,
        on_behalf_of: caller.on_behalf_of.clone(),
        api_key: caller.api_key.clone(),
    };
    let session = state
        .issuer()
        .issue_session(request, session_caller, state.config_keys())
        .map_err(|e| match e {
            TokenError::TooLarge { bytes, limit } => ApiError::bad_request(format!(
                "The session configuration is too large: the token would be {bytes} bytes, and \
                 LiveKit tokens are limited to {limit} bytes because they travel in HTTP \
                 headers. Shorten `llm.instructions` or `llm.tools`."
            ))
            .with_code("token_too_large")
            .with_param("llm"),
            other => {
                tracing::error!(error = %other, key_id = %caller.key_id, "minting a LiveKit token failed");
                ApiError::internal("Could not issue the LiveKit token.")
            }
        })?;
    debug_assert!(session.token.len() <= MAX_TOKEN_BYTES);
    tracing::info!(
        key_id = %caller.key_id,
        room = %session.room,
        on_behalf_of = caller.on_behalf_of.is_some(),
        token_bytes = session.token.len(),
        "issued a LiveKit room token"
    );
    Ok(Json(TokenResponse {
        url: state.client_url(&headers, &uri),
        room_name_legacy: session.room.clone(),
        room_name: session.room,
        token: session.token,
    }))
}

fn validation_error(e: ValidationError) -> ApiError {
    let error = ApiError::bad_request(e.message).with_code(e.code);
    match e.param {
        Some(param) => error.with_param(param),
        None => error,
    }
}
