//! Encoders for what the server sends: WAV (whole or of unknown length, for streams),
//! raw PCM, MP3 (system LAME, dynamically linked) and FLAC.
//!
//! Every encoder takes mono f32 samples in [-1, 1] at the rate it was created with and
//! appends bytes to a caller buffer, so a streaming response can forward each chunk the
//! moment it exists.

mod flac;
mod mp3;
mod pcm;
mod wav;

pub use flac::{FlacStreamEncoder, encode_flac};
pub use mp3::Mp3StreamEncoder;
pub use pcm::{PcmStreamEncoder, f32_to_s16le};
pub use wav::{WavStreamEncoder, encode_wav};

use crate::MediaError;

/// An output audio format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioFormat {
    /// RIFF WAV, 16-bit PCM.
    Wav,
    /// Raw signed 16-bit little-endian PCM, no header.
    Pcm,
    /// MPEG-1/2 Layer III, constant bitrate.
    Mp3,
    /// FLAC, 16-bit.
    Flac,
}

impl AudioFormat {
    /// The HTTP content type of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Pcm => "audio/pcm",
            Self::Mp3 => "audio/mpeg",
            Self::Flac => "audio/flac",
        }
    }
}

/// Turns a stream of mono f32 chunks into the bytes of one format.
pub trait StreamEncoder: Send {
    /// Encodes a chunk, appending whatever bytes are ready.
    fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError>;
    /// Ends the stream, appending the remaining bytes.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MediaError>;
}

/// A streaming encoder for `format` at `sample_rate`; MP3 uses `mp3_kbps`.
pub fn stream_encoder(
    format: AudioFormat,
    sample_rate: u32,
    mp3_kbps: u32,
) -> Result<Box<dyn StreamEncoder>, MediaError> {
    Ok(match format {
        AudioFormat::Wav => Box::new(WavStreamEncoder::new(sample_rate)),
        AudioFormat::Pcm => Box::new(PcmStreamEncoder),
        AudioFormat::Mp3 => Box::new(Mp3StreamEncoder::new(sample_rate, mp3_kbps)?),
        AudioFormat::Flac => Box::new(FlacStreamEncoder::new(sample_rate)),
    })
}

/// Encodes a whole buffer in one format.
pub fn encode_all(
    format: AudioFormat,
    samples: &[f32],
    sample_rate: u32,
    mp3_kbps: u32,
) -> Result<Vec<u8>, MediaError> {
    match format {
        AudioFormat::Wav => Ok(encode_wav(samples, sample_rate)),
        AudioFormat::Flac => encode_flac(samples, sample_rate),
        _ => {
            let mut enc = stream_encoder(format, sample_rate, mp3_kbps)?;
            let mut out = Vec::new();
            enc.push(samples, &mut out)?;
            enc.finish(&mut out)?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests;
