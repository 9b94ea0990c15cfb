//! How the domain crates' errors reach HTTP clients: the one mapping of media, TTS and
//! task failures to statuses and messages (history maps its own, in `history::error`).

use mka1_http_api::ApiError;
use mka1_media::MediaError;
use mka1_tts::TtsError;

use crate::speech_stream::SpeechStreamError;

/// Seconds a 503 for a missing model asks the client to wait: installing models takes a
/// while, and the SDKs retry 503s on their own.
pub const MODEL_MISSING_RETRY_SECS: u32 = 30;

/// A failed synthesis.
pub fn tts_error(error: TtsError) -> ApiError {
    match error {
        TtsError::UnknownVoice { id, known } => {
            ApiError::bad_request(format!("Unknown voice '{id}': the voices are {known}."))
                .with_code("unknown_voice")
                .with_param("voice")
        }
        TtsError::TextQueueFull { limit } => ApiError::bad_request(format!(
            "The text is too long: at most {limit} bytes can be spoken at once."
        ))
        .with_param("text"),
        e @ (TtsError::NoModelsDir { .. }
        | TtsError::Runtime(_)
        | TtsError::VoiceMissing { .. }
        | TtsError::VoiceConfig { .. }
        | TtsError::ModelLoad { .. }
        | TtsError::EspeakMissing { .. }) => {
            tracing::error!(error = %e, "speech synthesis is not available");
            ApiError::unavailable(
                format!("Speech synthesis is not available on this server: {e}."),
                MODEL_MISSING_RETRY_SECS,
            )
            .with_code("tts_unavailable")
        }
        e => {
            tracing::error!(error = %e, "speech synthesis failed");
            ApiError::internal("Speech synthesis failed.")
        }
    }
}

/// A failed speech stream, before anything was sent.
pub fn speech_stream_error(error: SpeechStreamError) -> ApiError {
    match error {
        SpeechStreamError::Tts(e) => tts_error(e),
        SpeechStreamError::Encode(e) => encode_error(e),
        e => {
            tracing::error!(error = %e, "speech stream failed");
            ApiError::internal("Speech synthesis failed.")
        }
    }
}

/// An encoder failure: always ours, never the client's.
pub fn encode_error(error: MediaError) -> ApiError {
    tracing::error!(error = %error, "audio encoding failed");
    ApiError::internal("Encoding the audio failed.")
}

/// A blocking task that panicked or was cancelled.
pub fn join_error(error: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %error, "a worker task failed");
    ApiError::internal("The request failed on the server.")
}
