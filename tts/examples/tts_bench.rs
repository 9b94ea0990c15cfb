//! Latency and speed of the Piper voice, printed as one JSON object (the Rust side of
//! `tts/benches/piper_compare.py`; `cargo bench -p mka1-tts` has the criterion version).
//!
//! `cargo run --release -p mka1-tts --example tts_bench -- [--threads N] [--runs N]`
//!
//! - `first_chunk_ms`: from the call to the first chunk of audio (espeak-ng, the voice,
//!   resampling to 24 kHz), for a short clause and a ten-word clause;
//! - `rtf`: synthesis time of a whole paragraph divided by its audio duration.
//!
//! Each figure is the median of `runs` runs after two warm-up runs.

use std::ops::ControlFlow;
use std::time::Instant;

use mka1_models::ModelsDir;
use mka1_tts::{Chunking, JOE, PiperVoice, SAMPLE_RATE, SynthesisOptions, TtsError, VoiceOptions};

// The texts of the benchmark (the Python side uses the same).
include!("../benches/common/texts.rs");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn first_chunk_ms(
    voice: &PiperVoice,
    text: &str,
    options: &SynthesisOptions,
) -> Result<f64, TtsError> {
    let start = Instant::now();
    let mut elapsed = 0.0;
    voice.synthesize_each(text, options, |_| {
        elapsed = start.elapsed().as_secs_f64() * 1000.0;
        ControlFlow::Break(())
    })?;
    Ok(elapsed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut threads = 1usize;
    let mut runs = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let runs = runs.max(1);
    let dir = ModelsDir::from_env()?;
    let voice = PiperVoice::load(
        &JOE,
        &dir,
        &VoiceOptions::default().with_intra_threads(threads),
    )?;
    let mut report = serde_json::Map::new();
    report.insert("threads".into(), threads.into());
    report.insert(
        "texts".into(),
        serde_json::json!({ "short": SHORT, "ten_words": TEN_WORDS, "paragraph": PARAGRAPH }),
    );
    report.insert("runs".into(), runs.into());
    for (name, text) in [("short", SHORT), ("ten_words", TEN_WORDS)] {
        let options = SynthesisOptions::default();
        let mut times = Vec::new();
        for i in 0..runs + 2 {
            let t = first_chunk_ms(&voice, text, &options)?;
            if i >= 2 {
                times.push(t);
            }
        }
        report.insert(format!("first_chunk_ms_{name}"), median(times).into());
    }
    for (name, chunking) in [
        ("clause", Chunking::Clause),
        ("sentence", Chunking::Sentence),
    ] {
        let options = SynthesisOptions::default().with_chunking(chunking);
        let mut times = Vec::new();
        let mut audio_s = 0.0;
        for i in 0..runs + 2 {
            let start = Instant::now();
            let audio = voice.synthesize_with(PARAGRAPH, &options)?;
            let t = start.elapsed().as_secs_f64();
            audio_s = audio.len() as f64 / f64::from(SAMPLE_RATE);
            if i >= 2 {
                times.push(t);
            }
        }
        let t = median(times);
        report.insert(format!("paragraph_s_{name}"), t.into());
        report.insert(format!("paragraph_audio_s_{name}"), audio_s.into());
        report.insert(format!("rtf_{name}"), (t / audio_s).into());
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
