//! Whisper transcription latency: the trimmed fast path (default) against the full 30 s
//! window (what every call cost before), on real speech of 3, 7, 10 and 60 s.
//!
//! One whisper thread by default, like the other benches here: on a shared 2-core machine
//! whisper's spinning worker threads make multi-threaded figures swing tenfold with other
//! load. `MKA1_STT_BENCH_THREADS=2` measures with two.
//!
//! `cargo bench -p mka1-stt --bench transcribe` (needs `make models`).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};

fn pcm(relative: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(relative);
    decode_to_mono(&std::fs::read(path).unwrap(), PcmHint::None, 16_000)
        .unwrap()
        .samples
}

/// Clips joined with 0.4 s of silence.
fn joined(files: &[&str]) -> Vec<f32> {
    let mut out = Vec::new();
    for f in files {
        if !out.is_empty() {
            out.extend(std::iter::repeat_n(0.0, 6_400));
        }
        out.extend(pcm(f));
    }
    out
}

/// The inputs: name and 16 kHz samples.
fn inputs() -> Vec<(&'static str, Vec<f32>)> {
    let ten = joined(&[
        "librivox/sense-0880.wav",
        "asterisk/tt-weasels-8k.wav",
        "librivox/sense-0930.wav",
    ]);
    let mut sixty = Vec::new();
    while sixty.len() < 60 * 16_000 {
        sixty.extend(joined(&[
            "librivox/sense-0870.wav",
            "librivox/sense-0880.wav",
            "librivox/sense-0890.wav",
            "librivox/sense-0920.wav",
            "librivox/sense-0930.wav",
            "asterisk/ss-noservice-8k-u8.wav",
        ]));
        sixty.extend(std::iter::repeat_n(0.0, 6_400));
    }
    vec![
        ("3s", pcm("librivox/sense-0880.wav")),
        ("7s", pcm("librivox/sense-0870.wav")),
        ("10s", ten),
        ("60s", sixty),
    ]
}

fn load(model: ModelId) -> WhisperModel {
    let dir = ModelsDir::from_env().unwrap();
    WhisperModel::load(model, &model.ggml_path(&dir)).unwrap()
}

fn bench_model(c: &mut Criterion, model: ModelId, lengths: &[&str]) {
    let engine = load(model);
    let mut g = c.benchmark_group(format!("transcribe_{}", model.as_str()));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    let threads = std::env::var("MKA1_STT_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let english = TranscribeOptions {
        language: Some("en".into()),
        threads: Some(threads),
        ..Default::default()
    };
    for (name, audio) in inputs().iter().filter(|(n, _)| lengths.contains(n)) {
        let variants = [
            ("trimmed", english.clone()),
            (
                "full_window",
                TranscribeOptions {
                    full_window: true,
                    ..english.clone()
                },
            ),
            (
                "trimmed_words",
                TranscribeOptions {
                    word_timestamps: true,
                    ..english.clone()
                },
            ),
            (
                "trimmed_detect_language",
                TranscribeOptions {
                    language: None,
                    ..english.clone()
                },
            ),
        ];
        for (variant, opts) in &variants {
            // Long input takes the windowed path either way; detection is the base model's.
            if (*name == "60s" && *variant != "trimmed")
                || (*variant == "trimmed_detect_language" && !model.is_multilingual())
            {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(*variant, name), audio, |b, audio| {
                b.iter(|| engine.transcribe(black_box(audio), opts).unwrap())
            });
        }
    }
    g.finish();
}

fn tiny_en(c: &mut Criterion) {
    bench_model(c, ModelId::TinyEn, &["3s", "7s", "10s", "60s"]);
}

fn base(c: &mut Criterion) {
    bench_model(c, ModelId::Base, &["3s", "7s", "10s"]);
}

criterion_group!(benches, tiny_en, base);
criterion_main!(benches);
