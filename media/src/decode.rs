//! Decoding audio of any supported container into mono `f32` at a chosen rate.
//!
//! The container is always detected from the bytes themselves (symphonia's probe with an
//! empty hint), never from a file name or a client's content type, which are often wrong.
//! Untrusted input must not be able to crash or exhaust the server: every length is checked,
//! the decoded duration is capped while decoding (not taken from a header), and a panic
//! inside symphonia on hostile data is caught and reported as [`MediaError::Undecodable`].
//!
//! symphonia demuxes Opus (Ogg, WebM, MP4) but has no decoder for it; libopus decodes it
//! behind symphonia's decoder trait ([`crate::opus`]). Lossy codecs add a delay before the
//! audio and pad the last frame, and the containers record how much: Ogg in its granule
//! positions and OpusHead, WebM in `DiscardPadding`, MP4 in its edit list. All of these are
//! applied, so the decoded audio lines up with the source and has its length.

mod gapless;
mod repair;

use std::any::Any;
use std::fmt;
use std::io::{Cursor, ErrorKind};
use std::panic::{self, AssertUnwindSafe};

use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::{
    FORMAT_ID_ADTS, FORMAT_ID_AIFF, FORMAT_ID_CAF, FORMAT_ID_FLAC, FORMAT_ID_ISOMP4, FORMAT_ID_MKV,
    FORMAT_ID_MP1, FORMAT_ID_MP2, FORMAT_ID_MP3, FORMAT_ID_OGG, FORMAT_ID_WAVE,
};
use symphonia::core::formats::{FormatId, FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use crate::error::MediaError;
use crate::opus::ByteOrder;
use crate::opus::track::OpusTrackDecoder;
use crate::resample::{check_rate, resample};

/// Starts the reason of an error that was a panic inside symphonia.
const PANIC_PREFIX: &str = "the decoder panicked";

/// Consecutive undecodable packets after which the rest of a stream is given up as garbage.
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 32;

/// How a stream's decoded length may fall short of its declared length before it counts as
/// truncated: encoders' priming and padding, and readers' rounding, stay well inside this.
const DECLARED_LENGTH_SLACK_FRAMES: u64 = 4096;

/// What to assume about bytes that carry no container signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PcmHint {
    /// Only containers are accepted; bytes without one are [`MediaError::NotAudio`].
    #[default]
    None,
    /// Bytes without a container signature at their start are raw signed 16-bit little-endian
    /// mono PCM at this rate.
    RawS16le {
        /// Samples per second of the raw PCM.
        sample_rate: u32,
    },
}

/// Bounds on what one decode may produce, so a hostile or huge input cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    /// Longest accepted audio in seconds, counted on decoded samples rather than headers.
    pub max_seconds: f64,
}

impl DecodeLimits {
    /// The default cap on decoded audio: four hours.
    pub const DEFAULT_MAX_SECONDS: f64 = 4.0 * 3600.0;

    /// The most frames at `rate` that stay within the limit.
    fn max_frames(&self, rate: u32) -> u64 {
        // The float-to-int cast saturates, and maps NaN and negative limits to zero.
        (self.max_seconds * f64::from(rate)).floor() as u64
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: Self::DEFAULT_MAX_SECONDS,
        }
    }
}

/// The container format the audio was found in.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// RIFF WAVE.
    Wav,
    /// AIFF or AIFF-C.
    Aiff,
    /// Apple Core Audio Format.
    Caf,
    /// Native FLAC.
    Flac,
    /// MPEG audio elementary stream (layer I, II or III; in practice MP3).
    Mp3,
    /// AAC in ADTS framing.
    Adts,
    /// Ogg (Vorbis, FLAC or Opus inside).
    Ogg,
    /// ISO base media file (MP4, M4A, MOV).
    Mp4,
    /// Matroska or WebM.
    Matroska,
    /// Headerless PCM, read as the caller's [`PcmHint`] described it.
    RawPcm,
    /// A container symphonia reads that this enum does not name yet.
    Other,
}

impl Container {
    /// A short lower-case name, as used in file extensions.
    pub fn name(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Aiff => "aiff",
            Container::Caf => "caf",
            Container::Flac => "flac",
            Container::Mp3 => "mp3",
            Container::Adts => "aac",
            Container::Ogg => "ogg",
            Container::Mp4 => "mp4",
            Container::Matroska => "mkv",
            Container::RawPcm => "pcm",
            Container::Other => "other",
        }
    }

    fn from_format_id(id: FormatId) -> Self {
        match id {
            FORMAT_ID_WAVE => Container::Wav,
            FORMAT_ID_AIFF => Container::Aiff,
            FORMAT_ID_CAF => Container::Caf,
            FORMAT_ID_FLAC => Container::Flac,
            FORMAT_ID_MP1 | FORMAT_ID_MP2 | FORMAT_ID_MP3 => Container::Mp3,
            FORMAT_ID_ADTS => Container::Adts,
            FORMAT_ID_OGG => Container::Ogg,
            FORMAT_ID_ISOMP4 => Container::Mp4,
            FORMAT_ID_MKV => Container::Matroska,
            _ => Container::Other,
        }
    }

    /// Whether the reader's declared length is exact. MPEG and ADTS readers estimate it from
    /// the byte count and bitrate, which is wrong for VBR streams without a Xing header.
    fn declares_exact_length(self) -> bool {
        !matches!(self, Container::Mp3 | Container::Adts)
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Mono audio decoded from a container, resampled to the requested rate.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Mono samples, nominally in `-1.0..=1.0`, at `sample_rate`.
    pub samples: Vec<f32>,
    /// Rate of `samples` in Hz: the rate that was asked for.
    pub sample_rate: u32,
    /// Rate of the audio in the input, in Hz.
    pub source_rate: u32,
    /// Channels in the input before they were averaged to mono.
    pub source_channels: u16,
    /// The container the input was found to be.
    pub container: Container,
    /// The input ended early or broke off; `samples` holds what came before the damage.
    pub truncated: bool,
}

impl DecodedAudio {
    /// Length of the decoded audio in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Decodes `bytes` to mono at `target_rate` Hz, with the default [`DecodeLimits`].
pub fn decode_to_mono(
    bytes: &[u8],
    hint: PcmHint,
    target_rate: u32,
) -> Result<DecodedAudio, MediaError> {
    decode_to_mono_with_limits(bytes, hint, target_rate, DecodeLimits::default())
}

/// Decodes `bytes` to mono at `target_rate` Hz, refusing audio longer than `limits` allow.
pub fn decode_to_mono_with_limits(
    bytes: &[u8],
    hint: PcmHint,
    target_rate: u32,
    limits: DecodeLimits,
) -> Result<DecodedAudio, MediaError> {
    check_rate(target_rate)?;
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let source = match hint {
        PcmHint::RawS16le { sample_rate } if !has_container_signature(bytes) => {
            decode_raw_s16le(bytes, sample_rate, limits)?
        }
        _ => decode_container(bytes, limits)?,
    };
    let samples = resample(&source.samples, source.rate, target_rate)?;
    Ok(DecodedAudio {
        samples,
        sample_rate: target_rate,
        source_rate: source.rate,
        source_channels: source.channels,
        container: source.container,
        truncated: source.truncated,
    })
}

/// Mono audio at the input's own rate, before resampling.
struct SourceAudio {
    samples: Vec<f32>,
    rate: u32,
    channels: u16,
    container: Container,
    truncated: bool,
}

/// Whether `bytes` start with the signature of a container, so a raw-PCM hint must not
/// apply. Only long signatures at offset zero count: MPEG sync words are two bytes that
/// ordinary PCM samples contain all the time.
fn has_container_signature(bytes: &[u8]) -> bool {
    let at = |range: std::ops::Range<usize>, tag: &[u8]| bytes.get(range) == Some(tag);
    (at(0..4, b"RIFF") && at(8..12, b"WAVE"))
        || (at(0..4, b"FORM") && (at(8..12, b"AIFF") || at(8..12, b"AIFC")))
        || at(0..4, b"fLaC")
        || at(0..4, b"OggS")
        || at(0..4, b"caff")
        || at(0..3, b"ID3")
        || at(4..8, b"ftyp")
        || at(0..4, &[0x1a, 0x45, 0xdf, 0xa3])
}

fn decode_raw_s16le(
    bytes: &[u8],
    sample_rate: u32,
    limits: DecodeLimits,
) -> Result<SourceAudio, MediaError> {
    check_rate(sample_rate)?;
    let (pairs, odd_byte) = bytes.as_chunks::<2>();
    if u64::try_from(pairs.len()).unwrap_or(u64::MAX) > limits.max_frames(sample_rate) {
        return Err(MediaError::TooLong {
            max_seconds: limits.max_seconds,
        });
    }
    let samples = pairs
        .iter()
        .map(|pair| f32::from(i16::from_le_bytes(*pair)) / 32768.0)
        .collect();
    Ok(SourceAudio {
        samples,
        rate: sample_rate,
        channels: 1,
        container: Container::RawPcm,
        // A dangling byte means the stream stopped inside a sample.
        truncated: !odd_byte.is_empty(),
    })
}

fn decode_container(bytes: &[u8], limits: DecodeLimits) -> Result<SourceAudio, MediaError> {
    match repair::repair(bytes) {
        Some(repaired) => {
            let mut audio = decode_with_symphonia(&repaired.bytes, limits)?;
            audio.truncated |= repaired.truncated;
            Ok(audio)
        }
        None => decode_with_symphonia(bytes, limits),
    }
}

fn decode_with_symphonia(bytes: &[u8], limits: DecodeLimits) -> Result<SourceAudio, MediaError> {
    let (mut format, read_as_stream) = open_format(bytes)?;
    let container = Container::from_format_id(format.format_info().format);

    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| undecodable(format!("the {container} file has no audio track")))?;
    let mut track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| {
            undecodable(format!(
                "the {container} audio track has no codec parameters"
            ))
        })?
        .clone();
    // MP4 files from gapless-aware encoders say in an edit list which decoded frames to
    // present; symphonia reads the list but does not apply it.
    let mp4_edit = match container {
        Container::Mp4 => gapless::mp4_edit(bytes, track_id),
        _ => None,
    };
    let mut decoder = make_decoder(&params, container, mp4_edit.is_some())?;

    let mut stream = MonoStream::new(limits);
    // The decoded buffers' channel count wins over the codec parameters': decoders for
    // parametric stereo, for one, output other than the container declares.
    let mut source_channels = None;
    // The stream broke off (an error, not its natural end), and why.
    let mut broke_off: Option<String> = None;
    let mut bad_packets = 0;

    loop {
        let packet = match guard(|| format.next_packet()) {
            Ok(Ok(Some(packet))) => packet,
            Ok(Ok(None)) => break,
            Ok(Err(SymphoniaError::ResetRequired)) => {
                // A chained stream (as in Ogg) starts a new track; carry on if it is audio.
                match reselect_track(format.as_ref(), container) {
                    Some((id, next_decoder)) => {
                        track_id = id;
                        decoder = next_decoder;
                        continue;
                    }
                    None => {
                        broke_off = Some("a chained stream has no decodable audio".into());
                        break;
                    }
                }
            }
            // A live WebM recording has no sizes to say where it ends: it stops at the end
            // of the input, which the reader calls unexpected.
            Ok(Err(SymphoniaError::IoError(io)))
                if io.kind() == ErrorKind::UnexpectedEof
                    && container == Container::Matroska
                    && gapless::matroska_ends_cleanly(bytes) =>
            {
                break;
            }
            Ok(Err(err)) => {
                broke_off = Some(describe(&err));
                break;
            }
            Err(panicked) => {
                broke_off = Some(panicked);
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoder = decoder.as_mut();
        match guard(move || decoder.decode(&packet)) {
            Ok(Ok(buffer)) => {
                bad_packets = 0;
                match stream.push(&buffer)? {
                    Pushed::Frames { channels } => {
                        source_channels.get_or_insert(channels);
                    }
                    Pushed::Nothing => {}
                    Pushed::RateChanged => {
                        broke_off = Some("the sample rate changed mid-stream".into());
                        break;
                    }
                }
            }
            // symphonia's contract: these lose only this packet and decoding may go on.
            Ok(Err(err @ (SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)))) => {
                bad_packets += 1;
                if bad_packets >= MAX_CONSECUTIVE_BAD_PACKETS {
                    broke_off = Some(describe(&err));
                    break;
                }
            }
            // The decoder's output format changes from the next packet on; it handles that.
            Ok(Err(SymphoniaError::ResetRequired)) => {}
            Ok(Err(err)) => {
                broke_off = Some(describe(&err));
                break;
            }
            Err(panicked) => {
                broke_off = Some(panicked);
                break;
            }
        }
    }

    let MonoStream {
        mut samples, rate, ..
    } = stream;
    if let Some(rate) = rate {
        if let Some(edit) = mp4_edit {
            let (skip, keep) = edit.frames_at(rate);
            samples.drain(..skip.min(samples.len()));
            if let Some(keep) = keep {
                samples.truncate(keep);
            }
        }
        if container == Container::Matroska && broke_off.is_none() {
            trim_matroska_padding(bytes, track_id, rate, &mut samples);
        }
    }
    if let Some(reason) = &broke_off
        && samples.is_empty()
    {
        return Err(undecodable(reason.clone()));
    }
    // A stream that ended cleanly without a frame is valid, empty audio, at its declared rate.
    let declared_rate = params.sample_rate.filter(|&rate| check_rate(rate).is_ok());
    let Some(rate) = rate.or(declared_rate) else {
        return Err(undecodable(format!(
            "the {container} stream has no valid sample rate"
        )));
    };
    let declared_channels = params.channels.as_ref().map(|channels| channels.count());
    let decoded = u64::try_from(samples.len()).unwrap_or(u64::MAX);
    let fell_short = container.declares_exact_length()
        && declared_frames.is_some_and(|declared| {
            decoded.saturating_add(DECLARED_LENGTH_SLACK_FRAMES.max(declared / 100)) < declared
        });
    Ok(SourceAudio {
        samples,
        rate,
        channels: source_channels
            .or(declared_channels)
            .map_or(1, |count| u16::try_from(count).unwrap_or(u16::MAX)),
        container,
        truncated: read_as_stream || broke_off.is_some() || fell_short,
    })
}

/// Drops the padding that the last block of a Matroska track declares (Opus pads its last
/// frame), which symphonia does not apply itself.
fn trim_matroska_padding(bytes: &[u8], track_id: u32, rate: u32, samples: &mut Vec<f32>) {
    let Some(padding_ns) = gapless::matroska_end_padding_ns(bytes, u64::from(track_id)) else {
        return;
    };
    let frames = (u128::from(padding_ns) * u128::from(rate) + 500_000_000) / 1_000_000_000;
    let frames = usize::try_from(frames).unwrap_or(usize::MAX);
    samples.truncate(samples.len().saturating_sub(frames));
}

/// Finds the container and opens its reader; also says whether the input could only be
/// read front to back.
///
/// Given a seekable source, several readers (AIFF, CAF, Ogg) first visit the end of the
/// input for chunk lists or the duration, and fail outright when the input was cut short.
/// Read as a plain stream they skip that and decode what is there, so a reader that fails
/// on the seekable source gets a second try that way, and its input counts as truncated.
fn open_format(bytes: &[u8]) -> Result<(Box<dyn FormatReader + '_>, bool), MediaError> {
    let seekable = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let first_error = match probe(seekable) {
        Ok(format) => return Ok((format, false)),
        Err(MediaError::NotAudio) => return Err(MediaError::NotAudio),
        Err(err) => err,
    };
    let stream = ReadOnlySource::new(Cursor::new(bytes));
    match probe(MediaSourceStream::new(Box::new(stream), Default::default())) {
        Ok(format) => Ok((format, true)),
        Err(_) => Err(first_error),
    }
}

fn probe(source: MediaSourceStream<'_>) -> Result<Box<dyn FormatReader + '_>, MediaError> {
    let probed = guard(|| {
        symphonia::default::get_probe().probe(
            &Hint::new(),
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
    });
    probed.map_err(undecodable)?.map_err(probe_error)
}

/// Decoded audio averaged to mono, with the duration limit enforced as it grows.
struct MonoStream {
    samples: Vec<f32>,
    /// Set by the first decoded buffer: decoders may output another rate than the container
    /// declares (HE-AAC's core is half the rate its container states, for one).
    rate: Option<u32>,
    limits: DecodeLimits,
    max_frames: u64,
    planes: Vec<Vec<f32>>,
}

/// What one decoded buffer did to a [`MonoStream`].
enum Pushed {
    /// Frames were appended; the buffer had this many channels.
    Frames { channels: usize },
    /// The buffer held no audio (decoders warming up do this).
    Nothing,
    /// The buffer's rate differs from the stream's and was not appended.
    RateChanged,
}

impl MonoStream {
    fn new(limits: DecodeLimits) -> Self {
        Self {
            samples: Vec::new(),
            rate: None,
            limits,
            max_frames: 0,
            planes: Vec::new(),
        }
    }

    fn push(&mut self, buffer: &GenericAudioBufferRef<'_>) -> Result<Pushed, MediaError> {
        let frames = buffer.frames();
        let channels = buffer.spec().channels().count();
        if frames == 0 || channels == 0 {
            return Ok(Pushed::Nothing);
        }
        let spec_rate = buffer.spec().rate();
        match self.rate {
            Some(rate) if rate != spec_rate => return Ok(Pushed::RateChanged),
            Some(_) => {}
            None => {
                check_rate(spec_rate).map_err(|_| {
                    undecodable(format!("unsupported sample rate of {spec_rate} Hz"))
                })?;
                self.rate = Some(spec_rate);
                self.max_frames = self.limits.max_frames(spec_rate);
            }
        }
        let total = u64::try_from(self.samples.len().saturating_add(frames)).unwrap_or(u64::MAX);
        if total > self.max_frames {
            return Err(MediaError::TooLong {
                max_seconds: self.limits.max_seconds,
            });
        }
        buffer.copy_to_vecs_planar::<f32>(&mut self.planes);
        let start = self.samples.len();
        self.samples.resize(start + frames, 0.0);
        let Some(mono) = self.samples.get_mut(start..) else {
            return Ok(Pushed::Frames { channels });
        };
        for plane in &self.planes {
            for (sum, sample) in mono.iter_mut().zip(plane) {
                *sum += sample;
            }
        }
        let scale = 1.0 / self.planes.len().max(1) as f32;
        for sample in mono.iter_mut() {
            // Float formats can carry NaN or infinity, which would poison every later stage.
            *sample = if sample.is_finite() {
                *sample * scale
            } else {
                0.0
            };
        }
        Ok(Pushed::Frames { channels })
    }
}

/// Makes the decoder for a track. `container_trims_start` says the container's own edit
/// will drop the codec's delay, so an Opus decoder must not drop its pre-skip too.
fn make_decoder(
    params: &AudioCodecParameters,
    container: Container,
    container_trims_start: bool,
) -> Result<Box<dyn AudioDecoder>, MediaError> {
    guard(|| {
        if params.codec == CODEC_ID_OPUS {
            // Browsers record Opus (in WebM or Ogg); symphonia 0.6 demuxes it but has no
            // decoder, so libopus decodes it. MP4 stores the Opus header big-endian.
            let byte_order = match container {
                Container::Mp4 => ByteOrder::Big,
                _ => ByteOrder::Little,
            };
            OpusTrackDecoder::try_new(params, byte_order, !container_trims_start)
                .map(|decoder| Box::new(decoder) as Box<dyn AudioDecoder>)
        } else {
            symphonia::default::get_codecs()
                .make_audio_decoder(params, &AudioDecoderOptions::default())
        }
    })
    .map_err(undecodable)?
    .map_err(|err| undecodable(format!("{} (codec {})", describe(&err), params.codec)))
}

/// Picks up the audio track of a new chained stream, if it has one that can be decoded.
fn reselect_track(
    format: &dyn FormatReader,
    container: Container,
) -> Option<(u32, Box<dyn AudioDecoder>)> {
    let track = format.default_track(TrackType::Audio)?;
    let params = track.codec_params.as_ref()?.audio()?;
    let decoder = make_decoder(params, container, false).ok()?;
    Some((track.id, decoder))
}

/// Runs a symphonia call, turning a panic on hostile data into a description of it. Only
/// symphonia's code (and the Opus decoder behind its trait) runs inside; the tests on
/// damaged input fail on any panic caught here, so a panic in this crate still surfaces.
fn guard<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(call))
        .map_err(|payload| format!("{PANIC_PREFIX}: {}", panic_message(&*payload)))
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "unknown panic"
    }
}

/// The probe's own "nothing found" error means no container; anything else came from a
/// reader that recognised its container and then failed on it.
fn probe_error(err: SymphoniaError) -> MediaError {
    match err {
        SymphoniaError::Unsupported(message) if message.starts_with("core (probe)") => {
            MediaError::NotAudio
        }
        err => undecodable(describe(&err)),
    }
}

fn describe(err: &SymphoniaError) -> String {
    match err {
        SymphoniaError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
            "the input ends before the data it announces".into()
        }
        err => err.to_string(),
    }
}

fn undecodable(reason: impl Into<String>) -> MediaError {
    MediaError::Undecodable {
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use hound::{SampleFormat, WavSpec, WavWriter};

    use super::*;
    use crate::test_signal::{XorShift, dominant_of, sine};

    const NEIGHBOURS_OF_440: [f64; 5] = [400.0, 420.0, 440.0, 460.0, 480.0];

    /// A WAV of the given layout holding `frames`, each frame one value per channel in -1..1.
    fn wav_bytes(rate: u32, bits: u16, format: SampleFormat, frames: &[Vec<f32>]) -> Vec<u8> {
        let channels = frames.first().map_or(1, |frame| frame.len() as u16);
        let spec = WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        };
        let mut out = Vec::new();
        let mut writer = WavWriter::new(Cursor::new(&mut out), spec).expect("wav writer");
        // Full scale is 2^(bits-1), the divisor symphonia uses when it converts to float.
        let full_scale = f64::from(1u32 << (bits - 1).min(31));
        let quantised = |sample: f32| (f64::from(sample) * full_scale).round();
        for &sample in frames.iter().flatten() {
            match (format, bits) {
                (SampleFormat::Float, _) => writer.write_sample(sample),
                (SampleFormat::Int, 8) => writer.write_sample(quantised(sample) as i8),
                (SampleFormat::Int, 16) => writer.write_sample(quantised(sample) as i16),
                (SampleFormat::Int, _) => writer.write_sample(quantised(sample) as i32),
            }
            .expect("write sample");
        }
        writer.finalize().expect("finalize wav");
        out
    }

    fn mono_frames(samples: &[f32]) -> Vec<Vec<f32>> {
        samples.iter().map(|&s| vec![s]).collect()
    }

    /// The 44-byte header hound writes for plain PCM.
    const HEADER_LEN: usize = 44;

    #[test]
    fn stereo_16bit_44k_wav_decodes_to_16k_mono() {
        let tone = sine(440.0, 44_100, 44_100, 0.5);
        let frames: Vec<Vec<f32>> = tone.iter().map(|&s| vec![s, s]).collect();
        let bytes = wav_bytes(44_100, 16, SampleFormat::Int, &frames);
        let audio = decode_to_mono(&bytes, PcmHint::None, 16_000).expect("decode");
        assert_eq!(audio.container, Container::Wav);
        assert_eq!(
            (audio.source_rate, audio.source_channels, audio.sample_rate),
            (44_100, 2, 16_000)
        );
        assert!(!audio.truncated);
        assert!(
            (audio.duration_seconds() - 1.0).abs() < 0.01,
            "{} s",
            audio.duration_seconds()
        );
        assert_eq!(
            dominant_of(&audio.samples, 16_000, &NEIGHBOURS_OF_440),
            440.0
        );
    }

    #[test]
    fn float_8k_wav_decodes_to_16k_mono() {
        let tone = sine(440.0, 8_000, 8_000, 0.5);
        let bytes = wav_bytes(8_000, 32, SampleFormat::Float, &mono_frames(&tone));
        let audio = decode_to_mono(&bytes, PcmHint::None, 16_000).expect("decode");
        assert_eq!((audio.source_rate, audio.source_channels), (8_000, 1));
        assert!(
            (audio.duration_seconds() - 1.0).abs() < 0.01,
            "{} s",
            audio.duration_seconds()
        );
        assert_eq!(
            dominant_of(&audio.samples, 16_000, &NEIGHBOURS_OF_440),
            440.0
        );
    }

    /// Every PCM width decodes to the written values, within its quantisation step.
    #[test]
    fn every_wav_sample_format_decodes_exactly() {
        let tone = sine(440.0, 8_000, 800, 0.9);
        for (bits, format, step) in [
            (8, SampleFormat::Int, 1.0 / 128.0),
            (16, SampleFormat::Int, 1.0 / 32_768.0),
            (24, SampleFormat::Int, 1.0 / 8_388_608.0),
            (32, SampleFormat::Int, 1e-7),
            (32, SampleFormat::Float, 0.0),
        ] {
            let bytes = wav_bytes(8_000, bits, format, &mono_frames(&tone));
            let audio = decode_to_mono(&bytes, PcmHint::None, 8_000).expect("decode");
            assert_eq!(audio.samples.len(), tone.len(), "{bits}-bit {format:?}");
            let err = audio
                .samples
                .iter()
                .zip(&tone)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                err <= step / 2.0 + 1e-7,
                "{bits}-bit {format:?}: error {err}"
            );
        }
    }

    #[test]
    fn channels_are_averaged() {
        let tone = sine(440.0, 8_000, 800, 0.8);
        let frames: Vec<Vec<f32>> = tone.iter().map(|&s| vec![s, 0.0, -0.5]).collect();
        let bytes = wav_bytes(8_000, 32, SampleFormat::Float, &frames);
        let audio = decode_to_mono(&bytes, PcmHint::None, 8_000).expect("decode");
        assert_eq!(audio.source_channels, 3);
        for (got, s) in audio.samples.iter().zip(&tone) {
            assert!((got - (s - 0.5) / 3.0).abs() < 1e-6);
        }
    }

    #[test]
    fn non_finite_float_samples_become_silence() {
        let bytes = wav_bytes(
            8_000,
            32,
            SampleFormat::Float,
            &mono_frames(&[0.5, f32::NAN, f32::INFINITY]),
        );
        let audio = decode_to_mono(&bytes, PcmHint::None, 8_000).expect("decode");
        assert_eq!(audio.samples, vec![0.5, 0.0, 0.0]);
    }

    #[test]
    fn raw_s16le_needs_the_hint() {
        let mut pcm = Vec::new();
        for sample in [0i16, 16_384, -16_384, i16::MAX, i16::MIN] {
            pcm.extend_from_slice(&sample.to_le_bytes());
        }
        let hint = PcmHint::RawS16le {
            sample_rate: 16_000,
        };
        let audio = decode_to_mono(&pcm, hint, 16_000).expect("decode");
        assert_eq!(audio.container, Container::RawPcm);
        assert_eq!(audio.samples, vec![0.0, 0.5, -0.5, 32767.0 / 32768.0, -1.0]);
        assert!(!audio.truncated);
        assert!(matches!(
            decode_to_mono(&pcm, PcmHint::None, 16_000),
            Err(MediaError::NotAudio)
        ));

        pcm.push(0x7f);
        let audio = decode_to_mono(&pcm, hint, 16_000).expect("decode");
        assert_eq!(audio.samples.len(), 5, "the odd trailing byte is ignored");
        assert!(audio.truncated);
    }

    #[test]
    fn raw_hint_still_decodes_a_real_container() {
        let bytes = wav_bytes(
            8_000,
            16,
            SampleFormat::Int,
            &mono_frames(&sine(440.0, 8_000, 800, 0.5)),
        );
        let audio = decode_to_mono(
            &bytes,
            PcmHint::RawS16le {
                sample_rate: 16_000,
            },
            8_000,
        )
        .expect("decode");
        assert_eq!(
            (audio.container, audio.samples.len()),
            (Container::Wav, 800)
        );
    }

    #[test]
    fn raw_s16le_with_a_bad_rate_is_rejected() {
        let result = decode_to_mono(&[0; 10], PcmHint::RawS16le { sample_rate: 0 }, 16_000);
        assert!(matches!(
            result,
            Err(MediaError::InvalidSampleRate { rate: 0, .. })
        ));
    }

    #[test]
    fn empty_input_is_empty() {
        assert!(matches!(
            decode_to_mono(&[], PcmHint::None, 16_000),
            Err(MediaError::Empty)
        ));
        let raw = PcmHint::RawS16le {
            sample_rate: 16_000,
        };
        assert!(matches!(
            decode_to_mono(&[], raw, 16_000),
            Err(MediaError::Empty)
        ));
    }

    #[test]
    fn invalid_target_rate_is_rejected() {
        let bytes = wav_bytes(8_000, 16, SampleFormat::Int, &mono_frames(&[0.0; 10]));
        for rate in [0, MAX_TEST_RATE] {
            assert!(matches!(
                decode_to_mono(&bytes, PcmHint::None, rate),
                Err(MediaError::InvalidSampleRate { .. })
            ));
        }
    }

    #[test]
    fn implausible_file_rates_are_undecodable() {
        for rate in [10, crate::MIN_SAMPLE_RATE - 1] {
            let bytes = wav_bytes(rate, 16, SampleFormat::Int, &mono_frames(&[0.1; 100]));
            assert!(matches!(
                decode_to_mono(&bytes, PcmHint::None, 16_000),
                Err(MediaError::Undecodable { .. })
            ));
        }
    }

    const MAX_TEST_RATE: u32 = crate::MAX_SAMPLE_RATE + 1;

    #[test]
    fn bytes_of_no_container_are_not_audio() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let noise: Vec<u8> = (0..65_536).map(|_| rng.next_u64() as u8).collect();
        assert!(matches!(
            decode_to_mono(&noise, PcmHint::None, 16_000),
            Err(MediaError::NotAudio)
        ));
        let text = b"{\"model\": \"whisper-1\", \"file\": \"this is not audio\"}";
        assert!(matches!(
            decode_to_mono(text, PcmHint::None, 16_000),
            Err(MediaError::NotAudio)
        ));
        assert!(matches!(
            decode_to_mono(b"RIFF", PcmHint::None, 16_000),
            Err(MediaError::NotAudio)
        ));
    }

    #[test]
    fn wav_without_a_format_chunk_is_undecodable() {
        let mut bytes = b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00".to_vec();
        bytes.splice(4..8, 12u32.to_le_bytes());
        assert!(matches!(
            decode_to_mono(&bytes, PcmHint::None, 16_000),
            Err(MediaError::Undecodable { .. })
        ));
    }

    #[test]
    fn truncated_wav_keeps_every_whole_frame() {
        let tone = sine(440.0, 44_100, 44_100, 0.5);
        let frames: Vec<Vec<f32>> = tone.iter().map(|&s| vec![s, -s]).collect();
        let bytes = wav_bytes(44_100, 16, SampleFormat::Int, &frames);
        let full = decode_to_mono(&bytes, PcmHint::None, 44_100).expect("decode");
        // Cut inside a frame: 3086 whole 4-byte frames and 1 stray byte.
        let cut = bytes.get(..HEADER_LEN + 12_345).expect("cut");
        let audio = decode_to_mono(cut, PcmHint::None, 44_100).expect("decode truncated");
        assert!(audio.truncated);
        assert_eq!(audio.samples.len(), 3086);
        assert_eq!(
            audio.samples.as_slice(),
            full.samples.get(..3086).expect("prefix")
        );
        // Header alone: nothing to decode, but nothing wrong with what is there.
        let header_only = bytes.get(..HEADER_LEN).expect("header");
        let audio = decode_to_mono(header_only, PcmHint::None, 16_000).expect("decode header");
        assert!(audio.truncated && audio.samples.is_empty());
    }

    #[test]
    fn garbage_sizes_in_the_header_do_not_matter() {
        let tone = sine(440.0, 8_000, 800, 0.5);
        let bytes = wav_bytes(8_000, 16, SampleFormat::Int, &mono_frames(&tone));
        let data_size_at = HEADER_LEN - 4;
        for (riff, data, truncated) in [
            (u32::MAX, u32::MAX, false), // a streamed WAV
            (0x7fff_fff0, 0x7fff_ffe0, true),
            (36 + 1600, 0xffff_fff0, true),
            (0, 1600, false),
            (4, 0x8000_0000, true),
        ] {
            let mut patched = bytes.clone();
            patched.splice(4..8, riff.to_le_bytes());
            patched.splice(data_size_at..HEADER_LEN, data.to_le_bytes());
            let audio = decode_to_mono(&patched, PcmHint::None, 8_000).expect("decode");
            assert_eq!(audio.samples.len(), 800, "riff {riff:#x} data {data:#x}");
            assert_eq!(audio.truncated, truncated, "riff {riff:#x} data {data:#x}");
        }
    }

    /// A 16-bit mono AIFF at 8 kHz: big-endian, with the rate as an 80-bit float.
    fn aiff_bytes(samples: &[f32]) -> Vec<u8> {
        let frames = u32::try_from(samples.len()).expect("frames");
        let mut out = Vec::new();
        out.extend_from_slice(b"FORM");
        out.extend_from_slice(&(4 + 26 + 16 + 2 * frames).to_be_bytes());
        out.extend_from_slice(b"AIFFCOMM");
        out.extend_from_slice(&18u32.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&frames.to_be_bytes());
        out.extend_from_slice(&16u16.to_be_bytes());
        // 8000 = 1.953125 * 2^12.
        out.extend_from_slice(&(16_383u16 + 12).to_be_bytes());
        out.extend_from_slice(&(8000u64 << (63 - 12)).to_be_bytes());
        out.extend_from_slice(b"SSND");
        out.extend_from_slice(&(8 + 2 * frames).to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        for sample in samples {
            out.extend_from_slice(&((sample * 32768.0).round() as i16).to_be_bytes());
        }
        out
    }

    /// symphonia's AIFF reader skips the sound data on a seekable source to look for later
    /// chunks, and fails when it is cut; the stream fallback still gets the audio.
    #[test]
    fn truncated_aiff_is_read_as_a_stream() {
        let tone = sine(440.0, 8_000, 8_000, 0.5);
        let bytes = aiff_bytes(&tone);
        let full = decode_to_mono(&bytes, PcmHint::None, 8_000).expect("decode");
        assert_eq!(
            (full.container, full.samples.len(), full.truncated),
            (Container::Aiff, 8_000, false)
        );
        let present = 5_000;
        let cut = bytes.get(..54 + 2 * present).expect("cut");
        let audio = decode_to_mono(cut, PcmHint::None, 8_000).expect("decode truncated");
        assert!(audio.truncated);
        // The reader drops the partial packet (at most 1152 frames) at the cut.
        assert!(
            (present - 1152..=present).contains(&audio.samples.len()),
            "{}",
            audio.samples.len()
        );
        assert_eq!(
            Some(audio.samples.as_slice()),
            full.samples.get(..audio.samples.len())
        );
    }

    #[test]
    fn known_container_with_an_unknown_codec_is_undecodable() {
        let mut bytes = wav_bytes(8_000, 16, SampleFormat::Int, &mono_frames(&[0.0; 100]));
        // The format tag of the fmt chunk: 0x0099 is no codec symphonia knows.
        bytes.splice(20..22, 0x0099u16.to_le_bytes());
        assert!(matches!(
            decode_to_mono(&bytes, PcmHint::None, 16_000),
            Err(MediaError::Undecodable { .. })
        ));
    }

    #[test]
    fn too_long_audio_is_refused() {
        let bytes = wav_bytes(
            8_000,
            16,
            SampleFormat::Int,
            &mono_frames(&vec![0.1; 8_000]),
        );
        let limits = DecodeLimits { max_seconds: 0.5 };
        assert!(matches!(
            decode_to_mono_with_limits(&bytes, PcmHint::None, 16_000, limits),
            Err(MediaError::TooLong { max_seconds }) if max_seconds == 0.5
        ));
        let raw = PcmHint::RawS16le { sample_rate: 8_000 };
        assert!(matches!(
            decode_to_mono_with_limits(&[0; 16_000], raw, 16_000, limits),
            Err(MediaError::TooLong { .. })
        ));
        let within = DecodeLimits { max_seconds: 1.0 };
        assert!(decode_to_mono_with_limits(&bytes, PcmHint::None, 16_000, within).is_ok());
    }

    /// Thousands of damaged WAVs (flipped bytes, cut at random offsets): errors are fine,
    /// panics are not, and symphonia should not need its panic guard on plain PCM.
    #[test]
    fn damaged_wavs_never_panic() {
        let tone = sine(440.0, 8_000, 400, 0.5);
        let stereo: Vec<Vec<f32>> = tone.iter().map(|&s| vec![s, s]).collect();
        let originals = [
            wav_bytes(8_000, 16, SampleFormat::Int, &mono_frames(&tone)),
            wav_bytes(8_000, 24, SampleFormat::Int, &stereo),
            wav_bytes(8_000, 32, SampleFormat::Float, &mono_frames(&tone)),
        ];
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut outcomes = [0usize; 3];
        let mut caught_panics = Vec::new();
        for round in 0..10_000 {
            let original = &originals[round % originals.len()];
            let mut bytes = original.clone();
            let flips = rng.below(4);
            for _ in 0..flips {
                // Most flips land in the header, where the parsing happens.
                let span = if rng.below(4) == 0 { bytes.len() } else { 64 };
                let at = rng.below(span);
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = rng.next_u64() as u8;
                }
            }
            if flips == 0 || rng.below(2) == 0 {
                bytes.truncate(rng.below(original.len()));
            }
            match decode_to_mono(&bytes, PcmHint::None, 8_000) {
                Ok(_) => outcomes[0] += 1,
                Err(MediaError::Undecodable { reason }) if reason.starts_with(PANIC_PREFIX) => {
                    caught_panics.push(reason);
                }
                Err(_) => outcomes[1] += 1,
            }
            outcomes[2] += 1;
        }
        eprintln!(
            "damaged WAVs: {} decoded, {} refused of {}",
            outcomes[0], outcomes[1], outcomes[2]
        );
        assert!(
            caught_panics.is_empty(),
            "symphonia panicked: {caught_panics:?}"
        );
        assert!(outcomes[0] > 0 && outcomes[1] > 0);
    }
}
