//! Prints the phonemes and phoneme ids this crate gives the voice for each line of stdin,
//! one JSON object per line, grouped by sentence as Piper groups them
//! (`tts/benches/piper_compare.py` compares them with piper-tts's).
//!
//! `cargo run --release -p mka1-tts --example phoneme_ids < sentences.txt`

use std::io::BufRead;

use mka1_tts::text::normalize_text;
use mka1_tts::{Chunking, JOE, PiperVoice, TtsError};

fn main() -> Result<(), TtsError> {
    let voice = PiperVoice::from_env(&JOE)?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let phonemes = voice.phonemes(&line, Chunking::Sentence)?;
        let ids: Vec<Vec<i64>> = phonemes
            .iter()
            .map(|p| voice.config().phoneme_ids(p))
            .collect();
        let json = serde_json::json!({
            "text": line,
            "normalized": normalize_text(&line),
            "phonemes": phonemes,
            "ids": ids,
        });
        println!("{json}");
    }
    Ok(())
}
