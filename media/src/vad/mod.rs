//! Voice activity detection: Silero VAD v6 through ONNX Runtime, and the turn logic that
//! turns its per-window speech probabilities into speech start/end events.
//!
//! Three layers, each usable alone:
//! - [`SileroVad`] is the loaded model, one per process, cheap to clone and share across
//!   threads; [`VadStream`] is one audio stream's recurrent state and takes 16 kHz mono
//!   `f32` in chunks of any length, yielding one speech probability per 32 ms window.
//! - [`SegmentTracker`] is pure logic: probabilities in, [`VadEvent`]s out, with
//!   hysteresis, a minimum speech length, the turn-taking silence timeout and prefix
//!   padding ([`SegmentConfig`]).
//! - [`SoundEndMeter`] finds where audible sound last ended, to within 4 ms, so the
//!   tracker can count the end-of-turn silence from the end of the voice rather than from
//!   the end of the model's last voiced window ([`SegmentTracker::push_measured`]).
//! - [`detect_segments`] runs both over a whole buffer (REST uploads, diarization).
//!
//! Inference is synchronous and CPU-bound (one intra-op thread per call, so concurrent
//! streams do not fight over cores): run it on a dedicated thread, never on the async
//! runtime.
//!
//! ```no_run
//! use mka1_media::vad::{SegmentConfig, SegmentTracker, SileroVad};
//!
//! let vad = SileroVad::from_env()?;
//! let mut stream = vad.stream();
//! let mut tracker = SegmentTracker::new(SegmentConfig::default().with_min_silence_ms(800));
//! let mut probabilities = Vec::new();
//! # let chunk_of_16k_audio = vec![0.0f32; 320];
//! stream.push(&chunk_of_16k_audio, &mut probabilities)?;
//! for p in probabilities.drain(..) {
//!     if let Some(event) = tracker.push(p) {
//!         println!("{event:?}");
//!     }
//! }
//! # Ok::<(), mka1_media::vad::VadError>(())
//! ```

mod level;
mod segments;
mod silero;

use std::path::PathBuf;

pub use crate::onnx_runtime::onnx_environment;
pub use level::SoundEndMeter;
pub use segments::{MAX_HANGOVER_MS, Segment, SegmentConfig, SegmentTracker, VadEvent};
pub use silero::{SileroVad, VadStream};

/// The only sample rate the VAD accepts (resample other audio first).
pub const SAMPLE_RATE: u32 = 16_000;
/// New samples the model consumes per call: one probability per 32 ms window.
pub const WINDOW_SAMPLES: usize = 512;
/// Samples of the previous window the model sees again at the start of each call.
pub const CONTEXT_SAMPLES: usize = 64;
/// Duration of one window in milliseconds.
pub const WINDOW_MS: u32 = 32;

/// Why the VAD could not be loaded or run.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    /// The ONNX Runtime shared library is not where provisioning puts it.
    #[error(
        "the ONNX Runtime library is missing at {}: run `mka1-voice models install`",
        path.display()
    )]
    RuntimeMissing {
        /// Where the library was looked for.
        path: PathBuf,
    },
    /// The library exists but could not be loaded (wrong file, wrong version, wrong arch).
    #[error("the ONNX Runtime library at {} could not be loaded: {reason}", path.display())]
    RuntimeLoad {
        /// The library that failed.
        path: PathBuf,
        /// What the loader reported.
        reason: String,
    },
    /// The Silero VAD model file is not where provisioning puts it.
    #[error(
        "the Silero VAD model is missing at {}: run `mka1-voice models install`",
        path.display()
    )]
    ModelMissing {
        /// Where the model was looked for.
        path: PathBuf,
    },
    /// The model file exists but is not a loadable Silero VAD v5/v6 model.
    #[error("the Silero VAD model at {} could not be loaded: {reason}", path.display())]
    ModelLoad {
        /// The model that failed.
        path: PathBuf,
        /// What ONNX Runtime reported, or which input/output was unexpected.
        reason: String,
    },
    /// No models directory could be determined (no `MKA1_MODELS_DIR` and no home cache).
    #[error("no models directory: {reason}")]
    NoModelsDir {
        /// What provisioning reported.
        reason: String,
    },
    /// ONNX Runtime failed while running the model.
    #[error("VAD inference failed: {reason}")]
    Inference {
        /// What ONNX Runtime reported.
        reason: String,
    },
}

impl From<crate::onnx_runtime::OnnxRuntimeError> for VadError {
    fn from(error: crate::onnx_runtime::OnnxRuntimeError) -> Self {
        use crate::onnx_runtime::OnnxRuntimeError;
        match error {
            OnnxRuntimeError::Missing { path } => Self::RuntimeMissing { path },
            OnnxRuntimeError::Load { path, reason } => Self::RuntimeLoad { path, reason },
        }
    }
}

/// Speech segments of a whole 16 kHz mono buffer, as the streaming path would find them.
///
/// The last partial window is zero-padded (as Silero's own `get_speech_timestamps` does) and
/// speech still open at the end of the buffer ends at its last voiced window.
pub fn detect_segments(
    vad: &SileroVad,
    samples_16k: &[f32],
    config: &SegmentConfig,
) -> Result<Vec<Segment>, VadError> {
    let mut stream = vad.stream();
    let mut probabilities = Vec::with_capacity(samples_16k.len() / WINDOW_SAMPLES + 1);
    stream.push(samples_16k, &mut probabilities)?;
    stream.flush(&mut probabilities)?;
    Ok(segments_from_probabilities(&probabilities, config))
}

/// Speech segments from a sequence of per-window probabilities (no model needed).
pub fn segments_from_probabilities(probabilities: &[f32], config: &SegmentConfig) -> Vec<Segment> {
    let mut tracker = SegmentTracker::new(*config);
    let mut events: Vec<VadEvent> = probabilities
        .iter()
        .filter_map(|&p| tracker.push(p))
        .collect();
    events.extend(tracker.finish());
    events
        .into_iter()
        .filter_map(|event| match event {
            VadEvent::SpeechEnd {
                start_sample,
                end_sample,
                ..
            } => Some(Segment::from_samples(start_sample, end_sample)),
            _ => None,
        })
        .collect()
}
