//! End to end: the `mka1-voice transcribe` command on the real speech samples, in every
//! format the first cut supports (WAV, FLAC, MP3, raw PCM). Needs provisioned models
//! (`make models`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mka1_stt::wer::{normalize, word_errors};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn transcribe(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .arg("transcribe")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "transcribe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_sample_transcribes_within_ten_percent_wer() {
    let list = std::fs::read_to_string(samples().join("transcripts.tsv")).unwrap();
    let (mut errors, mut words) = (0, 0);
    let mut report = String::new();
    for (file, reference) in list.lines().filter_map(|l| l.split_once('\t')) {
        let path = samples().join(file);
        let path = path.to_str().unwrap();
        let mut args = vec![path, "--language", "en"];
        if file.ends_with(".raw") {
            args.extend(["--raw-pcm-rate", "16000"]);
        }
        let json = transcribe(&args);
        let text = json["text"].as_str().unwrap();
        assert_eq!(
            json["model"], "whisper-tiny.en",
            "model=auto with en picks tiny.en"
        );
        let r = normalize(reference);
        errors += word_errors(&r, &normalize(text));
        words += r.len();
        report += &format!("\n  {file}: {text}");
    }
    let wer = errors as f64 / words as f64;
    eprintln!("WER {wer:.3} over {words} words{report}");
    assert!(wer <= 0.10, "WER {wer:.3}{report}");
}

#[test]
fn unknown_model_and_non_audio_are_clear_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["transcribe", "Cargo.toml", "--model", "whisper-huge"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model 'whisper-huge'"));

    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["transcribe", "Cargo.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot decode"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
