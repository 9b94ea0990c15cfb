//! The REST speech API (shared/API.md sections 1, 2, 3, 5 and 7), served by the media,
//! STT and TTS crates.
//!
//! [`router`] serves, over one [`SpeechState`]:
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/llm/speech/transcriptions` | multipart `file`, parameters in the query; `speakers` on request |
//! | `POST /api/v1/llm/speech/tts` | a whole WAV, 24 kHz 16-bit mono |
//! | `POST /api/v1/llm/speech/tts/stream` | MP3 or WAV-headed PCM, clause by clause |
//! | `POST /v1/audio/transcriptions` | OpenAI's: json, text, srt, vtt, verbose_json, SSE |
//! | `POST /v1/audio/speech` | OpenAI's: mp3, opus, flac, wav, pcm, streamed |
//! | `GET /v1/audio/voices`, `GET /v1/models` | what is installed |
//! | `GET /metrics` | Prometheus text (no key) |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of these routes (no key) |
//!
//! - [`history`]: transcription and TTS history (`store=true`): SQLite records, audio
//!   blobs on disk addressed by their SHA-256, scoped to the caller.
//! - [`metrics`]: the request counters and histograms; [`Metrics::instrument`] wraps the
//!   whole composed server.
//!
//! Every error is the API's JSON error body. Decoding, inference and encoding never run
//! on the async runtime: decoding on blocking tasks, Whisper on the transcription pool's
//! workers, speech on the synthesizer's thread.
#![forbid(unsafe_code)]

pub mod errors;
pub mod history;
pub mod language;
pub mod metrics;
mod routes;
pub mod speakers;
pub mod speech_stream;
pub mod state;
pub mod stream_ws;
pub mod subtitles;
pub mod tokenizer;
pub mod transcription;
pub mod upload;
pub mod voices;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use metrics::{Metrics, VoiceSessionGuard, VoiceStage};
pub use routes::catalog::{MODELS_PATH, VOICES_PATH};
pub use routes::openai_speech::SPEECH_PATH;
pub use routes::openai_transcriptions::OPENAI_TRANSCRIPTIONS_PATH;
pub use routes::service::{METRICS_PATH, OPENAPI_JSON, OPENAPI_PATH};
pub use routes::transcriptions::TRANSCRIPTIONS_PATH;
pub use routes::tts::{MAX_TEXT_CHARS, TTS_PATH, TTS_STREAM_PATH};
pub use state::{SpeechConfig, SpeechParts, SpeechState};

/// Largest JSON body of the TTS routes: a 10,000-character text is 40 KB at most.
const MAX_JSON_BODY_BYTES: usize = 256 * 1024;

/// The speech routes, ready to merge into a server (see the crate documentation).
pub fn router(state: SpeechState) -> Router {
    // The upload reader counts and limits the body itself (see `upload`), so axum's own
    // limit is off there; the JSON routes keep a small one.
    let uploads = Router::new()
        .route(
            TRANSCRIPTIONS_PATH,
            post(routes::transcriptions::transcriptions),
        )
        .route(
            OPENAI_TRANSCRIPTIONS_PATH,
            post(routes::openai_transcriptions::transcriptions),
        )
        .layer(DefaultBodyLimit::disable());
    let json = Router::new()
        .route(TTS_PATH, post(routes::tts::tts))
        .route(TTS_STREAM_PATH, post(routes::tts::tts_stream))
        .route(SPEECH_PATH, post(routes::openai_speech::speech))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES));
    let reads = Router::new()
        .route(VOICES_PATH, get(routes::catalog::voices))
        .route(MODELS_PATH, get(routes::catalog::models))
        .route(METRICS_PATH, get(routes::service::metrics))
        .route(OPENAPI_PATH, get(routes::service::openapi));
    uploads.merge(json).merge(reads).with_state(state)
}
