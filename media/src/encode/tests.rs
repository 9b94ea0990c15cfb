//! Round trips: every writer's output decodes back (through our own decoder) to the same
//! duration and the same tone.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::test_signal::{dominant_of, sine};
use crate::{PcmHint, decode_to_mono};

const RATE: u32 = 24_000;

fn tone() -> Vec<f32> {
    sine(440.0, RATE, RATE as usize, 0.5)
}

fn assert_tone(samples: &[f32], rate: u32) {
    assert_eq!(dominant_of(samples, rate, &[400.0, 440.0, 480.0]), 440.0);
}

#[test]
fn wav_round_trip_is_exact_to_one_lsb() {
    let src = tone();
    let bytes = encode_wav(&src, RATE);
    assert_eq!(bytes.len(), 44 + src.len() * 2);
    let back = decode_to_mono(&bytes, PcmHint::None, RATE).unwrap();
    assert_eq!(back.samples.len(), src.len());
    assert!(!back.truncated);
    let max_err = src
        .iter()
        .zip(&back.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max_err <= 1.0 / 32767.0 + 1e-6, "{max_err}");
}

#[test]
fn streamed_wav_of_unknown_length_decodes() {
    let src = tone();
    let mut enc = WavStreamEncoder::new(RATE);
    let mut bytes = Vec::new();
    for chunk in src.chunks(333) {
        enc.push(chunk, &mut bytes).unwrap();
    }
    enc.finish(&mut bytes).unwrap();
    assert_eq!(&bytes[40..44], &[0xFF; 4], "data size says unknown");
    let back = decode_to_mono(&bytes, PcmHint::None, RATE).unwrap();
    assert_eq!(back.samples.len(), src.len());
    assert_tone(&back.samples, RATE);

    let mut empty = Vec::new();
    WavStreamEncoder::new(RATE).finish(&mut empty).unwrap();
    assert_eq!(empty.len(), 44);
}

#[test]
fn raw_pcm_round_trip() {
    let src = tone();
    let bytes = encode_all(AudioFormat::Pcm, &src, RATE, 0).unwrap();
    assert_eq!(bytes.len(), src.len() * 2);
    let back = decode_to_mono(&bytes, PcmHint::RawS16le { sample_rate: RATE }, RATE).unwrap();
    assert_eq!(back.samples.len(), src.len());
    assert_tone(&back.samples, RATE);
}

#[test]
fn pcm_clamps_and_silences_nan() {
    let mut out = Vec::new();
    f32_to_s16le(&[2.0, -2.0, f32::NAN, 0.5], &mut out);
    let v: Vec<i16> = out
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(v, vec![32767, -32767, 0, 16384]);
}

#[test]
fn mp3_round_trip_keeps_tone_and_length() {
    let src = tone();
    let mut enc = Mp3StreamEncoder::new(RATE, 96).unwrap();
    let mut bytes = Vec::new();
    for chunk in src.chunks(480) {
        enc.push(chunk, &mut bytes).unwrap();
    }
    enc.finish(&mut bytes).unwrap();
    // 96 kbps for one second.
    assert!((11_000..=13_500).contains(&bytes.len()), "{}", bytes.len());
    let back = decode_to_mono(&bytes, PcmHint::None, RATE).unwrap();
    assert_eq!(back.container, crate::Container::Mp3);
    assert_tone(&back.samples, RATE);
    // Without a gapless header, MP3 adds encoder delay and frame padding (< 2 frames).
    let extra = back.samples.len() as i64 - src.len() as i64;
    assert!((0..=2 * 1152).contains(&extra), "{extra}");
}

#[test]
fn flac_round_trip_is_exact_to_one_lsb() {
    let src = tone();
    let bytes = encode_all(AudioFormat::Flac, &src, RATE, 0).unwrap();
    assert!(bytes.starts_with(b"fLaC"));
    assert!(bytes.len() < src.len() * 2, "compresses");
    let back = decode_to_mono(&bytes, PcmHint::None, RATE).unwrap();
    assert_eq!(back.container, crate::Container::Flac);
    assert_eq!(back.samples.len(), src.len());
    let max_err = src
        .iter()
        .zip(&back.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max_err <= 1.0 / 32767.0 + 1e-6, "{max_err}");

    let mut streamed = Vec::new();
    let mut enc = stream_encoder(AudioFormat::Flac, RATE, 0).unwrap();
    for chunk in src.chunks(1000) {
        enc.push(chunk, &mut streamed).unwrap();
    }
    assert!(streamed.is_empty(), "FLAC is written at the end");
    enc.finish(&mut streamed).unwrap();
    assert_eq!(streamed, bytes);
}

#[test]
fn content_types() {
    assert_eq!(AudioFormat::Mp3.content_type(), "audio/mpeg");
    assert_eq!(AudioFormat::Wav.content_type(), "audio/wav");
}
