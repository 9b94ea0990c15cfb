//! Audio media for mka1-voice: everything audio that the REST API and the voice agent
//! share.
//!
//! - [`decode_to_mono`]: any upload to mono `f32` at the rate the consumer needs. The
//!   container is detected from the bytes (WAV, FLAC, MP3, Ogg Vorbis, Ogg Opus, WebM /
//!   Matroska Opus, MP4/M4A AAC, AIFF, CAF, ADTS through symphonia; Opus through libopus),
//!   with gapless trimming (Opus pre-skip, MP4 edit lists, WebM discard padding).
//!   Headerless PCM has no signature, so it is only accepted when the caller says so with
//!   [`PcmHint::RawS16le`].
//! - [`resample`] for whole buffers and [`StreamResampler`] for real-time chunks (no
//!   allocation per chunk).
//! - [`OpusEncoder`] / [`OpusDecoder`] (48 kHz mono 20 ms frames, in-band FEC) and
//!   [`OggOpusWriter`]; [`encode`] for WAV (also of unknown length), raw PCM, MP3 (system
//!   LAME, dynamically linked) and FLAC.
//! - [`vad`]: Silero VAD v6 through ONNX Runtime and a speech segment tracker.
//!
//! Hostile input is expected: no byte string makes these functions panic, a decoded
//! duration limit ([`DecodeLimits`]) bounds memory, and a truncated file yields the audio
//! before the damage with [`DecodedAudio::truncated`] set.
//!
//! ```
//! use mka1_media::{PcmHint, decode_to_mono};
//!
//! // 100 ms of 16 kHz silence as raw s16le, resampled to 8 kHz.
//! let pcm = [0u8; 3200];
//! let audio = decode_to_mono(&pcm, PcmHint::RawS16le { sample_rate: 16_000 }, 8_000)?;
//! assert_eq!(audio.samples.len(), 800);
//! # Ok::<(), mka1_media::MediaError>(())
//! ```

#![forbid(unsafe_code)]

pub mod decode;
pub mod encode;
pub mod error;
pub mod ogg_opus;
pub mod onnx_runtime;
pub mod opus;
pub mod resample;
pub mod stream_resample;
pub mod vad;

pub use crate::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
pub use decode::{
    Container, DecodeLimits, DecodedAudio, PcmHint, decode_to_mono, decode_to_mono_with_limits,
};
pub use error::MediaError;
pub use ogg_opus::{OggOpusWriter, encode_ogg_opus};
pub use onnx_runtime::{OnnxRuntimeError, onnx_environment};
pub use resample::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, resample};
pub use stream_resample::StreamResampler;
pub use vad::{
    Segment, SegmentConfig, SegmentTracker, SileroVad, VadError, VadEvent, VadStream,
    detect_segments,
};

/// Test signals and their analysis, shared by the modules' tests.
#[cfg(test)]
pub(crate) mod test_signal {
    use std::f64::consts::TAU;

    /// `len` samples of a sine of `freq` Hz at `rate` Hz, starting at phase zero.
    pub(crate) fn sine(freq: f64, rate: u32, len: usize, amplitude: f32) -> Vec<f32> {
        (0..len)
            .map(|i| amplitude * (TAU * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    /// Power of `samples` at `freq` Hz (Goertzel).
    pub(crate) fn goertzel_power(samples: &[f32], rate: u32, freq: f64) -> f64 {
        let coeff = 2.0 * (TAU * freq / f64::from(rate)).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    }

    /// The candidate frequency with the most power in `samples`.
    pub(crate) fn dominant_of(samples: &[f32], rate: u32, candidates: &[f64]) -> f64 {
        candidates
            .iter()
            .copied()
            .map(|freq| (freq, goertzel_power(samples, rate, freq)))
            .fold(
                (0.0, f64::MIN),
                |best, next| if next.1 > best.1 { next } else { best },
            )
            .0
    }

    /// A deterministic xorshift64 generator, so failures replay exactly.
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A value in `0..bound` (`bound` > 0).
        pub(crate) fn below(&mut self, bound: usize) -> usize {
            (self.next_u64() % bound as u64) as usize
        }
    }
}
