//! `POST /api/v1/llm/speech/transcriptions` (shared/API.md section 1): one multipart
//! `file`, every other parameter in the query string.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use mka1_http_api::{ApiError, Json};
use mka1_media::Container;
use mka1_stt::{ModelId, Transcript};
use serde::Serialize;

use crate::history::{NewTranscription, Owner, RecordKind, new_id};
use crate::speakers::{SPEAKERS_NEED_WAV, SpeakerSegment, diarize_turns, transcribe_turns};
use crate::state::SpeechState;
use crate::transcription::{
    SttRequest, check_temperature, decode, mime_type, parse_bool, parse_language, parse_model,
    parse_number, transcribe,
};
use crate::upload::AuthedUpload;

/// The route.
pub const TRANSCRIPTIONS_PATH: &str = "/api/v1/llm/speech/transcriptions";

/// The id of the stored history record, when `store=true`.
const X_TRANSCRIPTION_ID: &str = "x-transcription-id";

/// The response body.
#[derive(Debug, Serialize)]
struct TranscriptionResponse {
    text: String,
    language: String,
    confidence: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    speakers: Option<Vec<SpeakerSegment>>,
}

/// What was heard, with or without speakers.
struct Heard {
    text: String,
    language: String,
    confidence: f32,
    model: ModelId,
    speakers: Option<Vec<SpeakerSegment>>,
}

impl Heard {
    fn from_transcript(
        t: Transcript,
        model: ModelId,
        speakers: Option<Vec<SpeakerSegment>>,
    ) -> Self {
        Self {
            text: t.text,
            language: t.language,
            confidence: t.confidence,
            model,
            speakers,
        }
    }
}

/// The query string as name → last value. Parsed by hand (not with axum's `Query`) so
/// that every mistake is a JSON 400 that names the parameter.
pub(crate) fn query_map(raw: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| {
            ApiError::bad_request(format!("The query string is malformed: {e}."))
                .with_code("invalid_query")
        })?;
    Ok(pairs.into_iter().collect())
}

/// `POST /transcriptions`.
pub(crate) async fn transcriptions(
    State(state): State<SpeechState>,
    RawQuery(raw): RawQuery,
    AuthedUpload { caller, mut form }: AuthedUpload,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref())?;
    let q = |name: &str| query.get(name).map(String::as_str);
    let model = parse_model(q("model"), false)?;
    let language = parse_language(q("language"))?;
    let include_speakers = parse_bool("include_speaker_data", q("include_speaker_data"))?;
    let temperature = check_temperature(parse_number("temperature", q("temperature"))?)?;
    let store = parse_bool("store", q("store"))?;
    let prompt = q("prompt")
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned);
    let file = form.take_file()?;

    let audio = decode(&state, &file).await?;
    if include_speakers && !matches!(audio.container, Container::Wav | Container::RawPcm) {
        return Err(ApiError::bad_request(SPEAKERS_NEED_WAV)
            .with_code("unsupported_audio_format")
            .with_param("include_speaker_data"));
    }
    let request = SttRequest {
        model,
        language,
        prompt,
        temperature,
        word_timestamps: false,
    };
    let container = audio.container;
    let heard = if include_speakers {
        let pcm = Arc::new(audio.samples);
        let turns = diarize_turns(&state, Arc::clone(&pcm)).await?;
        if turns.is_empty() {
            // No speech found: Whisper has the last word on the whole file.
            let t = transcribe(&state, pcm.as_ref().clone(), &request).await?;
            Heard::from_transcript(t.transcript, t.model, Some(Vec::new()))
        } else {
            let t = transcribe_turns(&state, &pcm, &turns, &request).await?;
            Heard {
                text: t.text,
                language: t.language,
                confidence: t.confidence,
                model: t.model,
                speakers: Some(t.speakers),
            }
        }
    } else {
        let t = transcribe(&state, audio.samples, &request).await?;
        Heard::from_transcript(t.transcript, t.model, None)
    };
    let mut headers = axum::http::HeaderMap::new();
    if store {
        let id = new_id(RecordKind::Transcription);
        let new = NewTranscription {
            text: heard.text.clone(),
            language: heard.language.clone(),
            confidence: heard.confidence,
            model: heard.model.as_str().to_owned(),
            filename: file.filename.clone(),
            audio: file.bytes.to_vec(),
            audio_mime_type: mime_type(container).to_owned(),
            speakers: heard
                .speakers
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok()),
            streaming: false,
            metadata: serde_json::Value::Null,
        };
        state
            .history()
            .insert_transcription(&Owner::from(&caller), &id, new)
            .await?;
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert(X_TRANSCRIPTION_ID, v);
        }
    }
    let body = TranscriptionResponse {
        text: heard.text,
        language: heard.language,
        confidence: heard.confidence,
        speakers: heard.speakers,
    };
    Ok((headers, Json(body)).into_response())
}
