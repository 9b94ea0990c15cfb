//! MP3 through the system LAME (see the `mka1-lame` crate for why it is linked that way).

use mka1_lame::Mp3Encoder;

use super::StreamEncoder;
use crate::MediaError;

/// Constant-bitrate mono MP3, streamed (no VBR header, so nothing needs rewriting).
#[derive(Debug)]
pub struct Mp3StreamEncoder {
    inner: Mp3Encoder,
}

impl Mp3StreamEncoder {
    /// Mono at `sample_rate` (MPEG rates: 8–48 kHz) and `kbps`.
    pub fn new(sample_rate: u32, kbps: u32) -> Result<Self, MediaError> {
        let inner = Mp3Encoder::new(sample_rate, 1, kbps).map_err(|e| MediaError::Encode {
            reason: e.to_string(),
        })?;
        Ok(Self { inner })
    }
}

impl StreamEncoder for Mp3StreamEncoder {
    fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        // LAME takes at most i32::MAX samples per call; chunk defensively.
        for chunk in samples.chunks(1 << 20) {
            self.inner
                .encode(chunk, out)
                .map_err(|e| MediaError::Encode {
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.inner.flush(out).map_err(|e| MediaError::Encode {
            reason: e.to_string(),
        })
    }
}
