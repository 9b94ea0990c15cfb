//! `include_speaker_data`: who said what.
//!
//! Diarization (stt's `diarize`: Silero VAD regions, MFCC Gaussians, BIC clustering) says
//! who spoke when. Each speaker turn is then transcribed on its own, and the response's
//! `text` is the turns' texts in order.
//!
//! Why per turn, rather than one pass over the file with its words handed out to turns by
//! their timestamps: Whisper's token timestamps drift by hundreds of milliseconds at
//! segment edges (the last word of a sentence stretches into the pause, the first words
//! of the next one pile up at its start), which is exactly where speakers change, so
//! words land in the wrong turn. A turn's own audio has one speaker and nothing else.
//! It costs no more: the turns cover the speech once, the silences between them are not
//! decoded at all, and the engine's trimmed fast path makes a short turn cheap (its
//! encoder runs on the turn's length, not on a padded 30 s window). The language is
//! detected on the first turn and kept for the others, so a conversation is not split
//! between languages by a short ambiguous turn. Earlier turns are not given as a prompt:
//! Whisper tends to skip speech that resembles its prompt.

use std::sync::Arc;

use mka1_http_api::ApiError;
use mka1_stt::ModelId;
use mka1_stt::diarize::{DiarizeConfig, SpeakerTurn, diarize};
use serde::Serialize;

use crate::errors::{MODEL_MISSING_RETRY_SECS, join_error};
use crate::state::SpeechState;
use crate::transcription::{ModelChoice, STT_RATE, SttRequest, resolve_model, transcribe};

/// The message for `include_speaker_data` with anything but WAV or raw PCM
/// (shared/API.md section 1, word for word).
pub const SPEAKERS_NEED_WAV: &str =
    "Speaker diarization currently requires WAV/PCM audio for non-streaming transcription.";

/// Audio kept around a turn, where it borders silence, so that Whisper hears the first
/// and last phonemes whole (never more than half the pause to the next turn).
const TURN_PADDING_MS: u64 = 150;

/// One speaker turn in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeakerSegment {
    /// `Speaker-1`, `Speaker-2`, ... in order of first appearance.
    pub speaker: String,
    /// What was said in the turn.
    pub text: String,
    /// Mean probability of the turn's tokens (0..1).
    pub confidence: f32,
    /// Start of the turn, in milliseconds from the start of the audio.
    pub offset_ms: u64,
    /// Length of the turn, in milliseconds.
    pub duration_ms: u64,
}

/// Runs diarization on a blocking thread.
pub async fn diarize_turns(
    state: &SpeechState,
    pcm: Arc<Vec<f32>>,
) -> Result<Vec<SpeakerTurn>, ApiError> {
    let vad = state
        .vad()
        .map_err(|reason| {
            ApiError::unavailable(
                format!(
                    "Speaker diarization is not available: the voice activity detector could \
                     not be loaded ({reason}). Install the models with `mka1-voice models \
                     install`."
                ),
                MODEL_MISSING_RETRY_SECS,
            )
            .with_code("model_unavailable")
        })?
        .clone();
    let diarization =
        tokio::task::spawn_blocking(move || diarize(&pcm, &vad, &DiarizeConfig::default()))
            .await
            .map_err(join_error)?
            .map_err(|e| {
                tracing::error!(error = %e, "diarization failed");
                ApiError::internal("Speaker diarization failed.")
            })?;
    Ok(diarization.turns)
}

/// The samples of each turn, padded into the silence around it.
pub fn turn_ranges(turns: &[SpeakerTurn], total_samples: usize) -> Vec<std::ops::Range<usize>> {
    let per_ms = u64::from(STT_RATE) / 1000;
    let to_sample = |ms: u64| usize::try_from(ms.saturating_mul(per_ms)).unwrap_or(usize::MAX);
    turns
        .iter()
        .enumerate()
        .map(|(i, turn)| {
            let previous_end = i
                .checked_sub(1)
                .and_then(|p| turns.get(p))
                .map_or(0, |t| t.end_ms);
            let next_start = turns.get(i + 1).map_or(u64::MAX, |t| t.start_ms);
            let room_before = turn.start_ms.saturating_sub(previous_end) / 2;
            let room_after = next_start.saturating_sub(turn.end_ms) / 2;
            let start = turn
                .start_ms
                .saturating_sub(TURN_PADDING_MS.min(room_before));
            let end = turn.end_ms.saturating_add(TURN_PADDING_MS.min(room_after));
            let start = to_sample(start).min(total_samples);
            start..to_sample(end).clamp(start, total_samples)
        })
        .collect()
}

/// What [`transcribe_turns`] heard.
#[derive(Debug, Clone)]
pub struct TurnsTranscript {
    /// The turns' texts, in order, joined by spaces.
    pub text: String,
    /// The language (detected on the first turn, or the one asked for).
    pub language: String,
    /// The turns' confidences, weighted by their lengths.
    pub confidence: f32,
    /// The model that transcribed.
    pub model: ModelId,
    /// The turns in which something was said.
    pub speakers: Vec<SpeakerSegment>,
}

/// Transcribes each turn (see the module documentation); turns in which nothing was said
/// are left out.
pub async fn transcribe_turns(
    state: &SpeechState,
    pcm: &[f32],
    turns: &[SpeakerTurn],
    request: &SttRequest,
) -> Result<TurnsTranscript, ApiError> {
    let model = resolve_model(state, request.model, request.language.as_deref())?;
    let mut request = SttRequest {
        model: ModelChoice::Id(model),
        ..request.clone()
    };
    let mut speakers = Vec::new();
    let (mut weighted, mut weight) = (0.0f64, 0.0f64);
    // One turn at a time: a long conversation must not fill the shared queue by itself.
    for (turn, range) in turns.iter().zip(turn_ranges(turns, pcm.len())) {
        let audio = pcm.get(range).unwrap_or_default().to_vec();
        let seconds = audio.len() as f64 / f64::from(STT_RATE);
        let heard = transcribe(state, audio, &request).await?.transcript;
        if request.language.is_none() {
            request.language = Some(heard.language.clone());
        }
        if heard.text.trim().is_empty() {
            continue;
        }
        weighted += f64::from(heard.confidence) * seconds;
        weight += seconds;
        speakers.push(SpeakerSegment {
            speaker: format!("Speaker-{}", turn.speaker + 1),
            text: heard.text.trim().to_owned(),
            confidence: heard.confidence,
            offset_ms: turn.start_ms,
            duration_ms: turn.end_ms.saturating_sub(turn.start_ms),
        });
    }
    Ok(TurnsTranscript {
        text: speakers
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        language: request.language.unwrap_or_else(|| "en".to_owned()),
        confidence: if weight > 0.0 {
            (weighted / weight) as f32
        } else {
            0.0
        },
        model,
        speakers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: usize, start_ms: u64, end_ms: u64) -> SpeakerTurn {
        SpeakerTurn {
            speaker,
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn turns_are_padded_into_silence_only() {
        // 16 samples per ms; 10 s of audio.
        let total = 160_000;
        let turns = [turn(0, 50, 3000), turn(1, 3000, 6000), turn(0, 6100, 9950)];
        let r = turn_ranges(&turns, total);
        // Before the first turn: only 50 ms of silence, half of it usable.
        assert_eq!(r[0].start, 25 * 16);
        // Abutting turns get no padding between them.
        assert_eq!(r[0].end, 3000 * 16);
        assert_eq!(r[1].start, 3000 * 16);
        // A 100 ms pause: 50 ms each side.
        assert_eq!(r[1].end, 6050 * 16);
        assert_eq!(r[2].start, 6050 * 16);
        // The end is clamped to the audio.
        assert_eq!(r[2].end, total);
        assert!(turn_ranges(&[turn(0, 20_000, 30_000)], total)[0].is_empty());
    }
}
