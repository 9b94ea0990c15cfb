//! `POST /v1/audio/speech`, as OpenAI's API has it (shared/API.md section 7), so that the
//! official `openai` SDK and the tools built on it work unchanged.
//!
//! OpenAI's voice names (`alloy`, `nova`, ...) all speak with the default voice of the
//! input's language; this server's own voice ids work too. Every format but FLAC (whose
//! header needs the total length) is streamed clause by clause; `stream_format=sse` wraps
//! the same chunks in `speech.audio.delta` events.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::Stream;
use mka1_http_api::{ApiError, Caller, Json};
use mka1_tts::{Chunking, SynthesisOptions};
use serde::Deserialize;

use crate::errors::speech_stream_error;
use crate::routes::tts::{check_text, no_buffering, speech_headers};
use crate::speech_stream::{self, SpeechBody, SpeechJob, StreamFormat};
use crate::state::SpeechState;
use crate::voices::{OPENAI_VOICES, check_tts_model, choose_voice, find_voice};

/// The route.
pub const SPEECH_PATH: &str = "/v1/audio/speech";

/// OpenAI's limit on `input`, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;

/// The formats of `response_format`, as error messages list them.
const FORMATS: &str = "mp3, opus, flac, wav, pcm";

/// `voice`: a name, or `{"id": ...}` (OpenAI's custom-voice form).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum VoiceParam {
    Name(String),
    Object { id: String },
}

/// The JSON body.
#[derive(Debug, Deserialize)]
pub(crate) struct SpeechRequest {
    input: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    voice: Option<VoiceParam>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    stream_format: Option<String>,
}

fn parse_format(value: Option<&str>) -> Result<StreamFormat, ApiError> {
    let value = value.map(|f| f.trim().to_ascii_lowercase());
    Ok(match value.as_deref() {
        None | Some("" | "mp3") => StreamFormat::Mp3,
        Some("opus") => StreamFormat::OggOpus,
        Some("flac") => StreamFormat::Flac,
        Some("wav") => StreamFormat::WavStream,
        Some("pcm") => StreamFormat::RawPcm,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported `response_format` '{other}': the supported formats are {FORMATS}."
            ))
            .with_code("unsupported_response_format")
            .with_param("response_format"));
        }
    })
}

/// `POST /v1/audio/speech`.
pub(crate) async fn speech(
    State(state): State<SpeechState>,
    _caller: Caller,
    Json(request): Json<SpeechRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    check_text(&request.input, "input", MAX_INPUT_CHARS)?;
    check_tts_model(request.model.as_deref(), true)?;
    let format = parse_format(request.response_format.as_deref())?;
    let speed = request.speed.unwrap_or(1.0);
    if !(0.25..=4.0).contains(&speed) {
        return Err(ApiError::bad_request(format!(
            "`speed` must be between 0.25 and 4.0, not {speed}."
        ))
        .with_code("invalid_value")
        .with_param("speed"));
    }
    let sse = match request
        .stream_format
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "audio") => false,
        Some("sse") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported `stream_format` '{other}': use audio or sse."
            ))
            .with_code("invalid_value")
            .with_param("stream_format"));
        }
    };
    let voice_name = match &request.voice {
        Some(VoiceParam::Name(n) | VoiceParam::Object { id: n }) => Some(n.trim()),
        None => None,
    };
    // OpenAI's names choose nothing: the input's language picks the voice.
    let own_voice = match voice_name.filter(|n| !n.is_empty()) {
        None => None,
        Some(n) if OPENAI_VOICES.iter().any(|o| o.eq_ignore_ascii_case(n)) => None,
        Some(n) if find_voice(n).is_some() => Some(n),
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "Unknown voice '{n}': use one of OpenAI's voices ({}), which speak with this \
                 server's default voice, or a voice id from GET /v1/audio/voices.",
                OPENAI_VOICES.join(", ")
            ))
            .with_code("unknown_voice")
            .with_param("voice"));
        }
    };
    let choice = choose_voice(&request.input, own_voice, None)?;
    let voice = state.voices().get(choice.voice)?;
    let options = SynthesisOptions::default()
        .with_speed(speed as f32)
        .with_chunking(Chunking::FirstClauseThenSentences);
    let body = speech_stream::start(SpeechJob {
        voice,
        text: request.input,
        options,
        format,
        on_complete: None,
        metrics: state.metrics().clone(),
        started,
    })
    .await
    .map_err(speech_stream_error)?;
    if sse {
        let mut headers = speech_headers("text/event-stream", choice.language, None);
        no_buffering(&mut headers);
        let events = SpeechEvents {
            audio: body,
            done: false,
        };
        return Ok((StatusCode::OK, headers, Body::from_stream(events)).into_response());
    }
    let mut headers = speech_headers(format.content_type(), choice.language, None);
    no_buffering(&mut headers);
    if format == StreamFormat::OggOpus {
        // What OpenAI answers for `opus`; the bytes are an Ogg Opus file.
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg"));
    }
    Ok((StatusCode::OK, headers, Body::from_stream(body)).into_response())
}

/// The audio chunks as Server-Sent Events: `speech.audio.delta` with base64 audio, then
/// `speech.audio.done`.
struct SpeechEvents {
    audio: SpeechBody,
    done: bool,
}

impl Stream for SpeechEvents {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.audio).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                let event = serde_json::json!({
                    "type": "speech.audio.delta",
                    "audio": base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
                Poll::Ready(Some(Ok(sse_event(&event))))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.done = true;
                let event = serde_json::json!({
                    "type": "speech.audio.done",
                    "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
                });
                Poll::Ready(Some(Ok(sse_event(&event))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One `data:` event.
pub(crate) fn sse_event(value: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(parse_format(None).unwrap(), StreamFormat::Mp3);
        assert_eq!(parse_format(Some("PCM")).unwrap(), StreamFormat::RawPcm);
        assert_eq!(parse_format(Some("opus")).unwrap(), StreamFormat::OggOpus);
        let e = parse_format(Some("aac")).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(
            e.message(),
            "Unsupported `response_format` 'aac': the supported formats are mp3, opus, flac, wav, pcm."
        );
    }
}
