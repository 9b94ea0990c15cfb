//! Streaming speech to text over a WebSocket:
//! `GET /api/v1/llm/speech/transcriptions/stream?language=&sample_rate=16000&encoding=pcm_s16le|opus`.
//!
//! # Connecting
//!
//! - **Key.** `Authorization: Bearer <key>` as everywhere. Browsers cannot set headers on
//!   a WebSocket, so two more ways are accepted, in this order of preference:
//!   the subprotocols `bearer, <key>` (`new WebSocket(url, ["bearer", key])`; the server
//!   answers with the subprotocol `bearer` and never echoes the key; the key must then be
//!   a valid header token, which generated keys are), or the query parameter
//!   `api_key=<key>` (works for any key, but URLs end up in logs: prefer the others).
//!   `X-On-Behalf-Of` is honoured when sent. Missing or wrong key: 401 before the upgrade.
//! - **Query.** `encoding`: `pcm_s16le` (default) or `opus`. `sample_rate`: the PCM rate,
//!   8000..=48000 (default 16000; Opus always decodes at 48 kHz, so it is ignored there).
//!   `language`: ISO-639-1 or BCP-47 (`en`, `en-US`), default auto. Anything else wrong:
//!   400 with the API's JSON error, before the upgrade.
//!
//! # Client → server
//!
//! - Binary messages: audio. `pcm_s16le`: mono little-endian 16-bit samples, any length (an
//!   odd byte waits for the next message). `opus`: exactly one Opus packet per message (20 ms
//!   at 48 kHz is what WebRTC and `MediaRecorder` make; any duration decodes).
//! - Text `{"type":"stop"}`: the end of the audio. What is pending is transcribed (an open
//!   utterance becomes a final), the events are sent, then the server closes (1000).
//! - A close frame ends the session at once: after a close frame the protocol allows no
//!   more data from the server, so send `stop` first to get the last final.
//!
//! # Server → client (JSON text messages)
//!
//! ```text
//! {"type":"speech_started","at_ms":1200}
//! {"type":"partial","text":"he was not"}
//! {"type":"final","text":"He was not an ill-disposed young man.","start_ms":1200,"end_ms":4100}
//! {"type":"speech_stopped","at_ms":4100}
//! {"type":"error","message":"...","code":"invalid_audio"}
//! ```
//!
//! Times are milliseconds on the timeline of the audio sent (its first sample is 0 ms).
//! `speech_started.at_ms` includes 300 ms of pre-roll. An utterance ends after 500 ms of
//! silence; partials come about every 500 ms of speech while it lasts (sparser when the
//! server is busy) and only when their text changed. An utterance with no words (a cough)
//! has no final. Speech longer than 28 s is cut into several finals.
//!
//! Errors: an invalid Opus packet (skipped), an unparsable or unknown text message, and a
//! failed transcription are `error` events and the session goes on; a message over 1 MiB is
//! an `error` event (`message_too_large`) and the server closes (1009). A client silent for
//! 30 s (no message at all) gets `idle_timeout` and a close (1008).
//!
//! # Flow control
//!
//! Audio goes to the session's recognition thread through a queue bounded in bytes (2 MiB:
//! a minute of 16 kHz PCM). While a decode runs the queue fills; afterwards the thread
//! takes all of it at once, so a slow decoder makes partials sparser instead of making the
//! session fall behind. When the queue is full the server stops reading the socket until
//! there is room again: TCP pushes back on the client; nothing is buffered without bound.
//! Decoding, resampling and recognition all run on that thread, never on the async
//! runtime. [`StreamState::with_max_sessions`] caps concurrent sessions (429 beyond).

mod auth;
mod params;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, Query, State};
use axum::response::Response;
use axum::routing::get;
use mka1_http_api::{ApiError, ApiKeys, method_not_allowed_fallback};
use mka1_media::vad::SileroVad;
use mka1_stt::streaming::{
    ChannelCapacity, DecodeBudget, EncodedAudio, StreamConfig, StreamingTranscriber,
};
use mka1_stt::{SttError, TranscribeOptions, WhisperModel};
use tokio::sync::Semaphore;

use self::auth::{BEARER_PROTOCOL, WsCaller};
use self::params::{RawParams, StreamParams};

/// The route of the streaming transcription WebSocket.
pub const STREAM_PATH: &str = "/api/v1/llm/speech/transcriptions/stream";

/// The largest message a client may send (a 20 ms Opus packet is well under 1 KiB; a second
/// of 48 kHz PCM is 96 KiB).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Concurrent sessions allowed unless [`StreamState::with_max_sessions`] says otherwise.
pub const DEFAULT_MAX_SESSIONS: usize = 16;

/// Silence after which a stream decodes the utterance so far, so that its final is ready
/// when the silence that ends the utterance has passed: the voice agent's value
/// (BENCHMARKS.md, "Pause 100 ms"; "Streaming STT").
pub const PAUSE_MS: u32 = 100;

/// Most Whisper threads a decode may take while its stream is the only one open: every
/// core, up to 4 (more gains little for tiny.en).
pub fn lone_stream_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The recognition settings of the route: [`PAUSE_MS`], and Whisper threads from
/// `budget` (all of [`lone_stream_threads`] for a stream open alone, one beside others).
pub fn default_config(budget: Arc<DecodeBudget>) -> StreamConfig {
    StreamConfig::default()
        .with_pause_ms(PAUSE_MS)
        .with_budget(budget)
}

/// Gives the Whisper model for a session's language (`None`: auto). It may load the model
/// (it is called on a blocking thread); the server plugs its shared model pool in here.
pub type ModelProvider =
    Arc<dyn Fn(Option<&str>) -> Result<Arc<WhisperModel>, SttError> + Send + Sync>;

/// What the streaming route needs: the API keys, the VAD, the models, the session cap.
#[derive(Clone)]
pub struct StreamState {
    keys: ApiKeys,
    vad: SileroVad,
    models: ModelProvider,
    sessions: Arc<Semaphore>,
    max_sessions: usize,
    config: StreamConfig,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("keys", &self.keys)
            .field("max_sessions", &self.max_sessions)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StreamState {
    /// A state with the default session cap and recognition settings ([`default_config`],
    /// with a budget of its own).
    pub fn new(keys: ApiKeys, vad: SileroVad, models: ModelProvider) -> Self {
        Self {
            keys,
            vad,
            models,
            sessions: Arc::new(Semaphore::new(DEFAULT_MAX_SESSIONS)),
            max_sessions: DEFAULT_MAX_SESSIONS,
            config: default_config(Arc::new(DecodeBudget::new(lone_stream_threads()))),
        }
    }

    /// Takes the Whisper threads of every decode from `budget`, shared with the other
    /// streaming recognizers of the process (the voice agent's).
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<DecodeBudget>) -> Self {
        self.config = self.config.with_budget(budget);
        self
    }

    /// Caps the sessions open at once (at least 1); later ones get 429.
    #[must_use]
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self.sessions = Arc::new(Semaphore::new(self.max_sessions));
        self
    }

    /// Recognition settings of every session (silence timeout, partial interval, ...); the
    /// language comes from each session's query.
    #[must_use]
    pub fn with_stream_config(mut self, config: StreamConfig) -> Self {
        self.config = config;
        self
    }
}

impl FromRef<StreamState> for ApiKeys {
    fn from_ref(state: &StreamState) -> Self {
        state.keys.clone()
    }
}

/// The streaming route with its state applied, ready to merge into a server.
pub fn router(state: StreamState) -> Router {
    Router::new()
        .route(STREAM_PATH, get(stream_transcription))
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .with_state(state)
}

/// Checks the key, the query and the upgrade, gets the model, then hands the socket to a
/// session. Every refusal happens here, as an HTTP error, before the upgrade.
async fn stream_transcription(
    State(state): State<StreamState>,
    WsCaller(caller): WsCaller,
    query: Result<Query<RawParams>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(raw) = query
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {}", e.body_text())))?;
    let params = StreamParams::parse(&raw)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(format!(
            "This endpoint speaks WebSocket only: {}",
            e.body_text()
        ))
        .with_code("websocket_required")
    })?;
    let permit = Arc::clone(&state.sessions)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::overloaded(
                format!(
                    "All {} streaming transcription sessions are in use; retry shortly.",
                    state.max_sessions
                ),
                1,
            )
        })?;
    let frontend = EncodedAudio::new(params.encoding).map_err(|e| {
        ApiError::bad_request(format!("Unsupported audio format: {e}")).with_param("sample_rate")
    })?;
    let models = Arc::clone(&state.models);
    let language = params.language.clone();
    let model = tokio::task::spawn_blocking(move || models(language.as_deref()))
        .await
        .map_err(|e| ApiError::internal(format!("Loading the model failed: {e}")))?
        .map_err(model_error)?;

    let config = state.config.clone().with_transcribe(TranscribeOptions {
        language: params.language.clone(),
        ..state.config.transcribe.clone()
    });
    let transcriber = StreamingTranscriber::new(model, &state.vad, config);
    tracing::info!(
        key = %caller.key_id,
        encoding = ?params.encoding,
        language = params.language.as_deref().unwrap_or("auto"),
        "streaming transcription session"
    );
    Ok(upgrade
        .protocols([BEARER_PROTOCOL])
        // Messages up to twice the limit are read whole and refused by the session with an
        // error event and a clean close; only beyond that does the WebSocket layer itself
        // give up mid-message.
        .max_message_size(2 * MAX_MESSAGE_BYTES)
        .max_frame_size(2 * MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket: WebSocket| async move {
            let recognizer =
                mka1_stt::streaming::spawn(transcriber, frontend, ChannelCapacity::default());
            session::run(socket, recognizer, permit).await;
        }))
}

/// A model that cannot serve the session, as an HTTP error.
fn model_error(error: SttError) -> ApiError {
    match error {
        SttError::UnknownLanguage(_) | SttError::LanguageNotSupported { .. } => {
            ApiError::bad_request(format!("{error}.")).with_param("language")
        }
        SttError::NotInstalled { .. } => ApiError::unavailable(format!("{error}."), 30),
        other => {
            tracing::error!(error = %other, "loading the streaming model");
            ApiError::internal("The speech recognition model could not be loaded.")
        }
    }
}
