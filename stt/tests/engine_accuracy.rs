//! The engine's words on real speech, for both models: every sample within 10% WER
//! whichever decode path it takes, the sub-second "goodbye" said once, silence and noise
//! transcribed as nothing, and long input decoded chunk by chunk without a runaway.
//! Needs the provisioned models (`make models`).
#![allow(clippy::unwrap_used)]

mod engine_common;

use engine_common::{concatenation, engine, has_repeated_phrase, noise, pcm, samples};
use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{Cancel, DecodePath, ModelId, SttError, TranscribeOptions};

fn english() -> TranscribeOptions {
    TranscribeOptions {
        language: Some("en".into()),
        ..Default::default()
    }
}

/// Corpus WER over every sample (all formats) must stay within 10%, and no sample may
/// come out with a repeated phrase.
fn every_sample_within_ten_percent(model: ModelId, opts: &TranscribeOptions) {
    let engine = engine(model);
    let (mut errors, mut words) = (0, 0);
    let mut report = String::new();
    for s in samples() {
        let t = engine.transcribe(&s.pcm, opts).unwrap();
        let hyp = normalize(&t.text);
        assert!(!has_repeated_phrase(&hyp), "{}: {}", s.file, t.text);
        assert!((0.0..=1.0).contains(&t.confidence), "{}", t.confidence);
        let r = normalize(&s.reference);
        errors += word_errors(&r, &hyp);
        words += r.len();
        report += &format!("\n  {} [{:?}]: {}", s.file, t.decode_path, t.text);
    }
    let wer = errors as f64 / words as f64;
    eprintln!("{model}: WER {wer:.3} over {words} words{report}");
    assert!(wer <= 0.10, "{model}: WER {wer:.3}{report}");
}

/// What a live turn asks for: the tight context first.
fn live() -> TranscribeOptions {
    TranscribeOptions {
        tight_first: true,
        ..english()
    }
}

#[test]
fn tiny_en_keeps_every_sample_within_ten_percent() {
    every_sample_within_ten_percent(ModelId::TinyEn, &english());
}

#[test]
fn tiny_en_with_the_tight_context_first_keeps_every_sample_within_ten_percent() {
    every_sample_within_ten_percent(ModelId::TinyEn, &live());
}

#[test]
fn the_tight_context_first_reads_a_short_clip_as_the_usual_decode_does() {
    let engine = engine(ModelId::TinyEn);
    for file in [
        "librivox/sense-0930.wav",
        "formats/vm-goodbye-48k-stereo-s24.wav",
    ] {
        let audio = pcm(file);
        let usual = engine.transcribe(&audio, &english()).unwrap();
        let tight = engine.transcribe(&audio, &live()).unwrap();
        assert_eq!(tight.decode_path, DecodePath::Tight, "{file}");
        assert_eq!(usual.decode_path, DecodePath::Trimmed, "{file}");
        assert_eq!(normalize(&tight.text), normalize(&usual.text), "{file}");
    }
    // Too long for a tight try (over 6 s): the usual trimmed decode.
    let (ten, _) = concatenation(10.0, 300);
    let t = engine.transcribe(&ten, &live()).unwrap();
    assert_eq!(t.decode_path, DecodePath::Trimmed);
}

#[test]
fn base_keeps_every_sample_within_ten_percent() {
    every_sample_within_ten_percent(ModelId::Base, &english());
}

#[test]
fn base_with_detected_language_keeps_every_sample_within_ten_percent() {
    every_sample_within_ten_percent(ModelId::Base, &TranscribeOptions::default());
}

#[test]
fn the_short_goodbye_is_said_once() {
    // 0.87 s: the clip that made an unbounded trimmed decode say "Goodbye." 14 times.
    let audio = pcm("formats/vm-goodbye-48k-stereo-s24.wav");
    for model in ModelId::ALL {
        let t = engine(model).transcribe(&audio, &english()).unwrap();
        assert_eq!(normalize(&t.text), ["goodbye"], "{model}: {}", t.text);
        assert_eq!(t.segments.len(), 1, "{model}: {:?}", t.segments);
        assert!(t.segments[0].end_ms <= 870, "{:?}", t.segments);
    }
}

#[test]
fn silence_and_noise_are_no_speech() {
    let inputs = [
        ("3 s of digital silence", vec![0.0; 48_000]),
        ("10 s of digital silence", vec![0.0; 160_000]),
        ("3 s of white noise", noise(3.0, 0.05)),
        ("3 s of faint white noise", noise(3.0, 0.003)),
    ];
    for model in ModelId::ALL {
        for (what, audio) in &inputs {
            for opts in [english(), TranscribeOptions::default(), live()] {
                let t = engine(model).transcribe(audio, &opts).unwrap();
                let words = normalize(&t.text);
                // "Near-empty": whisper may still voice one word; never a sentence or a loop.
                assert!(words.len() <= 1, "{model}, {what}: {:?}", t.text);
                assert!(t.confidence.is_finite());
            }
        }
    }
}

#[test]
fn a_ten_second_concatenation_takes_the_trimmed_path() {
    let (audio, reference) = concatenation(10.0, 300);
    assert!(audio.len() < 28 * 16_000);
    for model in ModelId::ALL {
        let t = engine(model).transcribe(&audio, &english()).unwrap();
        let r = normalize(&reference);
        let wer = word_errors(&r, &normalize(&t.text)) as f64 / r.len() as f64;
        assert!(wer <= 0.10, "{model}: WER {wer:.3}: {}", t.text);
        assert_ne!(t.decode_path, DecodePath::Full, "{model}");
    }
}

#[test]
fn a_minute_of_speech_is_decoded_in_chunks_with_ordered_times() {
    let (audio, reference) = concatenation(60.0, 500);
    let r = normalize(&reference);
    let end_ms = audio.len() as u64 / 16;
    let engine = engine(ModelId::TinyEn);
    for full_window in [false, true] {
        let opts = TranscribeOptions {
            full_window,
            word_timestamps: true,
            ..english()
        };
        let t = engine.transcribe(&audio, &opts).unwrap();
        let path = if full_window {
            DecodePath::Full
        } else {
            DecodePath::Chunked
        };
        assert_eq!(t.decode_path, path);
        let hyp = normalize(&t.text);
        assert!(!has_repeated_phrase(&hyp), "{path:?}: {}", t.text);
        let wer = word_errors(&r, &hyp) as f64 / r.len() as f64;
        assert!(wer <= 0.10, "{path:?}: WER {wer:.3}: {}", t.text);
        // Segments and their words are in order and within the audio: chunk times are
        // placed in the whole input, not restarted from zero.
        let mut last = 0;
        for s in &t.segments {
            assert!(
                s.start_ms >= last && s.end_ms >= s.start_ms && s.end_ms <= end_ms,
                "{path:?}: {s:?}"
            );
            last = s.start_ms;
            assert!(!s.words.is_empty(), "{path:?}: {s:?}");
            for w in &s.words {
                assert!(
                    w.start_ms >= s.start_ms && w.end_ms <= s.end_ms,
                    "{path:?}: {w:?} in {s:?}"
                );
            }
        }
        let last_end = t.segments.last().map_or(0, |s| s.end_ms);
        assert!(
            last_end > end_ms - 10_000,
            "{path:?}: speech ends at {last_end} ms of {end_ms}"
        );
    }
}

#[test]
fn full_window_option_skips_the_fast_path_with_the_same_words() {
    let audio = pcm("librivox/sense-0930.wav");
    let engine = engine(ModelId::TinyEn);
    let fast = engine.transcribe(&audio, &english()).unwrap();
    let full = engine
        .transcribe(
            &audio,
            &TranscribeOptions {
                full_window: true,
                ..english()
            },
        )
        .unwrap();
    assert_eq!(fast.decode_path, DecodePath::Trimmed);
    assert_eq!(full.decode_path, DecodePath::Full);
    assert_eq!(normalize(&fast.text), normalize(&full.text));
}

#[test]
fn a_cancelled_decode_stops_early_and_the_engine_goes_on() {
    let engine = engine(ModelId::TinyEn);
    // A long input (several 30 s windows), so the decode is still running when the flag
    // goes up.
    let (audio, _) = concatenation(90.0, 300);
    let cancel = Cancel::new();
    let opts = TranscribeOptions {
        cancel: Some(cancel.clone()),
        threads: Some(1),
        ..english()
    };
    let raiser = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            cancel.cancel();
        })
    };
    let started = std::time::Instant::now();
    let result = engine.transcribe(&audio, &opts);
    // About 2.7 s here, against 14 s for the whole decode: it stops after its first encode.
    eprintln!("cancelled after {:?}", started.elapsed());
    raiser.join().unwrap();
    assert!(matches!(result, Err(SttError::Cancelled)), "{result:?}");
    // Raised before the call: nothing runs.
    let clip = pcm("librivox/sense-0930.wav");
    assert!(matches!(
        engine.transcribe(&clip, &opts),
        Err(SttError::Cancelled)
    ));
    // The state the cancelled decode used is reused, and decodes as well as before.
    let t = engine.transcribe(&clip, &english()).unwrap();
    assert!(
        normalize(&t.text).contains(&"amiable".to_owned()),
        "{}",
        t.text
    );
}

#[test]
fn hostile_samples_do_not_break_the_engine() {
    let engine = engine(ModelId::TinyEn);
    // Non-finite samples, a 10 ms input, and a prompt with a NUL byte.
    let mut audio = pcm("librivox/sense-0930.wav");
    audio[100] = f32::NAN;
    audio[200] = f32::INFINITY;
    let opts = TranscribeOptions {
        prompt: Some("Dash\0wood".into()),
        ..english()
    };
    let t = engine.transcribe(&audio, &opts).unwrap();
    assert!(
        normalize(&t.text).contains(&"amiable".to_owned()),
        "{}",
        t.text
    );
    let t = engine.transcribe(&audio[..160], &opts).unwrap();
    assert!(t.text.len() < 40, "{}", t.text);
    assert!(engine.transcribe(&[], &opts).unwrap().text.is_empty());
}

#[test]
fn a_prompt_steers_vocabulary_and_style() {
    let audio = pcm("asterisk/tt-weasels-8k.wav");
    let engine = engine(ModelId::TinyEn);
    let with_prompt = |prompt: &str| {
        engine
            .transcribe(
                &audio,
                &TranscribeOptions {
                    prompt: Some(prompt.into()),
                    ..english()
                },
            )
            .unwrap()
            .text
    };
    // tiny.en alone writes "Weasles"; the vocabulary hint spells it.
    let hinted = with_prompt("Weasels");
    assert_eq!(
        normalize(&hinted),
        normalize("weasels have eaten our phone system"),
        "{hinted}"
    );
    // An upper-case prompt makes an upper-case transcript: the prompt reaches the decoder.
    let shouted = with_prompt("WEASELS HAVE EATEN");
    assert!(
        shouted
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(|c| c.is_uppercase()),
        "{shouted}"
    );
}
