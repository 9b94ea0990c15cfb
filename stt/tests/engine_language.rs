//! Language: detected by the multilingual model when not given, "en" for the English
//! model, refused when unknown or unsupported. The non-English speech is synthesized by
//! espeak-ng (a system dependency of the project, `make deps`): robotic, but real speech
//! in those languages. Needs the provisioned models (`make models`).
#![allow(clippy::unwrap_used)]

mod engine_common;

use std::process::Command;

use engine_common::{engine, pcm};
use mka1_media::{PcmHint, decode_to_mono};
use mka1_stt::{ModelId, SttError, TranscribeOptions};

/// `text` spoken by espeak-ng's `voice`, at 16 kHz.
fn espeak(voice: &str, text: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (make deps)");
    assert!(status.success());
    let bytes = std::fs::read(&wav).unwrap();
    decode_to_mono(&bytes, PcmHint::None, 16_000)
        .unwrap()
        .samples
}

#[test]
fn english_speech_is_detected_as_english() {
    for file in [
        "librivox/sense-0890.wav",
        "formats/please-try-again-22k-f32.wav",
        "asterisk/tt-weasels-8k.wav",
    ] {
        let audio = pcm(file);
        for model in ModelId::ALL {
            let t = engine(model)
                .transcribe(&audio, &TranscribeOptions::default())
                .unwrap();
            assert_eq!(t.language, "en", "{model} on {file}: {}", t.text);
        }
    }
}

#[test]
fn other_languages_are_detected_by_the_multilingual_model() {
    let speech = [
        (
            "fr",
            "Bonjour à tous. Aujourd'hui, nous allons parler de la météo et des vacances d'été.",
        ),
        (
            "de",
            "Guten Morgen. Heute sprechen wir über das Wetter und die Ferien im Sommer.",
        ),
        (
            "es",
            "Buenos días a todos. Hoy vamos a hablar del tiempo y de las vacaciones de verano.",
        ),
    ];
    for (code, text) in speech {
        let audio = espeak(code, text);
        let t = engine(ModelId::Base)
            .transcribe(&audio, &TranscribeOptions::default())
            .unwrap();
        assert_eq!(t.language, code, "{}", t.text);
        assert!(!t.text.is_empty());
        // Asked for explicitly, the language is kept.
        let t = engine(ModelId::Base)
            .transcribe(
                &audio,
                &TranscribeOptions {
                    language: Some(format!("{code}-XX")),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(t.language, code);
    }
}

#[test]
fn unknown_and_unsupported_languages_are_refused() {
    let audio = pcm("librivox/sense-0930.wav");
    let err = engine(ModelId::TinyEn)
        .transcribe(
            &audio,
            &TranscribeOptions {
                language: Some("fr".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, SttError::LanguageNotSupported { .. }),
        "{err}"
    );
    let err = engine(ModelId::Base)
        .transcribe(
            &audio,
            &TranscribeOptions {
                language: Some("klingon".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, SttError::UnknownLanguage(_)), "{err}");
}
