//! End to end: `mka1-voice say` writes audio that decodes back, in every format, to a file
//! and streamed to stdout. Needs provisioned models and espeak-ng (`make models`).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use mka1_media::{PcmHint, decode_to_mono};

const TEXT: &str = "Hello! The ticket costs $3.50, and the train leaves at 3:30 pm.";

fn say(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .arg("say")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "say {args:?} failed: {}\n(the voice needs `make models`)",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn decoded_seconds(bytes: &[u8], hint: PcmHint) -> f64 {
    let audio = decode_to_mono(bytes, hint, 16_000).unwrap();
    audio.samples.len() as f64 / 16_000.0
}

#[test]
fn writes_every_format_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["wav", "mp3", "opus", "flac", "pcm"] {
        let path = dir.path().join(format!("speech.{format}"));
        let path_str = path.to_str().unwrap();
        // The format comes from the extension; `--format` says the same explicitly.
        say(&[TEXT, "-o", path_str]);
        say(&[TEXT, "-o", path_str, "--format", format]);
        let bytes = std::fs::read(&path).unwrap();
        let hint = if format == "pcm" {
            PcmHint::RawS16le {
                sample_rate: 24_000,
            }
        } else {
            PcmHint::None
        };
        let seconds = decoded_seconds(&bytes, hint);
        assert!((2.0..10.0).contains(&seconds), "{format}: {seconds} s");
    }
}

#[test]
fn streams_to_stdout() {
    for format in ["wav", "mp3", "opus"] {
        let out = say(&[TEXT, "--format", format, "-o", "-"]);
        let seconds = decoded_seconds(&out.stdout, PcmHint::None);
        assert!((2.0..10.0).contains(&seconds), "{format}: {seconds} s");
    }
}

#[test]
fn reads_the_text_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["say", "-", "--format", "wav", "-o", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"# A heading\n\n- one item\n- another item\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(decoded_seconds(&out.stdout, PcmHint::None) > 1.0);
}

#[test]
fn unknown_voices_and_formats_are_clear_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["say", "hi", "-o", "-", "--voice", "nobody"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown voice 'nobody'"), "{stderr}");
    assert!(stderr.contains("en_US-joe-medium"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["say", "hi", "-o", "-", "--format", "aac"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn models_list_shows_the_voice_registry() {
    let out = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["models", "list"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for voice in mka1_tts::VOICES {
        assert!(stdout.contains(voice.id), "{stdout}");
        assert!(stdout.contains(voice.license), "{stdout}");
    }
}
