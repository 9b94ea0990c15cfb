//! Unauthenticated service routes: `GET /metrics` and `GET /openapi.json`.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mka1_stt::ModelId;
use mka1_tts::VOICES;

use crate::metrics::{self, escape, header as family};
use crate::state::SpeechState;

/// The metrics route.
pub const METRICS_PATH: &str = "/metrics";
/// The OpenAPI document's route.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The OpenAPI 3.1 document of the speech endpoints (hand-written, checked by tests
/// against the routes).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// `GET /metrics`: the recorded series, plus gauges read now.
pub(crate) async fn metrics(State(state): State<SpeechState>) -> Response {
    let mut out = state.metrics().render();
    let pool = state.pool();
    family(
        &mut out,
        "mka1_transcription_queue_depth",
        "gauge",
        "Transcriptions waiting for a worker.",
    );
    let _ = writeln!(out, "mka1_transcription_queue_depth {}", pool.queue_depth());
    family(
        &mut out,
        "mka1_transcription_in_flight",
        "gauge",
        "Transcriptions being decoded now.",
    );
    let _ = writeln!(out, "mka1_transcription_in_flight {}", pool.in_flight());
    family(
        &mut out,
        "mka1_model_loaded",
        "gauge",
        "Whether a model is loaded in memory (1) or not (0), by kind and model.",
    );
    let loaded = pool.loaded_models();
    for model in ModelId::ALL {
        let _ = writeln!(
            out,
            "mka1_model_loaded{{kind=\"stt\",model=\"{}\"}} {}",
            escape(model.as_str()),
            u8::from(loaded.contains(&model))
        );
    }
    for voice in VOICES {
        let _ = writeln!(
            out,
            "mka1_model_loaded{{kind=\"tts\",model=\"{}\"}} {}",
            escape(voice.id),
            u8::from(state.voices().is_loaded(voice))
        );
    }
    let _ = writeln!(
        out,
        "mka1_model_loaded{{kind=\"vad\",model=\"silero-vad\"}} {}",
        u8::from(state.vad().is_ok())
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        out,
    )
        .into_response()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}
