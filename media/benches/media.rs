//! Media hot paths on one core, reported per 10 s of audio so the figures convert
//! directly to "× real time": 10 s / time per iteration. See BENCHMARKS.md.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mka1_media::encode::{AudioFormat, encode_all};
use mka1_media::opus::FRAME_SAMPLES;
use mka1_media::{
    OpusDecoder, OpusEncoder, OpusEncoderConfig, PcmHint, SileroVad, StreamResampler,
    decode_to_mono, resample,
};

const SECONDS: usize = 10;

/// Ten seconds of real speech at 16 kHz (the LibriVox samples, concatenated).
fn speech_16k() -> Vec<f32> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/librivox");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names.iter().cycle() {
        let a = decode_to_mono(&std::fs::read(p).unwrap(), PcmHint::None, 16_000).unwrap();
        out.extend(a.samples);
        if out.len() >= SECONDS * 16_000 {
            break;
        }
    }
    out.truncate(SECONDS * 16_000);
    out
}

fn decode(c: &mut Criterion) {
    let speech = speech_16k();
    let wav = encode_all(AudioFormat::Wav, &speech, 16_000, 0).unwrap();
    let flac = encode_all(AudioFormat::Flac, &speech, 16_000, 0).unwrap();
    let mp3 = encode_all(AudioFormat::Mp3, &speech, 16_000, 64).unwrap();
    let mut g = c.benchmark_group("decode_10s_to_16k");
    for (name, bytes) in [("wav", &wav), ("flac", &flac), ("mp3", &mp3)] {
        g.bench_function(name, |b| {
            b.iter(|| decode_to_mono(black_box(bytes), PcmHint::None, 16_000).unwrap())
        });
    }
    g.finish();
}

fn resample_whole(c: &mut Criterion) {
    let speech = speech_16k();
    let at48 = resample(&speech, 16_000, 48_000).unwrap();
    let mut g = c.benchmark_group("resample_10s");
    g.bench_function("48k_to_16k", |b| {
        b.iter(|| resample(black_box(&at48), 48_000, 16_000).unwrap())
    });
    g.bench_function("16k_to_24k", |b| {
        b.iter(|| resample(black_box(&speech), 16_000, 24_000).unwrap())
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let speech = speech_16k();
    let at24 = resample(&speech, 16_000, 24_000).unwrap();
    let mut g = c.benchmark_group("encode_10s_24k");
    g.bench_function("mp3_96k", |b| {
        b.iter(|| encode_all(AudioFormat::Mp3, black_box(&at24), 24_000, 96).unwrap())
    });
    g.bench_function("wav", |b| {
        b.iter(|| encode_all(AudioFormat::Wav, black_box(&at24), 24_000, 0).unwrap())
    });
    g.finish();
}

fn stream_resample(c: &mut Criterion) {
    let at48 = resample(&speech_16k(), 16_000, 48_000).unwrap();
    let mut g = c.benchmark_group("stream_resample_10s_20ms_chunks");
    for (from, to, input) in [
        (48_000, 16_000, at48.clone()),
        (24_000, 48_000, resample(&at48, 48_000, 24_000).unwrap()),
    ] {
        let mut rs = StreamResampler::new(from, to).unwrap();
        let chunk = from as usize / 50;
        let mut out = Vec::with_capacity(rs.max_output_frames(chunk));
        g.bench_function(format!("{}k_to_{}k", from / 1000, to / 1000), |b| {
            b.iter(|| {
                for frame in input.chunks(chunk) {
                    out.clear();
                    rs.process(black_box(frame), &mut out).unwrap();
                }
                rs.reset();
            })
        });
    }
    g.finish();
}

fn opus(c: &mut Criterion) {
    let at48 = resample(&speech_16k(), 16_000, 48_000).unwrap();
    let mut enc = OpusEncoder::new().unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut packet = [0u8; 1500];
    let mut pcm = vec![0f32; FRAME_SAMPLES];
    let packets: Vec<Vec<u8>> = at48
        .chunks_exact(FRAME_SAMPLES)
        .map(|f| {
            let n = enc.encode_frame(f, &mut packet).unwrap();
            packet[..n].to_vec()
        })
        .collect();
    let mut g = c.benchmark_group("opus_10s_48k_20ms_frames");
    for complexity in [0u8, 3, 5, 8, 10] {
        let mut enc = OpusEncoder::with_config(OpusEncoderConfig {
            complexity,
            ..OpusEncoderConfig::default()
        })
        .unwrap();
        g.bench_function(format!("encode_voip_fec_complexity_{complexity}"), |b| {
            b.iter(|| {
                for f in at48.chunks_exact(FRAME_SAMPLES) {
                    black_box(enc.encode_frame(f, &mut packet).unwrap());
                }
            })
        });
    }
    g.bench_function("decode", |b| {
        b.iter(|| {
            for p in &packets {
                black_box(dec.decode(p, &mut pcm).unwrap());
            }
        })
    });
    g.bench_function("encode_and_decode", |b| {
        b.iter(|| {
            for f in at48.chunks_exact(FRAME_SAMPLES) {
                let n = enc.encode_frame(f, &mut packet).unwrap();
                black_box(dec.decode(&packet[..n], &mut pcm).unwrap());
            }
        })
    });
    g.finish();
}

fn vad(c: &mut Criterion) {
    let speech = speech_16k();
    let vad = SileroVad::from_env().expect("VAD model: run `mka1-voice models install`");
    let mut stream = vad.stream();
    let mut probs = Vec::with_capacity(400);
    c.bench_function("vad_silero_10s_16k_one_thread", |b| {
        b.iter(|| {
            probs.clear();
            stream.push(black_box(&speech), &mut probs).unwrap();
            stream.reset();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decode, resample_whole, stream_resample, encode, opus, vad
}
criterion_main!(benches);
