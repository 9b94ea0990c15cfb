//! `POST /api/v1/llm/speech/tts` (a whole WAV) and `POST /api/v1/llm/speech/tts/stream`
//! (MP3 or WAV-headed PCM, sent clause by clause): shared/API.md sections 2 and 3.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mka1_http_api::{ApiError, Caller, Json};
use mka1_media::encode::encode_wav;
use mka1_tts::{Chunking, SAMPLE_RATE, SynthesisOptions};
use serde::Deserialize;

use crate::errors::{join_error, speech_stream_error, tts_error};
use crate::history::{NewTts, Owner, RecordKind, new_id};
use crate::speech_stream::{self, OnComplete, SpeechJob, StreamFormat};
use crate::state::SpeechState;
use crate::voices::{VoiceChoice, check_tts_model, choose_voice};

/// The route of whole-file TTS.
pub const TTS_PATH: &str = "/api/v1/llm/speech/tts";
/// The route of streamed TTS.
pub const TTS_STREAM_PATH: &str = "/api/v1/llm/speech/tts/stream";

/// Longest text one request may speak, in characters: about ten minutes of speech, a
/// 30 MB WAV.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The language the speech is in.
pub(crate) static X_LANGUAGE_CODE: HeaderName = HeaderName::from_static("x-language-code");
/// The id of the stored history record (`store=true`).
pub(crate) static X_TTS_ID: HeaderName = HeaderName::from_static("x-tts-id");

/// The JSON body of both routes (`format` only matters for the stream).
#[derive(Debug, Deserialize)]
pub(crate) struct TtsRequest {
    text: String,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    format: Option<String>,
}

/// A checked request: what to say, with which voice.
pub(crate) struct Plan {
    pub(crate) text: String,
    pub(crate) choice: VoiceChoice,
}

/// Checks `text` (non-empty, not too long): shared with the OpenAI route.
pub(crate) fn check_text(text: &str, param: &str, max_chars: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(
            ApiError::bad_request(format!("`{param}` must not be empty."))
                .with_code("empty_text")
                .with_param(param),
        );
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ApiError::bad_request(format!(
            "`{param}` is {chars} characters long; at most {max_chars} can be spoken per request."
        ))
        .with_code("text_too_long")
        .with_param(param));
    }
    Ok(())
}

fn plan(request: &TtsRequest) -> Result<Plan, ApiError> {
    check_text(&request.text, "text", MAX_TEXT_CHARS)?;
    check_tts_model(request.model.as_deref(), false)?;
    let choice = choose_voice(
        &request.text,
        request.voice.as_deref(),
        request.language.as_deref(),
    )?;
    Ok(Plan {
        text: request.text.clone(),
        choice,
    })
}

/// Response headers common to every speech response.
pub(crate) fn speech_headers(
    content_type: &'static str,
    language: &'static str,
    tts_id: Option<&str>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(X_LANGUAGE_CODE.clone(), HeaderValue::from_static(language));
    if let Some(id) = tts_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(X_TTS_ID.clone(), id);
    }
    headers
}

/// `POST /tts`: the whole WAV (24 kHz, 16-bit, mono).
pub(crate) async fn tts(
    State(state): State<SpeechState>,
    caller: Caller,
    Json(request): Json<TtsRequest>,
) -> Result<Response, ApiError> {
    let plan = plan(&request)?;
    let voice = state.voices().get(plan.choice.voice)?;
    let text = plan.text.clone();
    // Whole sentences give the most natural prosody when nothing is streamed.
    let options = SynthesisOptions::default().with_chunking(Chunking::Sentence);
    // A client that hangs up drops this future and with it the guard: synthesis stops at
    // the next sentence instead of speaking the rest for nobody.
    let gone = Arc::new(AtomicBool::new(false));
    let _guard = SetOnDrop(Arc::clone(&gone));
    let wav = tokio::task::spawn_blocking(move || {
        let mut audio = Vec::new();
        voice
            .synthesize_each(&text, &options, |chunk| {
                audio.extend_from_slice(&chunk.samples_24k);
                if gone.load(Ordering::Relaxed) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map(|()| encode_wav(&audio, SAMPLE_RATE))
    })
    .await
    .map_err(join_error)?
    .map_err(tts_error)?;
    let tts_id = if request.store.unwrap_or(false) {
        let id = new_id(RecordKind::Tts);
        let new = NewTts {
            text: plan.text,
            language: plan.choice.language.to_owned(),
            model: plan.choice.voice.id.to_owned(),
            format: "wav".to_owned(),
            audio: wav.clone(),
            streaming: false,
            metadata: serde_json::Value::Null,
        };
        state
            .history()
            .insert_tts(&Owner::from(&caller), &id, new)
            .await?;
        Some(id)
    } else {
        None
    };
    let headers = speech_headers("audio/wav", plan.choice.language, tts_id.as_deref());
    Ok((StatusCode::OK, headers, wav).into_response())
}

/// `POST /tts/stream`: MP3 or WAV-headed PCM, each clause sent the moment it is
/// encoded. The content type follows `format`, never `Accept` (the official SDK sends
/// `Accept: audio/mpeg;q=1, audio/wav;q=0` whatever it asks for).
pub(crate) async fn tts_stream(
    State(state): State<SpeechState>,
    caller: Caller,
    Json(request): Json<TtsRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let format = match request
        .format
        .as_deref()
        .map(|f| f.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "mp3") => StreamFormat::Mp3,
        Some("pcm") => StreamFormat::WavStream,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported `format` '{other}': use mp3 or pcm."
            ))
            .with_code("unsupported_format")
            .with_param("format"));
        }
    };
    let plan = plan(&request)?;
    let voice = state.voices().get(plan.choice.voice)?;
    let store = request.store.unwrap_or(false);
    let tts_id = store.then(|| new_id(RecordKind::Tts));
    let on_complete = tts_id.as_ref().map(|id| {
        store_on_complete(
            &state,
            &caller,
            id.clone(),
            NewTts {
                text: plan.text.clone(),
                language: plan.choice.language.to_owned(),
                model: plan.choice.voice.id.to_owned(),
                // The history names MKA1's format: `pcm` is served as the WAV it is.
                format: if format == StreamFormat::Mp3 {
                    "mp3"
                } else {
                    "pcm"
                }
                .to_owned(),
                audio: Vec::new(),
                streaming: true,
                metadata: serde_json::Value::Null,
            },
        )
    });
    let body = speech_stream::start(SpeechJob {
        voice,
        text: plan.text,
        // The first clause alone (the soonest first audio), then whole sentences.
        options: SynthesisOptions::default().with_chunking(Chunking::FirstClauseThenSentences),
        format,
        on_complete,
        metrics: state.metrics().clone(),
        started,
    })
    .await
    .map_err(speech_stream_error)?;
    let mut headers = speech_headers(
        format.content_type(),
        plan.choice.language,
        tts_id.as_deref(),
    );
    no_buffering(&mut headers);
    Ok((StatusCode::OK, headers, Body::from_stream(body)).into_response())
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Asks proxies not to buffer a streamed response (nginx honours `X-Accel-Buffering`).
pub(crate) fn no_buffering(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
}

/// Stores a streamed synthesis once it completed, with the audio exactly as sent. The
/// id went out in `X-Tts-Id` before the audio existed; the record appears when the stream
/// ends (never for a stream the client abandoned).
pub(crate) fn store_on_complete(
    state: &SpeechState,
    caller: &Caller,
    id: String,
    template: NewTts,
) -> OnComplete {
    let history = state.history().clone();
    let owner = Owner::from(caller);
    let runtime = tokio::runtime::Handle::current();
    Box::new(move |audio: Vec<u8>| {
        let new = NewTts { audio, ..template };
        runtime.spawn(async move {
            if let Err(e) = history.insert_tts(&owner, &id, new).await {
                tracing::error!(error = %e, id, "storing a streamed synthesis failed");
            }
        });
    })
}
