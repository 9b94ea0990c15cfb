//! `POST /v1/audio/transcriptions`, as OpenAI's API has it (shared/API.md section 7): every
//! parameter is a form field; `response_format` is json, text, srt, vtt or verbose_json;
//! `stream=true` answers Server-Sent Events (`transcript.text.delta`, then
//! `transcript.text.done`), which the official SDK parses.

use std::io::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mka1_http_api::{ApiError, Json};
use mka1_media::vad::{WINDOW_MS, WINDOW_SAMPLES};
use mka1_stt::{Segment, Transcript};
use serde_json::{Value, json};

use crate::errors::join_error;
use crate::language::language_name;
use crate::routes::transcription_stream::stream_transcription;
use crate::state::SpeechState;
use crate::subtitles::{Cue, srt, vtt};
use crate::tokenizer::Bpe;
use crate::transcription::{
    SttRequest, check_temperature, decode, parse_bool, parse_language, parse_model, parse_number,
    transcribe,
};
use crate::upload::{AuthedUpload, echo};

/// The route.
pub const OPENAI_TRANSCRIPTIONS_PATH: &str = "/v1/audio/transcriptions";

/// What `response_format` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseFormat {
    Json,
    Text,
    Srt,
    Vtt,
    VerboseJson,
}

fn parse_response_format(value: Option<&str>) -> Result<ResponseFormat, ApiError> {
    let value = value.map(|v| v.trim().to_ascii_lowercase());
    Ok(match value.as_deref() {
        None | Some("" | "json") => ResponseFormat::Json,
        Some("text") => ResponseFormat::Text,
        Some("srt") => ResponseFormat::Srt,
        Some("vtt") => ResponseFormat::Vtt,
        Some("verbose_json") => ResponseFormat::VerboseJson,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported `response_format` '{}': use one of json, text, srt, vtt, \
                 verbose_json.",
                echo(other)
            ))
            .with_code("unsupported_response_format")
            .with_param("response_format"));
        }
    })
}

/// Which timestamps `timestamp_granularities[]` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Granularities {
    segment: bool,
    word: bool,
}

fn parse_granularities<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Result<Granularities, ApiError> {
    let mut g = Granularities::default();
    let mut any = false;
    for v in values {
        // Some clients send the list as one comma-separated field.
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            any = true;
            match item.to_ascii_lowercase().as_str() {
                "segment" => g.segment = true,
                "word" => g.word = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Unsupported timestamp granularity '{}': use segment or word.",
                        echo(other)
                    ))
                    .with_code("invalid_value")
                    .with_param("timestamp_granularities"));
                }
            }
        }
    }
    // OpenAI's default is segment timestamps.
    if !any {
        g.segment = true;
    }
    Ok(g)
}

/// `POST /v1/audio/transcriptions`.
pub(crate) async fn transcriptions(
    State(state): State<SpeechState>,
    AuthedUpload { mut form, .. }: AuthedUpload,
) -> Result<Response, ApiError> {
    let file = form.take_file()?;
    let model = parse_model(form.field("model"), true)?;
    let language = parse_language(form.field("language"))?;
    let temperature = check_temperature(parse_number("temperature", form.field("temperature"))?)?;
    let format = parse_response_format(form.field("response_format"))?;
    let granularities = parse_granularities(
        form.all("timestamp_granularities[]")
            .chain(form.all("timestamp_granularities")),
    )?;
    let stream = parse_bool("stream", form.field("stream"))?;
    let prompt = form
        .field("prompt")
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned);
    let verbose = format == ResponseFormat::VerboseJson && !stream;
    let request = SttRequest {
        model,
        language,
        prompt,
        temperature,
        // verbose_json's `avg_logprob` comes from the words' probabilities.
        word_timestamps: verbose,
    };
    let audio = decode(&state, &file).await?;
    let duration = audio.duration_seconds();
    if stream {
        return stream_transcription(&state, audio.samples, &request).await;
    }
    if !verbose {
        let transcript = transcribe(&state, audio.samples, &request)
            .await?
            .transcript;
        return Ok(match format {
            ResponseFormat::Text => text_response(format!("{}\n", transcript.text)),
            ResponseFormat::Srt => text_response(srt(&cues(&transcript))),
            ResponseFormat::Vtt => text_response(vtt(&cues(&transcript))),
            ResponseFormat::Json | ResponseFormat::VerboseJson => Json(json!({
                "text": transcript.text,
                "usage": {"type": "duration", "seconds": duration.ceil() as u64},
            }))
            .into_response(),
        });
    }
    // The VAD's view of the audio (for `no_speech_prob`) is computed beside Whisper.
    let pcm = Arc::new(audio.samples);
    let probabilities = speech_probabilities(&state, Arc::clone(&pcm));
    let transcribed = transcribe(&state, pcm.as_ref().clone(), &request).await?;
    let probabilities = probabilities.await.map_err(join_error)?;
    let (transcript, model) = (transcribed.transcript, transcribed.model);
    let tokenizer_state = state.clone();
    let segments = transcript.segments.clone();
    let stats = tokio::task::spawn_blocking(move || {
        let bpe = tokenizer_state
            .tokenizers()
            .for_model(tokenizer_state.models_dir(), model);
        if let Err(e) = &bpe {
            tracing::warn!(error = %e, "no Whisper vocabulary: verbose_json tokens left empty");
        }
        segment_stats(&segments, bpe.ok().as_deref(), probabilities.as_deref())
    })
    .await
    .map_err(join_error)?;
    Ok(Json(verbose_json(
        &transcript,
        &stats,
        duration,
        temperature.unwrap_or(0.0),
        granularities,
    ))
    .into_response())
}

/// Silero's speech probability of each 32 ms window, computed on a blocking thread;
/// `None` when the VAD is not available.
fn speech_probabilities(
    state: &SpeechState,
    pcm: Arc<Vec<f32>>,
) -> tokio::task::JoinHandle<Option<Vec<f32>>> {
    let vad = state.vad().ok().cloned();
    tokio::task::spawn_blocking(move || {
        let vad = vad?;
        let mut stream = vad.stream();
        let mut probabilities = Vec::with_capacity(pcm.len() / WINDOW_SAMPLES + 1);
        let run = stream
            .push(&pcm, &mut probabilities)
            .and_then(|()| stream.flush(&mut probabilities));
        match run {
            Ok(()) => Some(probabilities),
            Err(e) => {
                tracing::warn!(error = %e, "VAD failed: verbose_json no_speech_prob left at 0");
                None
            }
        }
    })
}

/// What `verbose_json` reports per segment beyond its text and times.
#[derive(Debug, Clone, PartialEq)]
struct SegmentStats {
    /// The text's ids in the model's vocabulary.
    tokens: Vec<u32>,
    /// Mean natural log of the words' probabilities.
    avg_logprob: f64,
    /// How little of the segment the VAD hears as speech: 1 − its mean speech
    /// probability over the segment's windows.
    no_speech_prob: f64,
}

fn segment_stats(
    segments: &[Segment],
    bpe: Option<&Bpe>,
    probabilities: Option<&[f32]>,
) -> Vec<SegmentStats> {
    segments
        .iter()
        .map(|s| {
            let tokens = bpe.map_or_else(Vec::new, |b| b.encode(&format!(" {}", s.text.trim())));
            let avg_logprob = if s.words.is_empty() {
                0.0
            } else {
                s.words
                    .iter()
                    .map(|w| f64::from(w.probability.max(1e-6)).ln())
                    .sum::<f64>()
                    / s.words.len() as f64
            };
            let no_speech_prob = probabilities.map_or(0.0, |p| {
                let first = (s.start_ms / u64::from(WINDOW_MS)) as usize;
                let last = s.end_ms.div_ceil(u64::from(WINDOW_MS)) as usize;
                let window = p.get(first..last.min(p.len())).unwrap_or_default();
                if window.is_empty() {
                    0.0
                } else {
                    let mean =
                        window.iter().map(|x| f64::from(*x)).sum::<f64>() / window.len() as f64;
                    (1.0 - mean).clamp(0.0, 1.0)
                }
            });
            SegmentStats {
                tokens,
                avg_logprob,
                no_speech_prob,
            }
        })
        .collect()
}

fn text_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn cues(transcript: &Transcript) -> Vec<Cue> {
    transcript
        .segments
        .iter()
        .map(|s| Cue {
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            text: s.text.clone(),
        })
        .collect()
}

/// OpenAI's `verbose_json`: the language by name, the duration, the segments with
/// Whisper's decoding statistics, and the words when asked for.
fn verbose_json(
    transcript: &Transcript,
    stats: &[SegmentStats],
    duration: f64,
    temperature: f32,
    granularities: Granularities,
) -> Value {
    let language = language_name(&transcript.language).unwrap_or(transcript.language.as_str());
    let mut body = json!({
        "task": "transcribe",
        "language": language,
        "duration": round3(duration),
        "text": transcript.text,
        "usage": {"type": "duration", "seconds": duration.ceil() as u64},
    });
    if granularities.segment {
        let segments: Vec<Value> = transcript
            .segments
            .iter()
            .zip(stats)
            .enumerate()
            .map(|(id, (s, stat))| {
                json!({
                    "id": id,
                    // Whisper reads 30 s windows; `seek` is the start of the segment's window
                    // in 10 ms frames, as OpenAI reports it.
                    "seek": s.start_ms / 30_000 * 3_000,
                    "start": s.start_ms as f64 / 1000.0,
                    "end": s.end_ms as f64 / 1000.0,
                    "text": format!(" {}", s.text.trim()),
                    "tokens": stat.tokens,
                    "temperature": temperature,
                    "avg_logprob": stat.avg_logprob,
                    "compression_ratio": compression_ratio(&s.text),
                    "no_speech_prob": stat.no_speech_prob,
                })
            })
            .collect();
        body["segments"] = Value::Array(segments);
    }
    if granularities.word {
        let words: Vec<Value> = transcript
            .segments
            .iter()
            .flat_map(|s| &s.words)
            .filter(|w| !w.text.trim().is_empty())
            .map(|w| {
                json!({
                    "word": w.text.trim(),
                    "start": w.start_ms as f64 / 1000.0,
                    "end": w.end_ms as f64 / 1000.0,
                })
            })
            .collect();
        body["words"] = Value::Array(words);
    }
    body
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Whisper's compression ratio: text bytes over zlib-compressed bytes (a high ratio flags
/// repetitive, hallucinated text).
fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_or(bytes.len(), |c| c.len());
    bytes.len() as f64 / compressed.max(1) as f64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_and_granularities() {
        assert_eq!(parse_response_format(None).unwrap(), ResponseFormat::Json);
        assert_eq!(
            parse_response_format(Some("verbose_json")).unwrap(),
            ResponseFormat::VerboseJson
        );
        let e = parse_response_format(Some("diarized_json")).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.param()),
            (400, Some("response_format"))
        );
        let g = parse_granularities(["word", "segment"].into_iter()).unwrap();
        assert!(g.word && g.segment);
        let g = parse_granularities(["word"].into_iter()).unwrap();
        assert!(g.word && !g.segment);
        let g = parse_granularities(std::iter::empty()).unwrap();
        assert!(!g.word && g.segment);
        assert!(parse_granularities(["char"].into_iter()).is_err());
    }

    #[test]
    fn compression_ratio_flags_repetition() {
        let normal = compression_ratio("He was not an ill disposed young man.");
        let repeated = compression_ratio(&"the the the the ".repeat(20));
        assert!(normal < 1.5, "{normal}");
        assert!(repeated > 2.4, "{repeated}");
    }
}
