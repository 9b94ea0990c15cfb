//! A minimal, safe MP3 encoder over the system's LAME library.
//!
//! LAME is LGPL-licensed: this crate links `libmp3lame.so` dynamically (never statically)
//! so the project's binary stays Apache-2.0 and users can swap the library. Only the few
//! calls the server needs are bound: constant-bitrate mono or stereo encoding of f32
//! samples, streamed chunk by chunk.
// The FFI boundary is the reason this crate exists; every unsafe block is a plain call
// into LAME with pointers and lengths taken from live Rust slices.
#![allow(unsafe_code)]

use std::os::raw::{c_float, c_int, c_uchar};
use std::ptr::NonNull;

#[repr(C)]
struct LameGlobalFlags {
    _private: [u8; 0],
}

// MPEG_mode from lame.h.
const MODE_MONO: c_int = 3;
const MODE_JOINT_STEREO: c_int = 1;

unsafe extern "C" {
    fn lame_init() -> *mut LameGlobalFlags;
    fn lame_close(gfp: *mut LameGlobalFlags) -> c_int;
    fn lame_set_in_samplerate(gfp: *mut LameGlobalFlags, rate: c_int) -> c_int;
    fn lame_set_out_samplerate(gfp: *mut LameGlobalFlags, rate: c_int) -> c_int;
    fn lame_set_num_channels(gfp: *mut LameGlobalFlags, channels: c_int) -> c_int;
    fn lame_set_mode(gfp: *mut LameGlobalFlags, mode: c_int) -> c_int;
    fn lame_set_brate(gfp: *mut LameGlobalFlags, kbps: c_int) -> c_int;
    fn lame_set_quality(gfp: *mut LameGlobalFlags, quality: c_int) -> c_int;
    fn lame_set_bWriteVbrTag(gfp: *mut LameGlobalFlags, write: c_int) -> c_int;
    fn lame_init_params(gfp: *mut LameGlobalFlags) -> c_int;
    fn lame_get_encoder_delay(gfp: *const LameGlobalFlags) -> c_int;
    fn lame_encode_buffer_ieee_float(
        gfp: *mut LameGlobalFlags,
        pcm_l: *const c_float,
        pcm_r: *const c_float,
        nsamples: c_int,
        mp3buf: *mut c_uchar,
        mp3buf_size: c_int,
    ) -> c_int;
    fn lame_encode_buffer_interleaved_ieee_float(
        gfp: *mut LameGlobalFlags,
        pcm: *const c_float,
        nsamples: c_int,
        mp3buf: *mut c_uchar,
        mp3buf_size: c_int,
    ) -> c_int;
    fn lame_encode_flush(gfp: *mut LameGlobalFlags, mp3buf: *mut c_uchar, size: c_int) -> c_int;
}

/// Why LAME refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LameError {
    /// `lame_init` returned null (out of memory).
    #[error("LAME could not allocate an encoder")]
    Init,
    /// The parameters were rejected by `lame_init_params`.
    #[error("LAME rejected the parameters ({sample_rate} Hz, {channels} ch, {kbps} kbps)")]
    Params {
        /// Input and output rate.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
        /// Bitrate.
        kbps: u32,
    },
    /// Encoding failed with LAME's error code.
    #[error("LAME encoding failed (code {0})")]
    Encode(i32),
    /// The chunk is larger than LAME's C interface can take at once.
    #[error("chunk too large for one LAME call")]
    ChunkTooLarge,
}

/// A constant-bitrate MP3 encoder, fed f32 samples in [-1, 1].
pub struct Mp3Encoder {
    gfp: NonNull<LameGlobalFlags>,
    channels: u16,
}

// LAME state is plain heap memory owned by this value; it is used from one thread at a
// time (methods take &mut self), so moving it between threads is sound.
unsafe impl Send for Mp3Encoder {}

impl std::fmt::Debug for Mp3Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Encoder")
            .field("channels", &self.channels)
            .finish()
    }
}

impl Mp3Encoder {
    /// A CBR encoder; no Xing/VBR header is written, so the output can be streamed.
    pub fn new(sample_rate: u32, channels: u16, kbps: u32) -> Result<Self, LameError> {
        let params_err = LameError::Params {
            sample_rate,
            channels,
            kbps,
        };
        let (Ok(rate), Ok(rate_kbps)) = (c_int::try_from(sample_rate), c_int::try_from(kbps))
        else {
            return Err(params_err);
        };
        if !(1..=2).contains(&channels) || sample_rate == 0 || kbps == 0 {
            return Err(params_err);
        }
        // SAFETY: lame_init has no preconditions; a null result is handled.
        let gfp = NonNull::new(unsafe { lame_init() }).ok_or(LameError::Init)?;
        let enc = Self { gfp, channels };
        let p = gfp.as_ptr();
        // SAFETY: `p` is a live encoder from lame_init, not yet closed.
        let ok = unsafe {
            lame_set_in_samplerate(p, rate);
            lame_set_out_samplerate(p, rate);
            lame_set_num_channels(p, c_int::from(channels));
            lame_set_mode(
                p,
                if channels == 1 {
                    MODE_MONO
                } else {
                    MODE_JOINT_STEREO
                },
            );
            lame_set_brate(p, rate_kbps);
            lame_set_quality(p, 5);
            lame_set_bWriteVbrTag(p, 0);
            lame_init_params(p)
        };
        if ok < 0 {
            return Err(params_err);
        }
        Ok(enc)
    }

    /// Samples of encoder delay at the start of the stream (decoders without gapless
    /// information play this much extra silence).
    pub fn encoder_delay(&self) -> usize {
        // SAFETY: live encoder.
        usize::try_from(unsafe { lame_get_encoder_delay(self.gfp.as_ptr()) }).unwrap_or(0)
    }

    /// Encodes a chunk (interleaved when stereo) and appends the MP3 bytes produced so far.
    pub fn encode(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), LameError> {
        let frames = samples.len() / usize::from(self.channels);
        if frames == 0 {
            return Ok(());
        }
        // LAME's documented worst case: 1.25 × samples + 7200 bytes.
        let cap = frames + frames / 4 + 7200;
        let (Ok(n), Ok(cap_c)) = (c_int::try_from(frames), c_int::try_from(cap)) else {
            return Err(LameError::ChunkTooLarge);
        };
        let start = out.len();
        out.resize(start + cap, 0);
        let dst = out[start..].as_mut_ptr();
        let p = self.gfp.as_ptr();
        // SAFETY: the input slice holds `frames × channels` samples; `dst` has `cap` bytes.
        let written = unsafe {
            if self.channels == 1 {
                lame_encode_buffer_ieee_float(p, samples.as_ptr(), samples.as_ptr(), n, dst, cap_c)
            } else {
                lame_encode_buffer_interleaved_ieee_float(p, samples.as_ptr(), n, dst, cap_c)
            }
        };
        self.finish_write(out, start, written)
    }

    /// Flushes the last frames; the encoder must not be used afterwards.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), LameError> {
        let cap = 7200;
        let start = out.len();
        out.resize(start + cap, 0);
        // SAFETY: live encoder; `dst` has `cap` bytes.
        let written = unsafe {
            lame_encode_flush(self.gfp.as_ptr(), out[start..].as_mut_ptr(), cap as c_int)
        };
        self.finish_write(out, start, written)
    }

    fn finish_write(
        &self,
        out: &mut Vec<u8>,
        start: usize,
        written: c_int,
    ) -> Result<(), LameError> {
        match usize::try_from(written) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(LameError::Encode(written))
            }
        }
    }
}

impl Drop for Mp3Encoder {
    fn drop(&mut self) {
        // SAFETY: the encoder is closed exactly once, here.
        unsafe {
            lame_close(self.gfp.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_frames_with_mp3_sync_words() {
        let mut enc = Mp3Encoder::new(24_000, 1, 96).expect("encoder");
        let sine: Vec<f32> = (0..24_000)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 24_000.0).sin() * 0.5)
            .collect();
        let mut out = Vec::new();
        for chunk in sine.chunks(480) {
            enc.encode(chunk, &mut out).expect("encode");
        }
        enc.flush(&mut out).expect("flush");
        assert!(
            out.len() > 10_000,
            "1 s at 96 kbps is about 12 kB, got {}",
            out.len()
        );
        assert_eq!(out[0], 0xFF);
        assert_eq!(out[1] & 0xE0, 0xE0, "frame sync");
        assert!(enc.encoder_delay() > 0);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Mp3Encoder::new(24_000, 3, 96).is_err());
        assert!(Mp3Encoder::new(0, 1, 96).is_err());
    }
}
