//! Speaker diarization on real recordings: the two-speaker sample with exact turns, every
//! single-speaker LibriVox clip, and mixes built from real clips of known speakers.
//! Needs the Silero VAD from the models directory (`make models`, or `MKA1_MODELS_DIR`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mka1_media::vad::SileroVad;
use mka1_media::{PcmHint, decode_to_mono, resample};
use mka1_models::{CATALOG, ModelsDir};
use mka1_stt::diarize::{Diarization, DiarizeConfig, SpeakerTurn, diarization_error_rate, diarize};

const RATE: u32 = 16_000;
/// Silence between concatenated clips, as in samples/two-speakers-16k.wav.
const GAP_MS: u64 = 600;

fn vad() -> &'static SileroVad {
    static VAD: OnceLock<SileroVad> = OnceLock::new();
    VAD.get_or_init(|| {
        let dir = ModelsDir::from_env().unwrap();
        let source = mka1_models::source::from_env();
        mka1_models::install(&dir, &CATALOG, source.as_ref())
            .unwrap_or_else(|e| panic!("provisioning {} failed: {e}", dir.root().display()));
        SileroVad::from_models_dir(&dir).unwrap()
    })
}

fn sample(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(path)
}

/// A sample as 16 kHz mono: WAV files at their own rate, brought to 16 kHz by the media
/// resampler (the Asterisk prompts are 8 kHz telephone audio); raw PCM is 16 kHz already.
fn load(path: &str) -> Vec<f32> {
    if path.ends_with(".raw") {
        let bytes = std::fs::read(sample(path)).unwrap();
        let hint = PcmHint::RawS16le { sample_rate: RATE };
        return decode_to_mono(&bytes, hint, RATE).unwrap().samples;
    }
    let mut reader = hound::WavReader::open(sample(path)).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 1, "{path}");
    let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
    let native: Vec<f32> = reader
        .samples::<i32>()
        .map(|s| s.unwrap() as f32 / scale)
        .collect();
    resample(&native, spec.sample_rate, RATE).unwrap()
}

/// Clips of the given speakers joined by [`GAP_MS`] of silence, with the exact turns.
fn mix(parts: &[(&str, usize)]) -> (Vec<f32>, Vec<SpeakerTurn>) {
    let mut pcm = Vec::new();
    let mut turns = Vec::new();
    for (index, (path, speaker)) in parts.iter().enumerate() {
        if index > 0 {
            pcm.extend(std::iter::repeat_n(0.0, (GAP_MS * 16) as usize));
        }
        let start_ms = pcm.len() as u64 / 16;
        pcm.extend(load(path));
        turns.push(SpeakerTurn {
            speaker: *speaker,
            start_ms,
            end_ms: pcm.len() as u64 / 16,
        });
    }
    (pcm, turns)
}

fn run(pcm: &[f32]) -> Diarization {
    diarize(pcm, vad(), &DiarizeConfig::default()).unwrap()
}

fn order(result: &Diarization) -> Vec<usize> {
    result.turns.iter().map(|t| t.speaker).collect()
}

fn assert_well_formed(result: &Diarization, audio_ms: u64) {
    let mut seen = Vec::new();
    for pair in result.turns.windows(2) {
        assert!(pair[0].end_ms <= pair[1].start_ms, "overlap: {pair:?}");
    }
    for turn in &result.turns {
        assert!(turn.start_ms < turn.end_ms, "{turn:?}");
        assert!(turn.end_ms <= audio_ms, "{turn:?} beyond {audio_ms} ms");
        if !seen.contains(&turn.speaker) {
            // Speakers are numbered in order of first appearance.
            assert_eq!(turn.speaker, seen.len());
            seen.push(turn.speaker);
        }
    }
    assert_eq!(seen.len(), result.speakers);
}

/// The reference turns of samples/two-speakers-16k.json.
fn two_speaker_reference() -> Vec<SpeakerTurn> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample("two-speakers-16k.json")).unwrap()).unwrap();
    assert_eq!(json["speakers"], 2);
    json["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t["speaker"].as_str().unwrap();
            let number: usize = name.strip_prefix("Speaker-").unwrap().parse().unwrap();
            SpeakerTurn {
                speaker: number - 1,
                start_ms: t["start_ms"].as_u64().unwrap(),
                end_ms: t["end_ms"].as_u64().unwrap(),
            }
        })
        .collect()
}

#[test]
fn two_speaker_sample_matches_its_reference() {
    let pcm = load("two-speakers-16k.wav");
    let result = run(&pcm);
    assert_well_formed(&result, pcm.len() as u64 / 16);
    assert_eq!(result.speakers, 2, "{result:?}");
    assert_eq!(order(&result), [0, 1, 0], "{result:?}");
    let reference = two_speaker_reference();
    let strict = diarization_error_rate(&reference, &result.turns, 0);
    let collar = diarization_error_rate(&reference, &result.turns, 250);
    eprintln!(
        "two-speakers DER {:.2}% (no collar: missed {} ms, false alarm {} ms, confusion {} ms \
         of {} ms), {:.2}% with a 250 ms collar",
        100.0 * strict.rate(),
        strict.missed_ms,
        strict.false_alarm_ms,
        strict.confusion_ms,
        strict.reference_ms,
        100.0 * collar.rate(),
    );
    assert!(strict.rate() <= 0.10, "{strict:?}");
    assert!(collar.rate() <= strict.rate());
    // The speaker changes fall in the 600 ms pauses, not inside anyone's speech.
    assert_eq!(strict.confusion_ms, 0, "{strict:?}");
    assert_eq!(result.turns[0].speaker_label(), "Speaker-1");
}

#[test]
fn every_librivox_clip_is_one_speaker() {
    for clip in ["0870", "0880", "0890", "0920", "0930"] {
        let pcm = load(&format!("librivox/sense-{clip}.wav"));
        let result = run(&pcm);
        assert_well_formed(&result, pcm.len() as u64 / 16);
        assert_eq!(result.speakers, 1, "sense-{clip}: {result:?}");
        assert_eq!(result.turns.len(), 1, "sense-{clip}: {result:?}");
    }
}

#[test]
fn telephone_prompts_and_a_second_man_are_one_speaker_each() {
    for clip in [
        "asterisk/tt-weasels-8k.wav",
        "asterisk/ss-noservice-8k-u8.wav",
        "goforward-16k.raw",
    ] {
        let result = run(&load(clip));
        assert_eq!(result.speakers, 1, "{clip}: {result:?}");
    }
}

#[test]
fn the_same_reader_across_clips_is_one_speaker() {
    // All five clips: one reader, one recording, 25 s of different sentences.
    let (pcm, reference) = mix(&[
        ("librivox/sense-0870.wav", 0),
        ("librivox/sense-0890.wav", 0),
        ("librivox/sense-0920.wav", 0),
        ("librivox/sense-0880.wav", 0),
        ("librivox/sense-0930.wav", 0),
    ]);
    let result = run(&pcm);
    assert_well_formed(&result, pcm.len() as u64 / 16);
    assert_eq!(result.speakers, 1, "{result:?}");
    let score = diarization_error_rate(&reference, &result.turns, 250);
    assert_eq!(score.confusion_ms, 0);
}

#[test]
fn a_telephone_voice_between_two_reader_turns_makes_two_speakers() {
    let (pcm, reference) = mix(&[
        ("asterisk/ss-noservice-8k-u8.wav", 0),
        ("librivox/sense-0920.wav", 1),
        ("asterisk/tt-weasels-8k.wav", 0),
    ]);
    let result = run(&pcm);
    assert_well_formed(&result, pcm.len() as u64 / 16);
    assert_eq!(result.speakers, 2, "{result:?}");
    assert_eq!(order(&result), [0, 1, 0], "{result:?}");
    let score = diarization_error_rate(&reference, &result.turns, 250);
    assert!(score.rate() <= 0.10, "{score:?}");
}

#[test]
fn three_voices_make_three_speakers() {
    // The LibriVox reader, the Asterisk woman, and the pocketsphinx man.
    let (pcm, reference) = mix(&[
        ("librivox/sense-0870.wav", 0),
        ("asterisk/tt-weasels-8k.wav", 1),
        ("goforward-16k.raw", 2),
    ]);
    let result = run(&pcm);
    assert_well_formed(&result, pcm.len() as u64 / 16);
    assert_eq!(result.speakers, 3, "{result:?}");
    assert_eq!(order(&result), [0, 1, 2], "{result:?}");
    let score = diarization_error_rate(&reference, &result.turns, 250);
    assert!(score.rate() <= 0.10, "{score:?}");
}

#[test]
fn two_men_in_three_turns_make_two_speakers() {
    let (pcm, _) = mix(&[
        ("librivox/sense-0870.wav", 0),
        ("goforward-16k.raw", 1),
        ("librivox/sense-0890.wav", 0),
    ]);
    let result = run(&pcm);
    assert_eq!(result.speakers, 2, "{result:?}");
    assert_eq!(order(&result), [0, 1, 0], "{result:?}");
}

#[test]
fn max_speakers_bounds_the_count() {
    let (pcm, _) = mix(&[
        ("librivox/sense-0870.wav", 0),
        ("asterisk/tt-weasels-8k.wav", 1),
        ("goforward-16k.raw", 2),
    ]);
    let config = DiarizeConfig::default().with_max_speakers(Some(2));
    let result = diarize(&pcm, vad(), &config).unwrap();
    assert_eq!(result.speakers, 2, "{result:?}");
}

#[test]
fn silence_noise_and_tiny_inputs_give_no_speaker_and_no_panic() {
    let silence = vec![0.0f32; 3 * RATE as usize];
    assert_eq!(run(&silence), Diarization::default());
    assert_eq!(run(&[]), Diarization::default());
    assert_eq!(run(&[0.5; 10]), Diarization::default());
    // Non-finite samples are treated as silence, not propagated into the models.
    let mut speech = load("librivox/sense-0880.wav");
    speech[100] = f32::NAN;
    speech[200] = f32::INFINITY;
    assert_eq!(run(&speech).speakers, 1);
}
