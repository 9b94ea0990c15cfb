//! Piper joe-medium: time to the first chunk of audio and whole-paragraph synthesis, with
//! one and two ONNX Runtime intra-op threads. The paragraph's audio duration is printed
//! once, so its time converts to a real-time factor. See BENCHMARKS.md, and
//! `tts/benches/piper_compare.py` for the side-by-side run against piper-tts.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mka1_models::ModelsDir;
use mka1_tts::{JOE, PiperVoice, SAMPLE_RATE, SynthesisOptions, VoiceOptions};

include!("common/texts.rs");

fn voice(threads: usize) -> PiperVoice {
    let dir = ModelsDir::from_env().unwrap();
    PiperVoice::load(
        &JOE,
        &dir,
        &VoiceOptions::default().with_intra_threads(threads),
    )
    .unwrap_or_else(|e| panic!("{e} (run `make models`)"))
}

fn first_chunk(voice: &PiperVoice, text: &str) -> usize {
    let mut samples = 0;
    voice
        .synthesize_each(text, &SynthesisOptions::default(), |chunk| {
            samples = chunk.samples_24k.len();
            ControlFlow::Break(())
        })
        .unwrap();
    samples
}

fn bench(c: &mut Criterion) {
    for threads in [1, 2] {
        let voice = voice(threads);
        let mut group = c.benchmark_group(format!("tts_threads_{threads}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        group.bench_function("first_chunk_short", |b| {
            b.iter(|| first_chunk(&voice, black_box(SHORT)))
        });
        group.bench_function("first_chunk_ten_words", |b| {
            b.iter(|| first_chunk(&voice, black_box(TEN_WORDS)))
        });
        let audio = voice.synthesize(PARAGRAPH).unwrap();
        eprintln!(
            "paragraph: {:.2} s of audio (divide its time by this for the real-time factor)",
            audio.len() as f64 / f64::from(SAMPLE_RATE)
        );
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(30));
        group.bench_function("paragraph", |b| {
            b.iter(|| voice.synthesize(black_box(PARAGRAPH)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
