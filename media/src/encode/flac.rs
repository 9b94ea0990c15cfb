//! FLAC (16-bit mono) with the pure-Rust `flacenc` encoder.

use flacenc::component::BitRepr;
use flacenc::error::Verify;

use super::StreamEncoder;
use crate::MediaError;

/// A complete FLAC file of 16-bit mono samples.
pub fn encode_flac(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, MediaError> {
    let err = |reason: String| MediaError::Encode { reason };
    let ints: Vec<i32> = samples
        .iter()
        .map(|&s| {
            let s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
            i32::from((s * 32767.0).round() as i16)
        })
        .collect();
    let rate = usize::try_from(sample_rate).map_err(|e| err(e.to_string()))?;
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| err(format!("FLAC config: {e:?}")))?;
    let source = flacenc::source::MemSource::from_samples(&ints, 1, 16, rate);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| err(format!("FLAC: {e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| err(format!("FLAC: {e:?}")))?;
    let mut bytes = sink.as_slice().to_vec();
    fix_min_block_size(&mut bytes);
    Ok(bytes)
}

/// FLAC's STREAMINFO minimum block size excludes the last block; flacenc counts it, which
/// makes a fixed-block-size stream look variable to strict decoders (symphonia refuses
/// it). Every block but the last has the maximum size, so that is the minimum.
fn fix_min_block_size(bytes: &mut [u8]) {
    // "fLaC", a 4-byte metadata block header, then STREAMINFO: min (u16), max (u16).
    if bytes.len() >= 12 && bytes.starts_with(b"fLaC") && bytes[4] & 0x7F == 0 {
        let (head, tail) = bytes.split_at_mut(10);
        head[8..10].copy_from_slice(&tail[..2]);
    }
}

/// FLAC for the streaming interface. The stream header carries the total length and
/// checksum, so this encoder buffers and writes everything at `finish`.
#[derive(Debug, Clone)]
pub struct FlacStreamEncoder {
    sample_rate: u32,
    buffered: Vec<f32>,
}

impl FlacStreamEncoder {
    /// A stream at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            buffered: Vec::new(),
        }
    }
}

impl StreamEncoder for FlacStreamEncoder {
    fn push(&mut self, samples: &[f32], _out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.buffered.extend_from_slice(samples);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        out.extend(encode_flac(
            &std::mem::take(&mut self.buffered),
            self.sample_rate,
        )?);
        Ok(())
    }
}
