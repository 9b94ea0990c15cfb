//! Speech recognition for mka1-voice.
//!
//! - [`convert`]: CTranslate2 Whisper weights (what registry packages ship) → whisper.cpp ggml.
//! - [`registry`]: which Whisper models exist, where their files are, `model=auto` choice.
//! - [`engine`]: a loaded model shared across calls, transcribing 16 kHz mono f32.

pub mod convert;
pub mod diarize;
pub mod engine;
pub mod pool;
pub mod registry;
pub mod streaming;
pub mod wer;

pub use engine::{
    Cancel, DecodePath, Segment, SttError, TranscribeOptions, Transcript, WhisperModel, Word,
};
pub use pool::{JobStats, PoolConfig, PoolError, PoolStats, TranscriptionPool};
pub use registry::{ModelId, provision_ggml};
