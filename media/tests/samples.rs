//! Every committed sample decodes, from its bytes alone, to the duration an independent
//! decoder (ffprobe, recorded in samples/durations.tsv) reports.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use mka1_media::{PcmHint, decode_to_mono};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// (path, seconds, sample rate, channels) from samples/durations.tsv.
fn durations() -> Vec<(String, f64, u32, u16)> {
    std::fs::read_to_string(samples().join("durations.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_sample_decodes_to_its_duration() {
    let list = durations();
    assert!(list.len() >= 15, "samples/durations.tsv lists every sample");
    for (path, seconds, rate, channels) in list {
        let bytes = std::fs::read(samples().join(&path)).unwrap();
        let hint = if path.ends_with(".raw") {
            PcmHint::RawS16le { sample_rate: rate }
        } else {
            PcmHint::None
        };
        let audio = decode_to_mono(&bytes, hint, 16_000).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(audio.source_rate, rate, "{path}");
        assert_eq!(audio.source_channels, channels, "{path}");
        assert!(!audio.truncated, "{path}");
        let got = audio.samples.len() as f64 / 16_000.0;
        // Container durations of lossy files include encoder padding that gapless
        // decoding trims: MP3 without a gapless header up to ~2 frames, Opus/AAC less.
        let tolerance = if path.ends_with(".mp3") { 0.15 } else { 0.03 };
        assert!(
            (got - seconds).abs() <= tolerance,
            "{path}: decoded {got:.3} s, expected {seconds:.3} s"
        );
    }
}

#[test]
fn two_speaker_clip_matches_its_turn_list() {
    let json: String = std::fs::read_to_string(samples().join("two-speakers-16k.json")).unwrap();
    let audio = decode_to_mono(
        &std::fs::read(samples().join("two-speakers-16k.wav")).unwrap(),
        PcmHint::None,
        16_000,
    )
    .unwrap();
    let turns: serde_json::Value = serde_json::from_str(&json).unwrap();
    let last_end = turns["turns"][2]["end_ms"].as_f64().unwrap();
    assert_eq!(turns["speakers"], 2);
    let got_ms = audio.samples.len() as f64 / 16.0;
    assert!((got_ms - last_end).abs() < 1.0, "{got_ms} vs {last_end}");
    // The silent gaps between turns are digital silence.
    let gap = &audio.samples[(3000 * 16)..(3580 * 16)];
    assert!(gap.iter().all(|s| s.abs() < 1e-4));
}
