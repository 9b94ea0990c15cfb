//! Word timestamps and confidences on real speech: the two-speaker recording has exact
//! turn boundaries (`samples/two-speakers-16k.json`), so every word must land in the turn
//! that says it. Needs the provisioned models (`make models`).
#![allow(clippy::unwrap_used)]

mod engine_common;

use engine_common::{concatenation, engine, pcm, samples_dir};
use mka1_stt::wer::normalize;
use mka1_stt::{ModelId, TranscribeOptions, Transcript};

fn with_words() -> TranscribeOptions {
    TranscribeOptions {
        language: Some("en".into()),
        word_timestamps: true,
        ..Default::default()
    }
}

/// Words in order, inside their segment, spelling the segment's text, with sane figures.
fn check_words_are_consistent(t: &Transcript, audio_ms: u64) {
    let mut previous_end = 0;
    for s in &t.segments {
        assert!(!s.words.is_empty(), "{s:?}");
        let joined: Vec<String> = s.words.iter().flat_map(|w| normalize(&w.text)).collect();
        assert_eq!(joined, normalize(&s.text), "{s:?}");
        for w in &s.words {
            assert!(w.start_ms <= w.end_ms, "{w:?}");
            assert!(
                w.start_ms >= s.start_ms && w.end_ms <= s.end_ms,
                "{w:?} in {s:?}"
            );
            assert!(
                w.start_ms + 10 >= previous_end,
                "{w:?} after {previous_end}"
            );
            assert!(w.end_ms <= audio_ms, "{w:?}");
            assert!((0.0..=1.0).contains(&w.probability), "{w:?}");
            assert!(!w.text.starts_with(' ') && !w.text.is_empty(), "{w:?}");
            previous_end = w.end_ms;
        }
    }
    assert!(
        t.confidence > 0.3 && t.confidence <= 1.0,
        "{}",
        t.confidence
    );
}

#[test]
fn every_word_lands_in_the_turn_that_says_it() {
    let audio = pcm("two-speakers-16k.wav");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(samples_dir().join("two-speakers-16k.json")).unwrap(),
    )
    .unwrap();
    let turns: Vec<(u64, u64, Vec<String>)> = json["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["start_ms"].as_u64().unwrap(),
                t["end_ms"].as_u64().unwrap(),
                normalize(t["text"].as_str().unwrap()),
            )
        })
        .collect();
    for model in ModelId::ALL {
        let t = engine(model).transcribe(&audio, &with_words()).unwrap();
        check_words_are_consistent(&t, audio.len() as u64 / 16);
        let words: Vec<_> = t.segments.iter().flat_map(|s| &s.words).collect();
        let mut placed = 0;
        for w in &words {
            // Whisper's token timing is approximate: a word's middle must fall within its
            // turn, give or take 300 ms (the silences between turns are 600 ms).
            let middle = (w.start_ms + w.end_ms) / 2;
            let turn = turns
                .iter()
                .find(|(start, end, _)| middle + 300 >= *start && middle <= end + 300)
                .unwrap_or_else(|| panic!("{model}: {w:?} is in no turn"));
            // The word (or its first part, "ill-disposed") belongs to that turn's text.
            let key = normalize(&w.text);
            if key.first().is_some_and(|k| turn.2.contains(k)) {
                placed += 1;
            }
        }
        // A misheard word ("old-sposed") cannot be matched; all others must be.
        assert!(
            placed + 2 >= words.len(),
            "{model}: {placed} of {} placed: {words:?}",
            words.len()
        );
        assert!(words.len() >= 18, "{model}: {words:?}");
    }
}

#[test]
fn words_are_only_computed_when_asked() {
    let audio = pcm("librivox/sense-0920.wav");
    let t = engine(ModelId::TinyEn)
        .transcribe(
            &audio,
            &TranscribeOptions {
                language: Some("en".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!t.segments.is_empty());
    assert!(t.segments.iter().all(|s| s.words.is_empty()));
    let with = engine(ModelId::TinyEn)
        .transcribe(&audio, &with_words())
        .unwrap();
    assert_eq!(with.text, t.text);
    check_words_are_consistent(&with, audio.len() as u64 / 16);
}

#[test]
fn long_input_has_word_timestamps_in_every_window() {
    let (audio, _) = concatenation(45.0, 500);
    let t = engine(ModelId::TinyEn)
        .transcribe(&audio, &with_words())
        .unwrap();
    check_words_are_consistent(&t, audio.len() as u64 / 16);
    let last = t.segments.last().unwrap();
    // The last words are in the last window, not folded back into the first.
    assert!(last.end_ms > 35_000, "{last:?}");
}
