//! Frontends: what a producer sends, turned into the 16 kHz mono `f32` the recognizer takes.
//! They run on the recognition thread, so codec work never lands on the async runtime.

use mka1_media::opus::{MAX_PACKET_SAMPLES, OPUS_SAMPLE_RATE};
use mka1_media::{MediaError, OpusDecoder, StreamResampler};

use crate::engine::SAMPLE_RATE;

/// Why one input could not be converted. Only that input is lost; the stream goes on.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A message that should hold one Opus packet does not.
    #[error("invalid Opus packet: {0}")]
    InvalidPacket(#[source] MediaError),
    /// The decoder or resampler failed.
    #[error("audio conversion failed: {0}")]
    Conversion(#[source] MediaError),
}

/// One message of input, weighed against a stream's queue budget.
pub trait AudioInput: Send + 'static {
    /// Bytes this input occupies while it waits in the queue.
    fn queued_bytes(&self) -> usize;
}

impl AudioInput for Vec<u8> {
    fn queued_bytes(&self) -> usize {
        self.len()
    }
}

impl AudioInput for Vec<f32> {
    fn queued_bytes(&self) -> usize {
        std::mem::size_of_val(self.as_slice())
    }
}

/// Converts one kind of input into 16 kHz mono samples.
pub trait AudioFrontend: Send + 'static {
    /// What the producer sends.
    type Input: AudioInput;

    /// Appends the samples of `input` to `out`.
    fn convert(&mut self, input: Self::Input, out: &mut Vec<f32>) -> Result<(), InputError>;

    /// End of input: appends whatever is still buffered.
    fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), InputError>;
}

/// Input that already is 16 kHz mono `f32`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pcm16k;

impl AudioFrontend for Pcm16k {
    type Input = Vec<f32>;

    fn convert(&mut self, input: Vec<f32>, out: &mut Vec<f32>) -> Result<(), InputError> {
        out.extend_from_slice(&input);
        Ok(())
    }

    fn flush(&mut self, _out: &mut Vec<f32>) -> Result<(), InputError> {
        Ok(())
    }
}

/// Encoded audio a client sends, one network message at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioEncoding {
    /// Signed 16-bit little-endian mono PCM at this rate; messages may split samples (an
    /// odd byte waits for the next message).
    PcmS16le {
        /// Samples per second.
        sample_rate: u32,
    },
    /// One Opus packet per message (any duration; decoded at 48 kHz, mono).
    Opus,
}

/// Decodes [`AudioEncoding`] messages and resamples them to 16 kHz, keeping the output
/// aligned with the input timeline (the resampler's delay is dropped).
pub struct EncodedAudio {
    encoding: AudioEncoding,
    opus: Option<OpusDecoder>,
    resampler: StreamResampler,
    /// Output samples still to drop to cancel the resampler's delay.
    skip: usize,
    /// The odd byte of a PCM message, waiting for its other half.
    carry: Option<u8>,
    /// Decoded samples at the input rate.
    scratch: Vec<f32>,
    /// Resampled samples before the delay is cut off.
    resampled: Vec<f32>,
}

impl std::fmt::Debug for EncodedAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedAudio")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl EncodedAudio {
    /// A frontend for `encoding`; fails for a sample rate the resampler cannot take.
    pub fn new(encoding: AudioEncoding) -> Result<Self, InputError> {
        let (rate, opus) = match encoding {
            AudioEncoding::PcmS16le { sample_rate } => (sample_rate, None),
            AudioEncoding::Opus => (
                OPUS_SAMPLE_RATE,
                Some(OpusDecoder::new().map_err(InputError::Conversion)?),
            ),
        };
        let resampler = StreamResampler::new(rate, SAMPLE_RATE).map_err(InputError::Conversion)?;
        Ok(Self {
            encoding,
            opus,
            skip: resampler.delay(),
            resampler,
            carry: None,
            scratch: Vec::new(),
            resampled: Vec::new(),
        })
    }

    /// The encoding this frontend decodes.
    pub fn encoding(&self) -> AudioEncoding {
        self.encoding
    }

    fn decode(&mut self, message: &[u8]) -> Result<(), InputError> {
        self.scratch.clear();
        match &mut self.opus {
            Some(decoder) => {
                self.scratch.resize(MAX_PACKET_SAMPLES, 0.0);
                let n = decoder
                    .decode(message, &mut self.scratch)
                    .map_err(|e| match e {
                        MediaError::InvalidOpusPacket { .. } => InputError::InvalidPacket(e),
                        other => InputError::Conversion(other),
                    })?;
                self.scratch.truncate(n);
            }
            None => {
                let mut bytes = message;
                if let (Some(low), Some((&high, rest))) = (self.carry, bytes.split_first()) {
                    self.scratch.push(pcm_sample(low, high));
                    self.carry = None;
                    bytes = rest;
                }
                let pairs = bytes.chunks_exact(2);
                let odd = pairs.remainder().first().copied();
                self.scratch
                    .extend(pairs.map(|pair| pcm_sample(pair[0], pair[1])));
                if odd.is_some() {
                    self.carry = odd;
                }
            }
        }
        Ok(())
    }

    /// Moves resampled audio to `out`, minus the part that only holds the filter delay.
    fn emit(&mut self, out: &mut Vec<f32>) {
        let drop = self.skip.min(self.resampled.len());
        self.skip -= drop;
        out.extend_from_slice(self.resampled.get(drop..).unwrap_or(&[]));
        self.resampled.clear();
    }
}

impl AudioFrontend for EncodedAudio {
    type Input = Vec<u8>;

    fn convert(&mut self, input: Vec<u8>, out: &mut Vec<f32>) -> Result<(), InputError> {
        self.decode(&input)?;
        self.resampler
            .process(&self.scratch, &mut self.resampled)
            .map_err(InputError::Conversion)?;
        self.emit(out);
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), InputError> {
        self.carry = None;
        self.resampler
            .flush(&mut self.resampled)
            .map_err(InputError::Conversion)?;
        self.emit(out);
        self.skip = self.resampler.delay();
        Ok(())
    }
}

fn pcm_sample(low: u8, high: u8) -> f32 {
    f32::from(i16::from_le_bytes([low, high])) / 32_768.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mka1_media::OpusEncoder;
    use mka1_media::opus::{FRAME_SAMPLES, MAX_PACKET_BYTES};

    fn convert_all(frontend: &mut EncodedAudio, messages: &[Vec<u8>]) -> Vec<f32> {
        let mut out = Vec::new();
        for m in messages {
            frontend.convert(m.clone(), &mut out).unwrap();
        }
        frontend.flush(&mut out).unwrap();
        out
    }

    #[test]
    fn pcm_split_at_odd_bytes_decodes_the_same() {
        let samples: Vec<i16> = (0..3_200)
            .map(|i| ((i * 37) % 20_000 - 10_000) as i16)
            .collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let encoding = AudioEncoding::PcmS16le {
            sample_rate: 16_000,
        };
        let pieces: Vec<Vec<u8>> = bytes.chunks(333).map(<[u8]>::to_vec).collect();
        let whole = convert_all(&mut EncodedAudio::new(encoding).unwrap(), &[bytes]);
        let split = convert_all(&mut EncodedAudio::new(encoding).unwrap(), &pieces);
        assert_eq!(whole.len(), samples.len());
        assert_eq!(whole, split);
        assert_eq!(whole[1], f32::from(samples[1]) / 32_768.0);
    }

    #[test]
    fn pcm_is_resampled_to_16k_on_the_input_timeline() {
        // One second at 48 kHz becomes one second at 16 kHz, delay removed.
        let bytes = vec![0u8; 2 * 48_000];
        let encoding = AudioEncoding::PcmS16le {
            sample_rate: 48_000,
        };
        let out = convert_all(&mut EncodedAudio::new(encoding).unwrap(), &[bytes]);
        assert_eq!(out.len(), 16_000);
        assert!(
            EncodedAudio::new(AudioEncoding::PcmS16le { sample_rate: 0 }).is_err(),
            "a zero rate is refused"
        );
    }

    #[test]
    fn opus_packets_decode_and_garbage_is_an_input_error() {
        let mut encoder = OpusEncoder::new().unwrap();
        let tone: Vec<f32> = (0..FRAME_SAMPLES)
            .map(|i| (i as f32 * 0.05).sin() * 0.3)
            .collect();
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let packets: Vec<Vec<u8>> = (0..50)
            .map(|_| {
                let n = encoder.encode_frame(&tone, &mut packet).unwrap();
                packet[..n].to_vec()
            })
            .collect();
        let mut frontend = EncodedAudio::new(AudioEncoding::Opus).unwrap();
        let out = convert_all(&mut frontend, &packets);
        // 50 frames of 20 ms = 1 s at 16 kHz.
        assert_eq!(out.len(), 16_000);
        let mut sink = Vec::new();
        assert!(matches!(
            frontend.convert(vec![], &mut sink),
            Err(InputError::InvalidPacket(_))
        ));
        // A TOC byte announcing frames that are not there.
        assert!(frontend.convert(vec![0xff, 0xff], &mut sink).is_err());
        // And the stream goes on.
        frontend.convert(packets[0].clone(), &mut sink).unwrap();
    }
}
