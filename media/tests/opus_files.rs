//! Opus, WebM and MP4 files made by other encoders (opusenc, ffmpeg; see `data/README.md`)
//! decode through `decode_to_mono` to their source's length, time-aligned, and damaged
//! copies of them never panic.

#![allow(clippy::unwrap_used)]

use std::f64::consts::TAU;

use mka1_media::{
    Container, DecodeLimits, MediaError, OggOpusWriter, PcmHint, decode_to_mono,
    decode_to_mono_with_limits,
};

/// Starts the error reason when the decoding panicked and the panic was caught.
const PANIC_REASON: &str = "the decoder panicked";

const SINE_SECONDS: f64 = 1.5;

struct Case {
    file: &'static str,
    container: Container,
    channels: u16,
    seconds: f64,
    /// RMS of the decoded mono mix relative to the source's: ffmpeg's upmix puts a mono
    /// signal 3 dB down into both stereo channels, and into the centre alone of 5.1.
    level: f64,
    /// Whether the source is the 440 Hz sine (otherwise speech).
    sine: bool,
}

const CASES: [Case; 8] = [
    Case {
        file: "sine440-44k-opusenc.opus",
        container: Container::Ogg,
        channels: 1,
        seconds: SINE_SECONDS,
        level: 1.0,
        sine: true,
    },
    Case {
        file: "sine440-48k-stereo-ffmpeg.ogg",
        container: Container::Ogg,
        channels: 2,
        seconds: SINE_SECONDS,
        level: std::f64::consts::FRAC_1_SQRT_2,
        sine: true,
    },
    Case {
        file: "sine440-48k-5.1-ffmpeg.opus",
        container: Container::Ogg,
        channels: 6,
        seconds: 0.5,
        level: 1.0 / 6.0,
        sine: true,
    },
    Case {
        file: "sine440-48k-ffmpeg.webm",
        container: Container::Matroska,
        channels: 1,
        seconds: SINE_SECONDS,
        level: 1.0,
        sine: true,
    },
    Case {
        file: "sine440-48k-ffmpeg-live.webm",
        container: Container::Matroska,
        channels: 1,
        seconds: SINE_SECONDS,
        level: 1.0,
        sine: true,
    },
    Case {
        file: "sine440-48k-ffmpeg.mp4",
        container: Container::Mp4,
        channels: 1,
        seconds: SINE_SECONDS,
        level: 1.0,
        sine: true,
    },
    Case {
        file: "sine440-44k-ffmpeg.m4a",
        container: Container::Mp4,
        channels: 1,
        seconds: SINE_SECONDS,
        level: 1.0,
        sine: true,
    },
    Case {
        file: "sense-0880-16k-ffmpeg.webm",
        container: Container::Matroska,
        channels: 1,
        // 47840 samples at 16 kHz.
        seconds: 2.99,
        level: 1.0,
        sine: false,
    },
];

fn read(file: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn goertzel_power(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let coeff = 2.0 * (TAU * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Every file decodes to its source's duration (so pre-skip, priming and padding are cut),
/// and the sines start on time, at 440 Hz and at their level.
#[test]
fn files_decode_to_the_source_duration() {
    for case in &CASES {
        let bytes = read(case.file);
        let audio = decode_to_mono(&bytes, PcmHint::None, 48_000).unwrap();
        let name = case.file;
        assert_eq!(audio.container, case.container, "{name}");
        assert_eq!(audio.source_channels, case.channels, "{name}");
        assert!(!audio.truncated, "{name}");
        let error_ms = (audio.duration_seconds() - case.seconds) * 1e3;
        assert!(error_ms.abs() < 10.0, "{name}: off by {error_ms:.2} ms");
        if !case.sine {
            assert!(rms(&audio.samples) > 0.01, "{name}: silent");
            continue;
        }
        // The sine starts at full swing within a millisecond: the codec delay is gone.
        let threshold = (0.2 * case.level) as f32;
        let onset = audio
            .samples
            .iter()
            .position(|s| s.abs() > threshold)
            .unwrap();
        assert!(onset < 48, "{name}: starts at sample {onset}");
        let middle = &audio.samples[4_800..audio.samples.len() - 4_800];
        let tone = goertzel_power(middle, 48_000, 440.0);
        for neighbour in [400.0, 420.0, 460.0, 480.0] {
            assert!(
                tone > 100.0 * goertzel_power(middle, 48_000, neighbour),
                "{name}: {neighbour} Hz"
            );
        }
        let level = rms(middle) / (0.5 / 2f64.sqrt()) / case.level;
        assert!((0.9..1.1).contains(&level), "{name}: level {level:.3}");
    }
}

/// The same at the speech-recognition rate, through the resampler.
#[test]
fn files_decode_at_16k() {
    for case in &CASES {
        let audio = decode_to_mono(&read(case.file), PcmHint::None, 16_000).unwrap();
        let expected = (case.seconds * 16_000.0).round() as usize;
        assert!(
            audio.samples.len().abs_diff(expected) < 160,
            "{}: {} samples",
            case.file,
            audio.samples.len()
        );
    }
}

#[test]
fn long_opus_is_refused_by_the_limit() {
    let limits = DecodeLimits { max_seconds: 1.0 };
    for file in ["sine440-44k-opusenc.opus", "sine440-48k-ffmpeg.webm"] {
        assert!(matches!(
            decode_to_mono_with_limits(&read(file), PcmHint::None, 16_000, limits),
            Err(MediaError::TooLong { .. })
        ));
    }
}

/// A file cut short decodes as far as it goes, flagged truncated, and what it gives is the
/// start of the whole file's audio. (Ogg checks whole pages, and opusenc writes pages of up
/// to a second, so an early cut can leave nothing to decode: that is an error, not a panic.)
#[test]
fn cut_files_decode_as_far_as_they_go() {
    for file in [
        "sine440-44k-opusenc.opus",
        "sine440-48k-stereo-ffmpeg.ogg",
        "sine440-48k-ffmpeg.webm",
        "sine440-48k-ffmpeg-live.webm",
        "sense-0880-16k-ffmpeg.webm",
    ] {
        let bytes = read(file);
        let full = decode_to_mono(&bytes, PcmHint::None, 48_000).unwrap();
        for tenths in [3, 6, 9] {
            let cut = &bytes[..bytes.len() * tenths / 10];
            let audio = match decode_to_mono(cut, PcmHint::None, 48_000) {
                Ok(audio) => audio,
                Err(MediaError::Undecodable { reason }) if tenths < 9 => {
                    assert!(!reason.starts_with(PANIC_REASON), "{file}: {reason}");
                    continue;
                }
                Err(err) => panic!("{file} cut at {tenths}/10: {err}"),
            };
            assert!(audio.truncated, "{file}");
            let share = audio.samples.len() as f64 / full.samples.len() as f64;
            assert!(
                share < tenths as f64 / 10.0 + 0.1 && (tenths < 9 || share > 0.6),
                "{file} cut at {tenths}/10: {share:.2} of the audio"
            );
            assert_eq!(
                Some(&audio.samples[..]),
                full.samples.get(..audio.samples.len()),
                "{file}: not a prefix"
            );
        }
    }
}

/// Browsers' MediaRecorder writes WebM whose segment and clusters have no size: the file
/// ends where the recording stopped. Such a file is whole, not truncated, and its
/// `DiscardPadding` still applies.
#[test]
fn webm_without_sizes_is_complete() {
    let mut bytes = read("sine440-48k-ffmpeg-live.webm");
    let clusters: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, id)| *id == [0x1F, 0x43, 0xB6, 0x75])
        .map(|(at, _)| at)
        .collect();
    assert_eq!(clusters.len(), 2);
    for at in clusters {
        // Keep the size field's length, set all its value bits: "unknown".
        let len = bytes[at + 4].leading_zeros() as usize + 1;
        bytes[at + 4] = 0xFF >> (len - 1);
        bytes[at + 5..at + 4 + len].fill(0xFF);
    }
    let audio = decode_to_mono(&bytes, PcmHint::None, 48_000).unwrap();
    assert!(!audio.truncated);
    assert_eq!(audio.samples.len(), 72_000);
    let cut = decode_to_mono(&bytes[..bytes.len() - 10], PcmHint::None, 48_000).unwrap();
    assert!(cut.truncated);
}

/// Streamed synthesis at 22.05 kHz (the TTS voice's rate) through the Ogg Opus writer comes
/// back at 24 kHz (the API's rate) with its length.
#[test]
fn streamed_ogg_opus_round_trips() {
    let rate = 22_050;
    let tone: Vec<f32> = (0..33_075)
        .map(|i| 0.5 * (TAU * 440.0 * f64::from(i) / f64::from(rate)).sin() as f32)
        .collect();
    let mut writer = OggOpusWriter::new(rate).unwrap();
    let mut bytes = Vec::new();
    for chunk in tone.chunks(2_205) {
        writer.push(chunk, &mut bytes).unwrap();
        writer.flush_page(&mut bytes);
    }
    writer.finish(&mut bytes).unwrap();
    let audio = decode_to_mono(&bytes, PcmHint::None, 24_000).unwrap();
    assert_eq!(audio.container, Container::Ogg);
    assert_eq!(audio.samples.len(), 36_000);
    let middle = &audio.samples[2_400..33_600];
    assert!(goertzel_power(middle, 24_000, 440.0) > 100.0 * goertzel_power(middle, 24_000, 480.0));
}

/// Thousands of damaged copies (bytes flipped, mostly in the headers, and cuts at random
/// offsets): errors are fine, panics are not, not even caught ones.
#[test]
fn damaged_files_never_panic() {
    let mut originals: Vec<Vec<u8>> = CASES.iter().map(|case| read(case.file)).collect();
    originals.push(mka1_media::encode_ogg_opus(&vec![0.1; 8_000], 16_000).unwrap());
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % bound.max(1) as u64) as usize
    };
    let (mut decoded, mut refused) = (0, 0);
    let mut caught = Vec::new();
    for round in 0..2_100 {
        let original = &originals[round % originals.len()];
        let mut bytes = original.clone();
        let flips = next(6);
        for _ in 0..flips {
            let span = if next(3) == 0 { bytes.len() } else { 300 };
            let at = next(span);
            if let Some(byte) = bytes.get_mut(at) {
                *byte = next(256) as u8;
            }
        }
        if flips == 0 || next(2) == 0 {
            bytes.truncate(next(original.len()));
        }
        match decode_to_mono(&bytes, PcmHint::None, 48_000) {
            Ok(_) => decoded += 1,
            Err(MediaError::Undecodable { reason }) if reason.starts_with(PANIC_REASON) => {
                caught.push(reason);
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("damaged Opus/WebM/MP4 files: {decoded} decoded, {refused} refused");
    assert!(caught.is_empty(), "panics: {caught:?}");
    assert!(decoded > 0 && refused > 0);
}
