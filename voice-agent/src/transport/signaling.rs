//! `POST /api/v1/voice/webrtc/offer`: one request that authorises a browser with its
//! session token, answers its WebRTC offer and, once the call connects, hands it to the
//! [`SessionStarter`].

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use mka1_http_api::{ApiError, Json};
use mka1_token_service::{ConfigKeys, SealedConfig, SessionConfig, TokenIssuer, VerifyError};
use serde::{Deserialize, Serialize};

use super::crypto::install_crypto_provider;
use super::link::MediaLink;
use super::peer::{AnsweredPeer, answer_offer};

/// The signaling route.
pub const OFFER_PATH: &str = "/api/v1/voice/webrtc/offer";
/// Largest accepted offer body. A browser's audio + data offer is a few KB; 64 KiB
/// leaves room for many candidates and nothing for abuse.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// What a refused (429) client is told to wait.
const RETRY_AFTER_SECS: u32 = 2;

/// Starts a voice session for a connected call. Called once per call, from a tokio task,
/// when media can flow; it must return quickly (spawn the session). The session owns the
/// [`MediaLink`]: the call lasts until [`MediaLink::closed`] fires or the link's
/// `audio_out` is dropped.
pub type SessionStarter = Arc<dyn Fn(SessionConfig, PeerInfo, MediaLink) + Send + Sync>;

/// Who is on the other end of a call, from the verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The participant identity (the token's subject).
    pub identity: String,
    /// The room the token was issued for (the session's id).
    pub room: String,
}

/// Limits of the direct WebRTC endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebRtcLimits {
    /// Calls at once, connecting or connected; beyond, offers get 429.
    pub max_peers: usize,
    /// How long an answered call may take to connect (and open its events channel)
    /// before it is dropped.
    pub connect_timeout: Duration,
}

impl WebRtcLimits {
    /// The default number of concurrent calls.
    pub const DEFAULT_MAX_PEERS: usize = 16;
    /// The default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for WebRtcLimits {
    fn default() -> Self {
        Self {
            max_peers: Self::DEFAULT_MAX_PEERS,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// What the route needs; build it once and pass it to [`router`]. Cheap to clone.
#[derive(Clone)]
pub struct WebRtcState {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: TokenIssuer,
    config_keys: ConfigKeys,
    starter: SessionStarter,
    limits: WebRtcLimits,
    active: AtomicUsize,
}

impl std::fmt::Debug for WebRtcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcState")
            .field("issuer", &self.inner.issuer)
            .field("config_keys", &self.inner.config_keys)
            .field("limits", &self.inner.limits)
            .field("active_peers", &self.active_peers())
            .finish_non_exhaustive()
    }
}

impl WebRtcState {
    /// State verifying tokens with `issuer` (the token service's, so the same LiveKit
    /// key and secret), opening sealed configurations with `config_keys`, and starting
    /// sessions with `starter`. Installs the rustls crypto provider
    /// ([`install_crypto_provider`]) that DTLS needs.
    pub fn new(
        issuer: TokenIssuer,
        config_keys: ConfigKeys,
        starter: SessionStarter,
        limits: WebRtcLimits,
    ) -> Self {
        install_crypto_provider();
        Self {
            inner: Arc::new(Inner {
                issuer,
                config_keys,
                starter,
                limits,
                active: AtomicUsize::new(0),
            }),
        }
    }

    /// Calls in progress (connecting or connected).
    pub fn active_peers(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }

    /// The limits in force.
    pub fn limits(&self) -> WebRtcLimits {
        self.inner.limits
    }

    /// Checks the token and opens the session configuration it carries.
    fn authorize(&self, token: &str) -> Result<(SessionConfig, PeerInfo), ApiError> {
        let claims = self.inner.issuer.verify(token).map_err(|e| match e {
            VerifyError::Expired => ApiError::unauthorized(
                "The session token has expired: ask the token service for a new one.",
            )
            .with_code("token_expired"),
            other => ApiError::unauthorized(format!("The session token is not valid: {other}."))
                .with_code("invalid_token"),
        })?;
        let not_a_session = || {
            ApiError::unauthorized(
                "This token does not open a voice session: use the token from \
                 POST /api/v1/llm/speech/livekit/token.",
            )
            .with_code("invalid_token")
        };
        if !claims.video.room_join || claims.video.room.is_empty() || claims.sub.is_empty() {
            return Err(not_a_session());
        }
        let sealed = claims
            .room_config
            .as_ref()
            .and_then(|config| config.agents.first())
            .map(|dispatch| dispatch.metadata.clone())
            .filter(|metadata| !metadata.is_empty())
            .ok_or_else(not_a_session)?;
        let room = claims.video.room;
        let identity = claims.sub;
        let config = SealedConfig::from(sealed)
            .open(&self.inner.config_keys, &room, &identity)
            .map_err(|e| {
                // A valid signature with a blob that does not open: a key rotated away,
                // or a token service with other sealing keys. Worth an operator's look.
                tracing::warn!(error = %e, %room, "a signed session token's configuration does not open");
                not_a_session()
            })?;
        Ok((config, PeerInfo { identity, room }))
    }

    /// Takes a call slot, or 429 when all are in use.
    fn reserve(&self) -> Result<PeerSlot, ApiError> {
        let max = self.inner.limits.max_peers;
        self.inner
            .active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| PeerSlot(Arc::clone(&self.inner)))
            .map_err(|_| {
                ApiError::overloaded(
                    format!("This server is already serving {max} voice calls; try again later."),
                    RETRY_AFTER_SECS,
                )
            })
    }
}

/// One of the `max_peers` call slots, given back when dropped.
struct PeerSlot(Arc<Inner>);

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The signaling route, ready to merge into a server.
pub fn router(state: WebRtcState) -> Router {
    Router::new()
        .route(OFFER_PATH, post(offer))
        .layer(DefaultBodyLimit::max(MAX_OFFER_BYTES))
        .with_state(state)
}

/// `{"type": "offer", "sdp": "..."}`, as `RTCPeerConnection.localDescription` serialises.
#[derive(Debug, Deserialize)]
struct OfferBody {
    #[serde(rename = "type")]
    kind: String,
    sdp: String,
}

/// `{"type": "answer", "sdp": "..."}`: what `setRemoteDescription` takes.
#[derive(Debug, Serialize)]
struct AnswerBody {
    #[serde(rename = "type")]
    kind: &'static str,
    sdp: String,
}

async fn offer(
    State(state): State<WebRtcState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AnswerBody>, ApiError> {
    let token = bearer_token(&headers)?;
    let (config, peer) = state.authorize(token)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(format!(
                "The offer is larger than {MAX_OFFER_BYTES} bytes."
            ))
        } else {
            ApiError::bad_request("The request body could not be read.")
        }
    })?;
    let offer: OfferBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "Expected {{\"type\": \"offer\", \"sdp\": \"...\"}}: {e}"
        ))
        .with_code("invalid_json")
    })?;
    if offer.kind != "offer" {
        return Err(ApiError::bad_request(format!(
            "`type` must be \"offer\", not {:?}: this endpoint answers offers.",
            offer.kind
        ))
        .with_param("type"));
    }
    if offer.sdp.trim().is_empty() {
        return Err(ApiError::bad_request("`sdp` is empty.").with_param("sdp"));
    }
    let slot = state.reserve()?;
    let (link, end) = MediaLink::pair();
    let answered = answer_offer(offer.sdp, end).await.map_err(|e| {
        if e.is_client_error() {
            ApiError::bad_request(format!("The WebRTC offer was refused: {e}."))
                .with_code("invalid_offer")
                .with_param("sdp")
        } else {
            tracing::error!(error = %e, room = %peer.room, "answering a WebRTC offer failed");
            ApiError::internal("Could not set up the WebRTC connection.")
        }
    })?;
    let answer = answered.answer.clone();
    tracing::info!(room = %peer.room, identity = %peer.identity, "answered a direct WebRTC offer");
    tokio::spawn(supervise(
        answered,
        slot,
        Arc::clone(&state.inner.starter),
        state.inner.limits.connect_timeout,
        config,
        peer,
        link,
    ));
    Ok(Json(AnswerBody {
        kind: "answer",
        sdp: answer,
    }))
}

/// `Authorization: Bearer <token>` (scheme case-insensitive), or 401.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "Send the session token as `Authorization: Bearer <token>` (from \
             POST /api/v1/llm/speech/livekit/token).",
        )
        .with_code("missing_token")
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

/// Owns one call from answer to hang-up: starts the session once media can flow, then
/// closes the connection when the call is over and gives the slot back.
async fn supervise(
    mut peer: AnsweredPeer,
    slot: PeerSlot,
    starter: SessionStarter,
    connect_timeout: Duration,
    config: SessionConfig,
    info: PeerInfo,
    link: MediaLink,
) {
    let room = info.room.clone();
    if peer.wait_ready(connect_timeout).await {
        tracing::info!(%room, "direct WebRTC call connected: starting the session");
        let closed = link.closed.clone();
        // A panicking starter must not leave the connection open with nobody behind it.
        let started =
            std::panic::catch_unwind(AssertUnwindSafe(|| starter(config, info, link))).is_ok();
        if started {
            closed.cancelled().await;
        } else {
            tracing::error!(%room, "the session starter panicked: hanging up");
        }
    } else if peer.is_closed() {
        tracing::info!(%room, "the call ended before it was ready");
    } else if peer.connected() {
        tracing::warn!(
            %room,
            "the call connected but never opened its `events` data channel: hanging up"
        );
    } else {
        tracing::info!(%room, "the call did not connect in time: hanging up");
    }
    peer.close().await;
    drop(slot);
    tracing::info!(%room, "direct WebRTC call ended");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_leniently_and_refused_strictly() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers).unwrap_err().code(), "missing_token");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  a.b.c "),
        );
        assert_eq!(bearer_token(&headers).unwrap(), "a.b.c");
        for bad in ["Basic a.b.c", "Bearer", "Bearer   ", "a.b.c"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(
                bearer_token(&headers).unwrap_err().status(),
                StatusCode::UNAUTHORIZED,
                "{bad}"
            );
        }
    }
}
