//! Wall time of one transcription per clip length (warm model), for quick comparisons of
//! engine settings: `MKA1_STT_FLASH_ATTN=0|1 cargo run --release -p mka1-stt --example
//! engine_timing [-- threads]`. Side by side: the installed model (`q8_0` weight
//! matrices) and the same weights converted to f16 (written to `target/tmp`), timed in
//! turns.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_stt::convert::{WeightFormat, convert_ct2_to_ggml_as};
use mka1_stt::registry::assets;
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};

fn pcm(relative: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(relative);
    decode_to_mono(&std::fs::read(path).unwrap(), PcmHint::None, 16_000)
        .unwrap()
        .samples
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let dir = ModelsDir::from_env().unwrap();
    let q8 = WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(&dir)).unwrap();
    let f16_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/ggml-tiny.en-f16.bin");
    convert_ct2_to_ggml_as(
        &ModelId::TinyEn.ct2_model_bin(&dir),
        &assets(&dir),
        &f16_path,
        WeightFormat::F16,
    )
    .unwrap();
    let f16 = WhisperModel::load(ModelId::TinyEn, &f16_path).unwrap();
    let files = [
        "librivox/sense-0870.wav",
        "librivox/sense-0880.wav",
        "librivox/sense-0890.wav",
        "librivox/sense-0920.wav",
        "librivox/sense-0930.wav",
    ];
    let mut sixty = Vec::new();
    while sixty.len() < 60 * 16_000 {
        for f in files {
            sixty.extend(pcm(f));
            sixty.extend(std::iter::repeat_n(0.0, 6_400));
        }
    }
    let three = pcm("librivox/sense-0880.wav");
    let ten: Vec<f32> = sixty[..10 * 16_000].to_vec();
    let opts = TranscribeOptions {
        language: Some("en".into()),
        threads: Some(threads),
        ..Default::default()
    };
    for (name, audio) in [("3s", &three), ("10s", &ten), ("60s", &sixty)] {
        let models = [("f16", &f16), ("q8_0", &q8)];
        let mut best = [f64::MAX; 2];
        let mut text = [String::new(), String::new()];
        for (_, model) in models {
            model.transcribe(audio, &opts).unwrap();
        }
        for _ in 0..3 {
            for (i, (_, model)) in models.iter().enumerate() {
                let t = Instant::now();
                text[i] = model.transcribe(audio, &opts).unwrap().text;
                best[i] = best[i].min(t.elapsed().as_secs_f64());
            }
        }
        for (i, (format, _)) in models.iter().enumerate() {
            println!(
                "{name:>4} {format:>4} best of 3: {:7.1} ms  {:.70}",
                best[i] * 1e3,
                text[i].trim()
            );
        }
    }
}
