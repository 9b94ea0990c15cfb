//! The pause decode of short spoken questions, with and without the tight context first
//! (`TranscribeOptions::tight_first`, which the agent's sessions use): time, words changed,
//! WER.
//!
//! ```sh
//! cargo run --release -p mka1-voice-agent --example question_decode -- [--variants 4]
//! ```
//! 25 questions said by the project's voice (Piper samples its timing, so every variant
//! is a different recording), trailing silence cut, and the five LibriVox clips of
//! `samples/`; tiny.en, 2 threads, best of 2 per clip. `RUST_LOG=mka1_stt=debug` shows
//! each tight try that was decoded again.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use mka1_media::{PcmHint, decode_to_mono, resample};
use mka1_models::ModelsDir;
use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};
use support::{arg, percentile};

const QUESTIONS: [&str; 25] = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What color is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "Thank you very much.",
    "Tell me a joke.",
    "Yes.",
    "No.",
    "Book a table for two at seven tonight.",
    "What's the weather like in Berlin tomorrow?",
    "Turn off the kitchen lights.",
    "How far away is the moon?",
    "I need to change my flight to Monday.",
    "Play some relaxing music.",
    "Who wrote Pride and Prejudice?",
    "Set a timer for ten minutes.",
    "What time is it in Tokyo?",
    "Remind me to call my mother at five.",
    "How do I reset my password?",
    "Tell me more.",
    "Why is the ocean salty?",
    "Is anybody there?",
    "That sounds good to me.",
    "What is twelve times fourteen?",
    "What's the news today?",
];

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let variants: usize = arg("--variants").unwrap_or(1);
    let mut clips: Vec<(String, Vec<f32>)> = (0..variants)
        .flat_map(|_| QUESTIONS.iter())
        .map(|q| {
            let audio = support::voiced(&support::speech_48k(q));
            (q.to_string(), resample(&audio, 48_000, 16_000).unwrap())
        })
        .collect();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples");
    for line in std::fs::read_to_string(format!("{samples}/transcripts.tsv"))
        .unwrap()
        .lines()
    {
        let Some((file, text)) = line.split_once('\t') else {
            continue;
        };
        if file.starts_with("librivox/") {
            let bytes = std::fs::read(format!("{samples}/{file}")).unwrap();
            let pcm = decode_to_mono(&bytes, PcmHint::None, 16_000).unwrap();
            clips.push((text.to_owned(), pcm.samples));
        }
    }
    let dir = ModelsDir::from_env().unwrap();
    let model = WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(&dir)).unwrap();
    let mut usual_texts: Vec<Vec<String>> = Vec::new();
    for tight_first in [false, true] {
        let opts = TranscribeOptions {
            language: Some("en".into()),
            threads: Some(2),
            tight_first,
            ..TranscribeOptions::default()
        };
        let (mut errors, mut words, mut changed) = (0, 0, 0);
        let mut times = Vec::new();
        for (i, (reference, pcm)) in clips.iter().enumerate() {
            let mut best = f64::MAX;
            let mut text = String::new();
            for _ in 0..2 {
                let t = Instant::now();
                text = model.transcribe(pcm, &opts).unwrap().text;
                best = best.min(t.elapsed().as_secs_f64() * 1e3);
            }
            times.push(best);
            let (r, h) = (normalize(reference), normalize(&text));
            errors += word_errors(&r, &h);
            words += r.len();
            if tight_first {
                if usual_texts[i] != h {
                    changed += 1;
                    println!(
                        "  changed: {text:?}, usually {:?}",
                        usual_texts[i].join(" ")
                    );
                }
            } else {
                usual_texts.push(h);
            }
        }
        println!(
            "tight first {tight_first}: {} clips, decode p50 {:.0} ms p90 {:.0} ms max {:.0} ms | WER {:.3} | texts changed {changed}",
            clips.len(),
            percentile(&mut times.clone(), 0.5),
            percentile(&mut times.clone(), 0.9),
            percentile(&mut times, 1.0),
            errors as f64 / words as f64,
        );
    }
}
