//! How late the VAD places the end of speech: each benchmark question (the project's
//! voice, trailing silence cut, so its last sample is its last voiced one) is run through
//! Silero VAD and the segment tracker, once on the model's voiced windows alone and once
//! with the level meter's end of sound (`SoundEndMeter`), and the end each reports is
//! compared with the true one.
//!
//! ```sh
//! cargo run --release -p mka1-voice-agent --example end_of_speech
//! ```
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use mka1_media::vad::{SegmentConfig, SegmentTracker, SoundEndMeter, VadEvent, WINDOW_SAMPLES};
use support::{QUESTIONS, models, speech_48k, voiced};

/// Milliseconds from `truth` to a reported end (positive: late), in samples at 16 kHz.
fn lag_ms(end: Option<u64>, truth: u64) -> String {
    end.map_or_else(
        || "none".into(),
        |e| format!("{:+}", (e as i64 - truth as i64) / 16),
    )
}

fn main() {
    let m = models();
    println!(
        "question | true end | VAD windows only | with the level meter (ms after the true end)"
    );
    for question in QUESTIONS {
        let clip = mka1_media::resample(&voiced(&speech_48k(question)), 48_000, 16_000).unwrap();
        // Half a second of silence before, a second after.
        let mut audio = vec![0.0f32; 8_000];
        audio.extend_from_slice(&clip);
        let truth = audio.len() as u64;
        audio.extend(std::iter::repeat_n(0.0, 16_000));

        let mut probabilities = Vec::new();
        m.vad.stream().push(&audio, &mut probabilities).unwrap();
        let mut plain = SegmentTracker::new(SegmentConfig::default());
        let mut measured = SegmentTracker::new(SegmentConfig::default());
        let mut meter = SoundEndMeter::default();
        let (mut plain_end, mut measured_end) = (None, None);
        for (i, &p) in probabilities.iter().enumerate() {
            if let Some(VadEvent::SpeechEnd { end_sample, .. }) = plain.push(p) {
                plain_end = Some(end_sample);
            }
            let start = i * WINDOW_SAMPLES;
            let window = &audio[start.min(audio.len())..(start + WINDOW_SAMPLES).min(audio.len())];
            meter.measure(window, start as u64);
            if let Some(VadEvent::SpeechEnd { end_sample, .. }) =
                measured.push_measured(p, Some(meter.last_sound_end()))
            {
                measured_end = Some(end_sample);
            }
        }
        println!(
            "{question} | {} ms | {} | {}",
            truth / 16,
            lag_ms(plain_end, truth),
            lag_ms(measured_end, truth)
        );
    }
}
