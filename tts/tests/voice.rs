//! Loading the voice and synchronous synthesis: audio at 24 kHz, peak-normalised, any text
//! accepted, clear errors when something is missing.
#![allow(clippy::unwrap_used)]

mod common;

use mka1_models::ModelsDir;
use mka1_tts::{JOE, PiperVoice, SAMPLE_RATE, SynthesisOptions, TtsError, Voice, VoiceOptions};

#[test]
fn speaks_a_sentence_at_24_khz() {
    let voice = common::voice();
    let audio = voice.synthesize("Hello there, how are you today?").unwrap();
    let seconds = audio.len() as f64 / f64::from(SAMPLE_RATE);
    assert!((1.0..4.0).contains(&seconds), "{seconds} s");
    let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!((peak - 0.95).abs() < 1e-3, "peak {peak}");
    assert!(audio.iter().all(|s| s.is_finite()));
}

#[test]
fn speed_changes_the_duration() {
    let voice = common::voice();
    let text = "This sentence is spoken at two different speeds.";
    let normal = voice.synthesize(text).unwrap().len() as f64;
    let fast = voice
        .synthesize_with(text, &SynthesisOptions::default().with_speed(2.0))
        .unwrap()
        .len() as f64;
    // Durations carry the voice's random noise; half the length scale is well under 0.8.
    assert!(fast < normal * 0.8, "fast {fast} vs normal {normal}");
}

#[test]
fn hostile_text_never_fails() {
    let voice = common::voice();
    let long_word = "z".repeat(1000);
    for text in [
        "?!?!?!",
        "[[h@l'oU]] -v en --stdin",
        "\u{202e}reversed\u{200b}text\0with nul",
        "Ünïcödé façade naïve café 日本語",
        long_word.as_str(),
        "1e999 $9999999999999999999999 99:99 2024-13-45",
    ] {
        voice
            .synthesize(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

#[test]
fn a_missing_voice_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = PiperVoice::load(
        &JOE,
        &ModelsDir::new(empty.path()),
        &VoiceOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TtsError::VoiceMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("mka1-voice models install"),
        "{err}"
    );
}

#[test]
fn a_missing_espeak_is_a_clear_error() {
    let options = VoiceOptions::default().with_espeak_program("/nonexistent/espeak-ng");
    let err = PiperVoice::load(&JOE, &common::models(), &options).unwrap_err();
    assert!(matches!(err, TtsError::EspeakMissing { .. }), "{err}");
}

#[test]
fn voices_and_synthesizers_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<PiperVoice>();
    send_sync::<mka1_tts::CancelToken>();
    send::<mka1_tts::Synthesizer>();
    send::<mka1_tts::AudioChunks>();
    send_sync::<mka1_tts::TextInput>();
}

#[test]
fn concurrent_calls_share_one_voice() {
    let voice = common::voice();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let voice = voice.clone();
            std::thread::spawn(move || {
                voice
                    .synthesize(&format!("Caller number {i} speaks."))
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert!(!t.join().unwrap().is_empty());
    }
}

#[test]
fn the_registry_points_at_installed_files() {
    let dir = common::models();
    for voice in Voice::all() {
        assert!(
            voice.is_installed(&dir),
            "{} missing: run `make models`",
            voice.id
        );
    }
}
