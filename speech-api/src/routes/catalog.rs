//! What is installed: `GET /v1/audio/voices` and `GET /v1/models` (OpenAI's list format).

use std::time::UNIX_EPOCH;

use axum::extract::State;
use mka1_http_api::{Caller, Json};
use mka1_stt::ModelId;
use serde_json::{Value, json};

use crate::state::SpeechState;
use crate::voices::{OPENAI_VOICES, TTS_MODEL, short_name};

/// The voices route.
pub const VOICES_PATH: &str = "/v1/audio/voices";
/// The models route.
pub const MODELS_PATH: &str = "/v1/models";

/// Who owns the models, in OpenAI's `owned_by`.
const OWNER: &str = "mka1-voice";

/// `GET /v1/audio/voices`: the voices loaded and ready.
pub(crate) async fn voices(State(state): State<SpeechState>, _caller: Caller) -> Json<Value> {
    let data: Vec<Value> = state
        .voices()
        .installed()
        .map(|v| {
            json!({
                "id": v.id,
                "object": "voice",
                "name": short_name(v),
                "language": v.language,
                "locale": v.locale,
                "sample_rate": mka1_tts::SAMPLE_RATE,
                "license": v.license,
                "description": v.description,
                "default_for_language": mka1_tts::Voice::for_language(v.language)
                    .is_some_and(|d| d.id == v.id),
                "openai_aliases": OPENAI_VOICES,
            })
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/models`: the installed Whisper models (and `whisper-1`, OpenAI's name for
/// `model=auto`), then the TTS engine and its voices.
pub(crate) async fn models(State(state): State<SpeechState>, _caller: Caller) -> Json<Value> {
    let dir = state.models_dir();
    let mut data = Vec::new();
    let installed = ModelId::installed(dir);
    for model in &installed {
        data.push(model_entry(
            model.as_str(),
            created(&model.ggml_path(dir)),
            "speech-to-text",
        ));
    }
    if let Some(first) = installed.first() {
        data.push(model_entry(
            "whisper-1",
            created(&first.ggml_path(dir)),
            "speech-to-text",
        ));
    }
    let voices: Vec<_> = state.voices().installed().collect();
    if let Some(first) = voices.first() {
        let t = created(&first.model_path(dir));
        data.push(model_entry(TTS_MODEL, t, "text-to-speech"));
        for alias in ["tts-1", "tts-1-hd"] {
            data.push(model_entry(alias, t, "text-to-speech"));
        }
    }
    for voice in voices {
        data.push(model_entry(
            voice.id,
            created(&voice.model_path(dir)),
            "text-to-speech",
        ));
    }
    Json(json!({"object": "list", "data": data}))
}

fn model_entry(id: &str, created: u64, task: &str) -> Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": OWNER, "task": task})
}

/// When a model file was installed (its modification time), in Unix seconds.
fn created(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}
