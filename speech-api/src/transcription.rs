//! The transcription path both upload routes share: parameters checked, the upload decoded
//! off the runtime, a Whisper model chosen, the audio sent to the shared pool, errors
//! mapped to statuses.

use std::time::Duration;

use mka1_http_api::ApiError;
use mka1_media::{Container, DecodeLimits, DecodedAudio, MediaError, decode_to_mono_with_limits};
use mka1_stt::pool::PoolError;
use mka1_stt::{ModelId, SttError, TranscribeOptions, Transcript};

use crate::errors::{MODEL_MISSING_RETRY_SECS, join_error};
use crate::state::SpeechState;
use crate::upload::{UploadedFile, echo};

/// Whisper's input rate.
pub const STT_RATE: u32 = 16_000;

/// The `model` of a transcription request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// `auto` (or OpenAI's `whisper-1`): by language and what is installed.
    Auto,
    /// One model.
    Id(ModelId),
}

/// Parses `model`: `auto`, a model id (`whisper-tiny.en`, `whisper-base`, or their short
/// forms), and on the OpenAI route also OpenAI's names, which mean `auto`.
pub fn parse_model(value: Option<&str>, openai_names: bool) -> Result<ModelChoice, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(ModelChoice::Auto);
    };
    if value.eq_ignore_ascii_case("auto") {
        return Ok(ModelChoice::Auto);
    }
    const OPENAI: [&str; 4] = [
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "gpt-transcribe",
    ];
    if openai_names && OPENAI.iter().any(|o| o.eq_ignore_ascii_case(value)) {
        return Ok(ModelChoice::Auto);
    }
    if let Some(id) = ModelId::parse(&value.to_ascii_lowercase()) {
        return Ok(ModelChoice::Id(id));
    }
    let mut known = vec!["auto"];
    if openai_names {
        known.push("whisper-1");
    }
    known.extend(ModelId::ALL.iter().map(|m| m.as_str()));
    Err(ApiError::bad_request(format!(
        "Unknown model '{}': use one of {}.",
        echo(value),
        known.join(", ")
    ))
    .with_code("unknown_model")
    .with_param("model"))
}

/// Parses `language` (ISO-639-1 or BCP-47): its primary subtag, if Whisper knows it.
pub fn parse_language(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    mka1_stt::engine::normalize_language(value)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unknown `language` '{}': use an ISO-639-1 code such as `en`, or a BCP-47 tag \
                 such as `en-US`.",
                echo(value)
            ))
            .with_code("unsupported_language")
            .with_param("language")
        })
}

/// Checks `temperature` (0..=1).
pub fn check_temperature(value: Option<f64>) -> Result<Option<f32>, ApiError> {
    match value {
        None => Ok(None),
        Some(t) if (0.0..=1.0).contains(&t) => Ok(Some(t as f32)),
        Some(t) => Err(ApiError::bad_request(format!(
            "`temperature` must be between 0 and 1, not {t}."
        ))
        .with_code("invalid_value")
        .with_param("temperature")),
    }
}

/// Parses a boolean parameter leniently (`true`/`false`, `1`/`0`, any case).
pub fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "`{name}` must be true or false, not '{}'.",
            echo(other)
        ))
        .with_code("invalid_value")
        .with_param(name)),
    }
}

/// Parses a number parameter.
pub fn parse_number(name: &str, value: Option<&str>) -> Result<Option<f64>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!("`{name}` must be a number, not '{}'.", echo(v)))
                    .with_code("invalid_value")
                    .with_param(name)
            }),
    }
}

/// Decodes an upload to 16 kHz mono on a blocking thread (symphonia is CPU work).
pub async fn decode(state: &SpeechState, file: &UploadedFile) -> Result<DecodedAudio, ApiError> {
    let hint = file.pcm_hint()?;
    let bytes = file.bytes.clone();
    let limits = DecodeLimits {
        max_seconds: state.max_audio_seconds(),
    };
    let decoded = tokio::task::spawn_blocking(move || {
        decode_to_mono_with_limits(&bytes, hint, STT_RATE, limits)
    })
    .await
    .map_err(join_error)?
    .map_err(media_error)?;
    if decoded.truncated {
        tracing::info!(
            container = %decoded.container,
            seconds = decoded.duration_seconds(),
            "upload is truncated: transcribing the audio before the damage"
        );
    }
    Ok(decoded)
}

/// What was wrong with an upload, as a status.
pub fn media_error(error: MediaError) -> ApiError {
    match error {
        MediaError::Empty => ApiError::bad_request("The uploaded file is empty.")
            .with_code("empty_file")
            .with_param("file"),
        MediaError::NotAudio => ApiError::unsupported_media_type(
            "The file is not audio in a supported format: FLAC, MP3, MP4/M4A (AAC), MPEG, \
             OGG (Vorbis or Opus), WAV, WebM (Opus), or raw 16-bit little-endian PCM sent \
             with the part's Content-Type `audio/pcm` (16 kHz) or `audio/L16;rate=N`.",
        )
        .with_code("unsupported_audio_format")
        .with_param("file"),
        MediaError::Undecodable { reason } => {
            ApiError::unprocessable(format!("The audio could not be decoded: {reason}."))
                .with_code("undecodable_audio")
                .with_param("file")
        }
        MediaError::TooLong { max_seconds } => ApiError::payload_too_large(format!(
            "The audio is longer than the limit of {max_seconds} seconds."
        ))
        .with_code("audio_too_long")
        .with_param("file"),
        MediaError::InvalidSampleRate { rate, min, max } => ApiError::bad_request(format!(
            "The PCM sample rate {rate} Hz is outside {min}..={max} Hz."
        ))
        .with_code("unsupported_pcm")
        .with_param("file"),
        other => {
            tracing::error!(error = %other, "decoding an upload failed");
            ApiError::internal("Decoding the audio failed.")
        }
    }
}

/// The MIME type of a decoded container, for the history.
pub fn mime_type(container: Container) -> &'static str {
    match container {
        Container::Wav => "audio/wav",
        Container::Aiff => "audio/aiff",
        Container::Caf => "audio/x-caf",
        Container::Flac => "audio/flac",
        Container::Mp3 => "audio/mpeg",
        Container::Adts => "audio/aac",
        Container::Ogg => "audio/ogg",
        Container::Mp4 => "audio/mp4",
        Container::Matroska => "audio/webm",
        Container::RawPcm => "audio/pcm",
        _ => "application/octet-stream",
    }
}

/// A transcription request, checked.
#[derive(Debug, Clone)]
pub struct SttRequest {
    /// Which model.
    pub model: ModelChoice,
    /// The language, when the client set it.
    pub language: Option<String>,
    /// Initial prompt.
    pub prompt: Option<String>,
    /// Decoding temperature.
    pub temperature: Option<f32>,
    /// Whether word timings are needed (speakers, OpenAI word granularity).
    pub word_timestamps: bool,
}

/// The model that will serve `request`, or 503 when it is not installed.
pub fn resolve_model(
    state: &SpeechState,
    choice: ModelChoice,
    language: Option<&str>,
) -> Result<ModelId, ApiError> {
    let installed = ModelId::installed(state.models_dir());
    let model = match choice {
        ModelChoice::Id(id) => id,
        ModelChoice::Auto => ModelId::auto(language, &installed).ok_or_else(|| {
            ApiError::unavailable(
                "No Whisper model is installed: install the models with `mka1-voice models \
                 install` and restart the server.",
                MODEL_MISSING_RETRY_SECS,
            )
            .with_code("model_unavailable")
        })?,
    };
    if !installed.contains(&model) {
        return Err(ApiError::unavailable(
            format!(
                "Model {model} is not installed: install it with `mka1-voice models install`, \
                 or use model=auto."
            ),
            MODEL_MISSING_RETRY_SECS,
        )
        .with_code("model_unavailable")
        .with_param("model"));
    }
    Ok(model)
}

/// The result of [`transcribe`].
#[derive(Debug, Clone)]
pub struct Transcribed {
    /// What Whisper heard.
    pub transcript: Transcript,
    /// The model that heard it.
    pub model: ModelId,
}

/// Transcribes 16 kHz mono `pcm` on the shared pool.
pub async fn transcribe(
    state: &SpeechState,
    pcm: Vec<f32>,
    request: &SttRequest,
) -> Result<Transcribed, ApiError> {
    let model = resolve_model(state, request.model, request.language.as_deref())?;
    let options = TranscribeOptions {
        language: request.language.clone(),
        prompt: request.prompt.clone(),
        temperature: request.temperature,
        word_timestamps: request.word_timestamps,
        ..TranscribeOptions::default()
    };
    let (transcript, stats) = state
        .pool()
        .transcribe_with_stats(model, pcm, options)
        .await
        .map_err(pool_error)?;
    state.metrics().observe_transcription(
        model.as_str(),
        stats.audio_seconds,
        Duration::from_secs_f64(stats.compute_seconds.max(0.0)),
    );
    Ok(Transcribed { transcript, model })
}

/// A pool failure, as a status.
pub fn pool_error(error: PoolError) -> ApiError {
    match error {
        PoolError::Overloaded { retry_after_secs } => ApiError::overloaded(
            "The transcription queue is full; retry shortly.",
            u32::try_from(retry_after_secs).unwrap_or(u32::MAX),
        )
        .with_code("overloaded"),
        PoolError::Stt(e) => stt_error(e),
        PoolError::Closed => ApiError::unavailable("The server is shutting down.", 5),
        other => {
            tracing::error!(error = %other, "transcription failed");
            ApiError::internal("Transcription failed.")
        }
    }
}

/// A Whisper failure, as a status.
pub fn stt_error(error: SttError) -> ApiError {
    match error {
        SttError::NotInstalled { model, .. } => ApiError::unavailable(
            format!("Model {model} is not installed: run `mka1-voice models install`."),
            MODEL_MISSING_RETRY_SECS,
        )
        .with_code("model_unavailable"),
        e @ SttError::Load { .. } => {
            tracing::error!(error = %e, "loading a Whisper model failed");
            ApiError::unavailable(
                format!("The model could not be loaded: {e}."),
                MODEL_MISSING_RETRY_SECS,
            )
            .with_code("model_unavailable")
        }
        SttError::UnknownLanguage(l) => {
            ApiError::bad_request(format!("Unknown `language` '{}'.", echo(&l)))
                .with_code("unsupported_language")
                .with_param("language")
        }
        SttError::LanguageNotSupported { model, language } => ApiError::bad_request(format!(
            "Model {model} only transcribes English, not '{}': use model=auto or whisper-base.",
            echo(&language)
        ))
        .with_code("unsupported_language")
        .with_param("language"),
        e => {
            tracing::error!(error = %e, "transcription failed");
            ApiError::internal("Transcription failed.")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn models_and_parameters() {
        assert_eq!(parse_model(None, false).unwrap(), ModelChoice::Auto);
        assert_eq!(parse_model(Some("auto"), false).unwrap(), ModelChoice::Auto);
        assert_eq!(
            parse_model(Some("whisper-tiny.en"), false).unwrap(),
            ModelChoice::Id(ModelId::TinyEn)
        );
        assert_eq!(
            parse_model(Some("whisper-1"), true).unwrap(),
            ModelChoice::Auto
        );
        let e = parse_model(Some("whisper-1"), false).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(
            e.message(),
            "Unknown model 'whisper-1': use one of auto, whisper-tiny.en, whisper-base."
        );
        assert_eq!(
            parse_language(Some("en-US")).unwrap().as_deref(),
            Some("en")
        );
        assert_eq!(parse_language(Some("")).unwrap(), None);
        assert_eq!(
            parse_language(Some("xx")).unwrap_err().status().as_u16(),
            400
        );
        assert_eq!(check_temperature(Some(0.5)).unwrap(), Some(0.5));
        assert!(check_temperature(Some(1.5)).is_err());
        assert!(parse_bool("store", Some("True")).unwrap());
        assert!(!parse_bool("store", None).unwrap());
        assert!(parse_bool("store", Some("maybe")).is_err());
        assert_eq!(parse_number("t", Some("0.2")).unwrap(), Some(0.2));
        assert!(parse_number("t", Some("x")).is_err());
    }
}
