//! Speech recognition for mka1-voice.
//!
//! - [`convert`]: CTranslate2 Whisper weights (what registry packages ship) → whisper.cpp ggml.
//! - [`registry`]: which Whisper models exist, where their files are, `model=auto` choice.
//! - [`engine`]: a loaded model shared across calls, transcribing 16 kHz mono f32.

pub mod convert;
pub mod engine;
pub mod registry;
pub mod wer;

pub use engine::{Segment, SttError, TranscribeOptions, Transcript, WhisperModel};
pub use registry::{ModelId, provision_ggml};
