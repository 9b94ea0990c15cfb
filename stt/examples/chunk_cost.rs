//! What a second of audio costs to decode by chunk length, and the minute of the peers
//! benchmark decoded in chunks against whisper's 30 s windows:
//! `cargo run --release -p mka1-stt --example chunk_cost [-- threads]` (default 2). Needs
//! the benchmark clip (`bench/peers/make-clips.sh`, run by `make bench-peers`) and the
//! provisioned tiny.en. The figures behind `stt/src/engine/split.rs` (BENCHMARKS.md,
//! "Long input in chunks").
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};

const RATE: usize = 16_000;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let dir = ModelsDir::from_env().unwrap();
    let model = WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(&dir)).unwrap();
    let clips = std::env::var("MKA1_PEERS_DIR")
        .unwrap_or_else(|_| format!("{}/.cache/mka1-voice/peers", std::env::var("HOME").unwrap()))
        + "/clips";
    let wav = std::fs::read(format!("{clips}/clip-60s.wav"))
        .unwrap_or_else(|e| panic!("{clips}/clip-60s.wav: {e} (run bench/peers/make-clips.sh)"));
    let pcm = decode_to_mono(&wav, PcmHint::None, 16_000).unwrap().samples;
    let reference = normalize(&std::fs::read_to_string(format!("{clips}/clip-60s.txt")).unwrap());
    let opts = |full_window| TranscribeOptions {
        language: Some("en".into()),
        threads: Some(threads),
        full_window,
        ..Default::default()
    };
    // Warm-up: the first decode allocates the state's buffers.
    model.transcribe(&pcm[..5 * RATE], &opts(false)).unwrap();
    println!("tiny.en, {threads} threads, best of 2 (one decode of the clip's first N seconds)");
    println!("| chunk | decode | per second of audio | path |");
    println!("|---:|---:|---:|---|");
    for seconds in [5usize, 10, 12, 15, 20, 25, 28] {
        let audio = &pcm[..seconds * RATE];
        let mut best = f64::MAX;
        let mut path = String::new();
        for _ in 0..2 {
            let started = Instant::now();
            path = format!(
                "{:?}",
                model.transcribe(audio, &opts(false)).unwrap().decode_path
            );
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "| {seconds} s | {:.0} ms | {:.1} ms | {path} |",
            best * 1000.0,
            best * 1000.0 / seconds as f64
        );
    }
    println!("\nthe whole minute, alternated, 2 runs each");
    println!("| decode | run | time | WER |");
    println!("|---|---:|---:|---:|");
    for run in 1..=2 {
        for full_window in [false, true] {
            let started = Instant::now();
            let t = model.transcribe(&pcm, &opts(full_window)).unwrap();
            let took = started.elapsed().as_secs_f64();
            let wer = word_errors(&reference, &normalize(&t.text)) as f64 / reference.len() as f64;
            println!(
                "| {:?} | {run} | {took:.2} s | {:.1} % |",
                t.decode_path,
                wer * 100.0
            );
        }
    }
}
