//! Opus for the real-time path: 20 ms mono frames at 48 kHz, what WebRTC carries.
//!
//! [`OpusEncoder`] is set up for speech over lossy networks: VoIP mode, in-band forward error
//! correction (FEC) and an expected loss rate, so that each packet also carries a coarse copy
//! of the frame before it. [`OpusDecoder`] decodes packets, conceals a lost one
//! ([`OpusDecoder::decode_lost`]) or recovers it from the FEC copy in the packet that follows
//! ([`OpusDecoder::decode_fec`]). Neither allocates per frame.
//!
//! Packets come from the network and from uploads, so their bytes are untrusted: a malformed
//! packet is a [`MediaError::InvalidOpusPacket`], never a panic.
//!
//! ```
//! use mka1_media::opus::{FRAME_SAMPLES, MAX_PACKET_BYTES, OpusDecoder, OpusEncoder};
//!
//! let mut encoder = OpusEncoder::new()?;
//! let mut decoder = OpusDecoder::new()?;
//! let mut packet = [0u8; MAX_PACKET_BYTES];
//! let mut pcm = [0.0f32; FRAME_SAMPLES];
//! let len = encoder.encode_frame(&[0.0; FRAME_SAMPLES], &mut packet)?;
//! assert_eq!(decoder.decode(&packet[..len], &mut pcm)?, FRAME_SAMPLES);
//! # Ok::<(), mka1_media::MediaError>(())
//! ```

mod head;
pub(crate) mod track;

use ::opus::{Application, Bitrate, Channels, ErrorCode};

use crate::error::MediaError;

pub(crate) use head::{ByteOrder, OpusHead};

/// The rate Opus always decodes to here, and the rate of every Opus timestamp.
pub const OPUS_SAMPLE_RATE: u32 = 48_000;

/// Samples in one 20 ms frame at 48 kHz: what [`OpusEncoder::encode_frame`] takes.
pub const FRAME_SAMPLES: usize = 960;

/// The most samples one Opus packet can hold (120 ms), so a decode buffer of this length
/// always suffices.
pub const MAX_PACKET_SAMPLES: usize = 5_760;

/// The largest packet the encoder makes for one frame: a table-of-contents byte and the
/// 1275-byte frame limit of RFC 6716.
pub const MAX_PACKET_BYTES: usize = 1_276;

/// Longest packet accepted for decoding. Real packets stay far below; the cap keeps lengths
/// inside what libopus takes (a C `int`).
const MAX_INPUT_PACKET_BYTES: usize = 1 << 20;

/// Settings of an [`OpusEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Target bitrate in bits per second (libopus accepts 500..=512000).
    pub bitrate_bps: u32,
    /// The packet loss the encoder should expect, in percent (0..=100). Above zero, and with
    /// `fec` on, packets carry a copy of the previous frame sized for this much loss.
    pub expected_loss_percent: u8,
    /// Whether to put in-band forward error correction into the packets.
    pub fec: bool,
    /// libopus encoder complexity, 0..=10: CPU spent per frame for quality. A server
    /// encodes one stream per session on few cores, so the default (0) takes the fastest
    /// setting: ~4× the throughput of libopus' own default (10), with speech that
    /// transcribes identically (BENCHMARKS.md, "Opus complexity").
    pub complexity: u8,
}

impl OpusEncoderConfig {
    /// The default bitrate: clear wideband speech for 32 kbit/s.
    pub const DEFAULT_BITRATE_BPS: u32 = 32_000;
    /// The default expected loss: a mobile network on a bad day.
    pub const DEFAULT_EXPECTED_LOSS_PERCENT: u8 = 10;
    /// The default complexity (see BENCHMARKS.md for the speed of each setting).
    pub const DEFAULT_COMPLEXITY: u8 = 0;
}

impl Default for OpusEncoderConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: Self::DEFAULT_BITRATE_BPS,
            expected_loss_percent: Self::DEFAULT_EXPECTED_LOSS_PERCENT,
            fec: true,
            complexity: Self::DEFAULT_COMPLEXITY,
        }
    }
}

/// Encodes 48 kHz mono audio into Opus packets of one 20 ms frame each.
pub struct OpusEncoder {
    inner: ::opus::Encoder,
    config: OpusEncoderConfig,
    lookahead: usize,
    /// The frame as handed to libopus, after non-finite and out-of-range samples are fixed.
    frame: [f32; FRAME_SAMPLES],
}

impl OpusEncoder {
    /// An encoder with the default [`OpusEncoderConfig`].
    pub fn new() -> Result<Self, MediaError> {
        Self::with_config(OpusEncoderConfig::default())
    }

    /// An encoder with the given settings.
    pub fn with_config(config: OpusEncoderConfig) -> Result<Self, MediaError> {
        let mut inner = ::opus::Encoder::new(OPUS_SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(codec_error)?;
        let bitrate = i32::try_from(config.bitrate_bps).unwrap_or(i32::MAX);
        inner
            .set_bitrate(Bitrate::Bits(bitrate))
            .map_err(codec_error)?;
        inner.set_inband_fec(config.fec).map_err(codec_error)?;
        inner
            .set_complexity(i32::from(config.complexity.min(10)))
            .map_err(codec_error)?;
        inner
            .set_packet_loss_perc(i32::from(config.expected_loss_percent))
            .map_err(codec_error)?;
        let lookahead = inner.get_lookahead().map_err(codec_error)?;
        Ok(Self {
            inner,
            config,
            lookahead: usize::try_from(lookahead).unwrap_or(0),
            frame: [0.0; FRAME_SAMPLES],
        })
    }

    /// The settings this encoder was made with.
    pub fn config(&self) -> OpusEncoderConfig {
        self.config
    }

    /// The encoder's delay in samples at 48 kHz: decoded audio lags the input by this much.
    /// It is the pre-skip an Ogg Opus header announces.
    pub fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// Encodes one 20 ms frame of exactly [`FRAME_SAMPLES`] samples into `out` and returns
    /// the packet's length. `out` should hold [`MAX_PACKET_BYTES`]; a smaller one makes libopus
    /// squeeze the packet or fail. Samples beyond ±1 are clipped and non-finite ones silenced.
    pub fn encode_frame(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, MediaError> {
        if pcm.len() != FRAME_SAMPLES {
            return Err(MediaError::BufferSize {
                what: "Opus input frame",
                expected: FRAME_SAMPLES,
                actual: pcm.len(),
            });
        }
        for (dst, &sample) in self.frame.iter_mut().zip(pcm) {
            // Decoders clip at ±1 anyway, and huge or NaN input is not worth libopus's trouble.
            *dst = if sample.is_finite() {
                sample.clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        let room = out.len().min(MAX_PACKET_BYTES);
        let out = &mut out[..room];
        self.inner
            .encode_float(&self.frame, out)
            .map_err(codec_error)
    }

    /// Forgets the audio encoded so far, as for a new stream.
    pub fn reset(&mut self) -> Result<(), MediaError> {
        self.inner.reset_state().map_err(codec_error)
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("config", &self.config)
            .field("lookahead", &self.lookahead)
            .finish_non_exhaustive()
    }
}

/// Decodes Opus packets (mono or stereo) into 48 kHz mono, with loss concealment and FEC.
pub struct OpusDecoder {
    inner: ::opus::Decoder,
    /// Samples in the last packet decoded: a lost packet most likely had as many.
    last_packet_samples: usize,
}

impl OpusDecoder {
    /// A decoder for one stream.
    pub fn new() -> Result<Self, MediaError> {
        // A mono decoder mixes stereo packets down itself.
        let inner = ::opus::Decoder::new(OPUS_SAMPLE_RATE, Channels::Mono).map_err(codec_error)?;
        Ok(Self {
            inner,
            last_packet_samples: FRAME_SAMPLES,
        })
    }

    /// Decodes one packet into the start of `out` and returns the number of samples written.
    /// `out` must hold the packet's duration; [`MAX_PACKET_SAMPLES`] always does.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, MediaError> {
        let samples = packet_samples(packet)?;
        let out = output_slice(out, samples)?;
        let written = self
            .inner
            .decode_float(packet, out, false)
            .map_err(packet_error)?;
        self.last_packet_samples = written;
        Ok(written)
    }

    /// Fills in for one lost packet, assumed as long as the last one decoded, by concealment:
    /// libopus extrapolates from the audio before. Returns the number of samples written.
    pub fn decode_lost(&mut self, out: &mut [f32]) -> Result<usize, MediaError> {
        let out = output_slice(out, self.last_packet_samples)?;
        self.inner
            .decode_float(&[], out, false)
            .map_err(codec_error)
    }

    /// Recovers the packet lost just before `next_packet` from the FEC copy `next_packet`
    /// carries, and returns the number of samples written; without such a copy libopus falls
    /// back to concealment. Afterwards decode `next_packet` itself with [`Self::decode`].
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [f32]) -> Result<usize, MediaError> {
        // The FEC copy covers a stretch as long as the packet carrying it.
        let samples = packet_samples(next_packet)?;
        let out = output_slice(out, samples)?;
        self.inner
            .decode_float(next_packet, out, true)
            .map_err(packet_error)
    }

    /// Forgets the stream so far, as after a discontinuity.
    pub fn reset(&mut self) -> Result<(), MediaError> {
        self.last_packet_samples = FRAME_SAMPLES;
        self.inner.reset_state().map_err(codec_error)
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("last_packet_samples", &self.last_packet_samples)
            .finish_non_exhaustive()
    }
}

/// The duration of `packet` in samples at 48 kHz, read from its table of contents.
pub fn packet_samples(packet: &[u8]) -> Result<usize, MediaError> {
    if packet.is_empty() {
        return Err(MediaError::InvalidOpusPacket {
            reason: "the packet is empty",
        });
    }
    if packet.len() > MAX_INPUT_PACKET_BYTES {
        return Err(MediaError::InvalidOpusPacket {
            reason: "the packet is longer than any real one",
        });
    }
    match ::opus::packet::get_nb_samples(packet, OPUS_SAMPLE_RATE).map_err(packet_error)? {
        0 => Err(MediaError::InvalidOpusPacket {
            reason: "the packet holds no frames",
        }),
        samples => Ok(samples),
    }
}

fn output_slice(out: &mut [f32], samples: usize) -> Result<&mut [f32], MediaError> {
    let available = out.len();
    out.get_mut(..samples).ok_or(MediaError::BufferSize {
        what: "Opus output buffer",
        expected: samples,
        actual: available,
    })
}

/// A libopus error on packet data: the bytes were bad, or the call was.
fn packet_error(err: ::opus::Error) -> MediaError {
    match err.code() {
        ErrorCode::InvalidPacket => MediaError::InvalidOpusPacket {
            reason: err.description(),
        },
        _ => codec_error(err),
    }
}

pub(crate) fn codec_error(err: ::opus::Error) -> MediaError {
    MediaError::Opus {
        call: err.function(),
        reason: err.description(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_signal::{XorShift, dominant_of, goertzel_power, sine};

    /// Encodes `signal` (a whole number of frames) into packets.
    fn encode_all(encoder: &mut OpusEncoder, signal: &[f32]) -> Vec<Vec<u8>> {
        let mut packet = [0u8; MAX_PACKET_BYTES];
        signal
            .chunks_exact(FRAME_SAMPLES)
            .map(|frame| {
                let len = encoder.encode_frame(frame, &mut packet).unwrap();
                packet[..len].to_vec()
            })
            .collect()
    }

    fn rms(samples: &[f32]) -> f64 {
        let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        (sum / samples.len().max(1) as f64).sqrt()
    }

    fn rms_error(a: &[f32], b: &[f32]) -> f64 {
        let diff: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        rms(&diff)
    }

    #[test]
    fn codec_states_can_move_to_other_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<OpusEncoder>();
        assert_send::<OpusDecoder>();
        assert_send::<crate::OggOpusWriter>();
        assert_send::<crate::StreamResampler>();
    }

    #[test]
    fn encoder_reports_its_lookahead_and_settings() {
        let encoder = OpusEncoder::new().unwrap();
        // 2.5 ms of look-ahead and 4 ms of delay compensation in libopus's VoIP mode.
        assert_eq!(encoder.lookahead(), 312);
        assert_eq!(encoder.config(), OpusEncoderConfig::default());
    }

    #[test]
    fn wrong_frame_lengths_and_bad_settings_are_errors() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut packet = [0u8; MAX_PACKET_BYTES];
        for len in [0, 959, 961, 1920] {
            assert!(matches!(
                encoder.encode_frame(&vec![0.0; len], &mut packet),
                Err(MediaError::BufferSize { expected: 960, actual, .. }) if actual == len
            ));
        }
        for config in [
            OpusEncoderConfig {
                expected_loss_percent: 101,
                ..Default::default()
            },
            OpusEncoderConfig {
                bitrate_bps: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                OpusEncoder::with_config(config),
                Err(MediaError::Opus { .. })
            ));
        }
        let mut decoder = OpusDecoder::new().unwrap();
        let len = encoder
            .encode_frame(&[0.1; FRAME_SAMPLES], &mut packet)
            .unwrap();
        let mut short = [0.0f32; 480];
        assert!(matches!(
            decoder.decode(&packet[..len], &mut short),
            Err(MediaError::BufferSize {
                expected: 960,
                actual: 480,
                ..
            })
        ));
    }

    /// A 440 Hz tone keeps its pitch and level through the codec, once its delay is skipped.
    #[test]
    fn sine_survives_encode_and_decode() {
        let tone = sine(440.0, OPUS_SAMPLE_RATE, 50 * FRAME_SAMPLES, 0.5);
        let mut encoder = OpusEncoder::new().unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let packets = encode_all(&mut encoder, &tone);
        let mut decoded = Vec::new();
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        for packet in &packets {
            assert!(packet.len() < 200, "{} bytes at 32 kbit/s", packet.len());
            let n = decoder.decode(packet, &mut pcm).unwrap();
            assert_eq!(n, FRAME_SAMPLES);
            decoded.extend_from_slice(&pcm[..n]);
        }
        // The codec's delay is its look-ahead, to within a fraction of a millisecond (SILK's
        // resampling shifts it by a few samples): the best-matching lag lies close to it and
        // matches the waveform, not just the pitch.
        let delay = encoder.lookahead();
        let (skip, span) = (4800, 40 * FRAME_SAMPLES);
        let reference = &tone[skip..skip + span];
        let (best_lag, snr) = (delay - 12..=delay + 12)
            .map(|lag| {
                let shifted = &decoded[lag + skip..lag + skip + span];
                (lag, rms(reference) / rms_error(shifted, reference))
            })
            .fold(
                (0, 0.0),
                |best, next| if next.1 > best.1 { next } else { best },
            );
        assert!(best_lag.abs_diff(delay) <= 8, "best lag {best_lag}");
        assert!(snr > 10.0, "signal to error ratio {snr} at lag {best_lag}");
        let aligned = &decoded[delay + skip..delay + skip + span];
        let near = [400.0, 420.0, 440.0, 460.0, 480.0];
        assert_eq!(dominant_of(aligned, OPUS_SAMPLE_RATE, &near), 440.0);
        let level = rms(aligned) / rms(reference);
        assert!((0.9..1.1).contains(&level), "level ratio {level}");
    }

    /// Speech-like input (a tone with a rising pitch and changing level) with one packet lost:
    /// the FEC copy in the next packet restores it much better than silence, and concealment
    /// does better than silence too.
    #[test]
    fn fec_recovers_a_lost_packet() {
        let frames = 60;
        let signal: Vec<f32> = (0..frames * FRAME_SAMPLES)
            .map(|i| {
                let t = i as f64 / f64::from(OPUS_SAMPLE_RATE);
                let pitch = 180.0 + 60.0 * t;
                let envelope = 0.3 + 0.2 * (std::f64::consts::TAU * 3.0 * t).sin();
                let phase = std::f64::consts::TAU * pitch * t;
                (envelope * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin()))
                    as f32
                    * 0.6
            })
            .collect();
        let mut encoder = OpusEncoder::new().unwrap();
        let packets = encode_all(&mut encoder, &signal);
        let lost = 40;
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];

        // Reference: every packet arrives.
        let mut clean = OpusDecoder::new().unwrap();
        let mut clean_out = Vec::new();
        for packet in &packets {
            let n = clean.decode(packet, &mut pcm).unwrap();
            clean_out.extend_from_slice(&pcm[..n]);
        }

        let decode_with = |recover: &dyn Fn(&mut OpusDecoder, &mut [f32]) -> usize| {
            let mut decoder = OpusDecoder::new().unwrap();
            let mut out = Vec::new();
            let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
            for (i, packet) in packets.iter().enumerate() {
                if i == lost {
                    let n = recover(&mut decoder, &mut pcm);
                    assert_eq!(n, FRAME_SAMPLES);
                    out.extend_from_slice(&pcm[..n]);
                } else {
                    let n = decoder.decode(packet, &mut pcm).unwrap();
                    out.extend_from_slice(&pcm[..n]);
                }
            }
            out
        };
        let with_fec =
            decode_with(&|decoder, pcm| decoder.decode_fec(&packets[lost + 1], pcm).unwrap());
        let with_plc = decode_with(&|decoder, pcm| decoder.decode_lost(pcm).unwrap());

        let span = lost * FRAME_SAMPLES..(lost + 1) * FRAME_SAMPLES;
        let reference = &clean_out[span.clone()];
        let fec_error = rms_error(&with_fec[span.clone()], reference);
        let plc_error = rms_error(&with_plc[span.clone()], reference);
        let silence_error = rms(reference);
        eprintln!(
            "lost frame error: FEC {fec_error:.4}, PLC {plc_error:.4}, silence {silence_error:.4}"
        );
        assert!(
            fec_error < 0.5 * silence_error,
            "FEC {fec_error} vs silence {silence_error}"
        );
        assert!(plc_error < silence_error, "PLC {plc_error}");
        // The FEC copy is a real second encoding, not a guess: it beats concealment.
        assert!(fec_error < plc_error, "FEC {fec_error} vs PLC {plc_error}");
    }

    #[test]
    fn silence_and_extreme_input_encode() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        let mut wild = [0.0f32; FRAME_SAMPLES];
        for (i, sample) in wild.iter_mut().enumerate() {
            *sample = match i % 4 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -1e30,
                _ => 7.0,
            };
        }
        for frame in [[0.0; FRAME_SAMPLES], wild] {
            let len = encoder.encode_frame(&frame, &mut packet).unwrap();
            let n = decoder.decode(&packet[..len], &mut pcm).unwrap();
            assert!(pcm[..n].iter().all(|s| s.is_finite() && s.abs() <= 2.0));
        }
    }

    /// Random bytes, and real packets with bytes flipped or cut: errors are fine, panics are
    /// not, and the decoder keeps working afterwards.
    #[test]
    fn random_and_damaged_packets_never_panic() {
        let tone = sine(440.0, OPUS_SAMPLE_RATE, 10 * FRAME_SAMPLES, 0.5);
        let mut encoder = OpusEncoder::new().unwrap();
        let packets = encode_all(&mut encoder, &tone);
        let mut decoder = OpusDecoder::new().unwrap();
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        let mut rng = XorShift(0x853c_49e6_748f_ea9b);
        let (mut decoded, mut refused) = (0, 0);
        for round in 0..2_000 {
            let packet: Vec<u8> = if round % 2 == 0 {
                let len = rng.below(1_500);
                (0..len).map(|_| rng.next_u64() as u8).collect()
            } else {
                let mut packet = packets[rng.below(packets.len())].clone();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(packet.len());
                    packet[at] = rng.next_u64() as u8;
                }
                if rng.below(3) == 0 {
                    packet.truncate(rng.below(packet.len() + 1));
                }
                packet
            };
            let results = [
                decoder.decode(&packet, &mut pcm),
                decoder.decode_fec(&packet, &mut pcm),
                decoder.decode_lost(&mut pcm),
            ];
            for (call, result) in results.into_iter().enumerate() {
                match result {
                    Ok(n) => {
                        assert!(n <= MAX_PACKET_SAMPLES);
                        decoded += 1;
                    }
                    Err(MediaError::InvalidOpusPacket { .. }) => refused += 1,
                    Err(other) => panic!("call {call} on {packet:02x?}: unexpected error {other}"),
                }
            }
        }
        eprintln!("damaged packets: {decoded} decoded, {refused} refused");
        assert!(decoded > 0 && refused > 0);
        let len = encoder
            .encode_frame(&tone[..FRAME_SAMPLES], &mut [0u8; MAX_PACKET_BYTES])
            .unwrap();
        assert!(len > 0);
        assert_eq!(
            decoder.decode(&packets[0], &mut pcm).unwrap(),
            FRAME_SAMPLES
        );
    }

    #[test]
    fn stereo_packets_are_mixed_to_mono() {
        let mut stereo =
            ::opus::Encoder::new(OPUS_SAMPLE_RATE, Channels::Stereo, Application::Audio).unwrap();
        let tone = sine(440.0, OPUS_SAMPLE_RATE, 20 * FRAME_SAMPLES, 0.5);
        let interleaved: Vec<f32> = tone.iter().flat_map(|&s| [s, s]).collect();
        let mut decoder = OpusDecoder::new().unwrap();
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        let mut out = Vec::new();
        for frame in interleaved.chunks_exact(2 * FRAME_SAMPLES) {
            let packet = stereo.encode_vec_float(frame, MAX_PACKET_BYTES).unwrap();
            let n = decoder.decode(&packet, &mut pcm).unwrap();
            out.extend_from_slice(&pcm[..n]);
        }
        let tail = &out[4800..];
        assert!(
            goertzel_power(tail, OPUS_SAMPLE_RATE, 440.0)
                > 100.0 * goertzel_power(tail, OPUS_SAMPLE_RATE, 480.0)
        );
        assert!((0.3..0.4).contains(&rms(tail)), "rms {}", rms(tail));
    }
}
