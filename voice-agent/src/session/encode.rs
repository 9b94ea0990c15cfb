//! The agent's voice on the wire: 24 kHz synthesis → 48 kHz → 20 ms Opus packets.

use bytes::Bytes;
use mka1_media::opus::{FRAME_SAMPLES, MAX_PACKET_BYTES, OPUS_SAMPLE_RATE};
use mka1_media::{MediaError, OpusEncoder, resample};

/// Encodes the clauses of one reply, in order, into 20 ms Opus packets. Blocking work:
/// run it off the async runtime.
pub(crate) struct ClauseEncoder {
    encoder: OpusEncoder,
    /// 48 kHz samples that do not fill a frame yet; they lead the next clause.
    carry: Vec<f32>,
    scratch: Vec<u8>,
}

impl ClauseEncoder {
    pub(crate) fn new() -> Result<Self, MediaError> {
        Ok(Self {
            encoder: OpusEncoder::new()?,
            carry: Vec::with_capacity(FRAME_SAMPLES),
            scratch: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// The packets of one clause of `rate` Hz audio. The last clause of a reply is padded
    /// with silence to a whole frame; other clauses leave their tail for the next one.
    pub(crate) fn encode(
        &mut self,
        samples: &[f32],
        rate: u32,
        last: bool,
    ) -> Result<Vec<Bytes>, MediaError> {
        // Each clause is resampled whole: clauses meet at the pauses between them.
        let mut audio = std::mem::take(&mut self.carry);
        audio.extend(resample(samples, rate, OPUS_SAMPLE_RATE)?);
        if last && !audio.len().is_multiple_of(FRAME_SAMPLES) {
            audio.resize(audio.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0.0);
        }
        let mut packets = Vec::with_capacity(audio.len() / FRAME_SAMPLES);
        let mut frames = audio.chunks_exact(FRAME_SAMPLES);
        for frame in &mut frames {
            let len = self.encoder.encode_frame(frame, &mut self.scratch)?;
            packets.push(Bytes::copy_from_slice(&self.scratch[..len]));
        }
        self.carry.extend_from_slice(frames.remainder());
        Ok(packets)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clauses_become_whole_frames_and_the_tail_is_padded() {
        let mut encoder = ClauseEncoder::new().unwrap();
        // 30 ms at 24 kHz = 1.5 frames: one packet now, the half frame waits.
        let tone: Vec<f32> = (0..720).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        assert_eq!(encoder.encode(&tone, 24_000, false).unwrap().len(), 1);
        // 30 ms more and the end: 1.5 + 1.5 = 3 frames in all.
        assert_eq!(encoder.encode(&tone, 24_000, true).unwrap().len(), 2);
        // The last clause alone: 10 ms is padded to one frame.
        assert_eq!(encoder.encode(&tone[..240], 24_000, true).unwrap().len(), 1);
    }
}
