//! TTS → STT round trip: sentences with numbers, money, abbreviations, dates, times and
//! an address are synthesized, transcribed back by Whisper, and compared word by word.
//!
//! Both the reference and Whisper's text go through the same normaliser before the word
//! error rate is computed, so "$3.50" and "three dollars and fifty cents" count as the
//! same words: the test checks that what the voice says is heard as what was written.
#![allow(clippy::unwrap_used)]

mod common;

use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};
use mka1_tts::SAMPLE_RATE;
use mka1_tts::text::normalize_text;

const SENTENCES: [&str; 10] = [
    "Dr. Smith lives on Main St. with his two dogs.",
    "The ticket costs $3.50 and the train leaves at 3:30 pm.",
    "We met on March 15, 2024 in the old library.",
    "About 25% of the 1,234 people voted for the new park.",
    "Please send the report to john@example.com by Friday.",
    "Mr. and Mrs. Jones paid $1,200 for their 2nd car.",
    "The water was 3.5 meters deep, e.g. too deep to stand.",
    "In 1999, the company had 42 employees and three offices.",
    "**Note:** the meeting moved to the 3rd floor.",
    "She finished the race in first place on a sunny afternoon.",
];

/// The Whisper model the round trip uses: base is more accurate than tiny.en on digits.
const STT_MODEL: ModelId = ModelId::Base;

#[test]
fn synthesized_speech_transcribes_back_within_five_percent_wer() {
    let voice = common::voice();
    let dir = common::models();
    let whisper = WhisperModel::load(STT_MODEL, &STT_MODEL.ggml_path(&dir))
        .unwrap_or_else(|e| panic!("{e}\n(run `make models` first)"));
    let options = TranscribeOptions {
        language: Some("en".into()),
        ..TranscribeOptions::default()
    };
    let (mut errors, mut words) = (0, 0);
    let mut report = String::new();
    for sentence in SENTENCES {
        let audio = voice.synthesize(sentence).unwrap();
        assert!(
            audio.len() > SAMPLE_RATE as usize / 2,
            "{sentence}: too short"
        );
        let pcm16k = mka1_media::resample(&audio, SAMPLE_RATE, 16_000).unwrap();
        let heard = whisper.transcribe(&pcm16k, &options).unwrap().text;
        let reference = normalize(&normalize_text(sentence));
        let hypothesis = normalize(&normalize_text(&heard));
        let e = word_errors(&reference, &hypothesis);
        errors += e;
        words += reference.len();
        report += &format!("\n  [{e} errors] {sentence}\n      heard: {heard}");
    }
    let wer = errors as f64 / words as f64;
    eprintln!(
        "round trip with {}: WER {wer:.3} ({errors}/{words}){report}",
        STT_MODEL.as_str()
    );
    assert!(wer <= 0.05, "WER {wer:.3} over {words} words{report}");
}
