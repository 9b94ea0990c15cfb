//! Raw 16-bit PCM.

use super::StreamEncoder;
use crate::MediaError;

/// Appends samples as s16le, clamping to full scale; NaN becomes silence.
pub fn f32_to_s16le(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for &s in samples {
        let s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
        out.extend_from_slice(&((s * 32767.0).round() as i16).to_le_bytes());
    }
}

/// Raw s16le with no header (the OpenAI-style `pcm` format).
#[derive(Debug, Default, Clone, Copy)]
pub struct PcmStreamEncoder;

impl StreamEncoder for PcmStreamEncoder {
    fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        f32_to_s16le(samples, out);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), MediaError> {
        Ok(())
    }
}
