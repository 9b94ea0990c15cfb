//! WAV: whole files with exact sizes, and streams whose length is unknown up front.

use super::StreamEncoder;
use super::pcm::f32_to_s16le;
use crate::MediaError;

/// A 44-byte mono 16-bit PCM header; `data_len = None` writes the "unknown length"
/// convention (0xFFFFFFFF sizes) that streaming players and decoders accept.
fn header(sample_rate: u32, data_len: Option<u32>) -> [u8; 44] {
    let mut h = [0u8; 44];
    let (riff, data) = match data_len {
        Some(n) => (n.saturating_add(36), n),
        None => (u32::MAX, u32::MAX),
    };
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&sample_rate.saturating_mul(2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// A complete mono 16-bit WAV file.
pub fn encode_wav(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).ok();
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(&header(sample_rate, data_len));
    f32_to_s16le(samples, &mut out);
    out
}

/// WAV for a stream: the header (unknown length) goes out with the first bytes.
#[derive(Debug, Clone)]
pub struct WavStreamEncoder {
    sample_rate: u32,
    header_sent: bool,
}

impl WavStreamEncoder {
    /// A stream at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            header_sent: false,
        }
    }

    fn ensure_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_sent {
            out.extend_from_slice(&header(self.sample_rate, None));
            self.header_sent = true;
        }
    }
}

impl StreamEncoder for WavStreamEncoder {
    fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.ensure_header(out);
        f32_to_s16le(samples, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        // An empty stream is still a valid (empty) WAV.
        self.ensure_header(out);
        Ok(())
    }
}
