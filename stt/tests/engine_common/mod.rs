//! Helpers shared by the `engine_*` tests: the provisioned models (loaded once per test
//! binary), the real speech samples decoded to 16 kHz, and inputs made from them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::{CATALOG, ModelsDir};
use mka1_stt::{ModelId, WhisperModel};

/// The models directory, provisioned (idempotent: a prepared directory costs nothing).
pub fn models_dir() -> &'static ModelsDir {
    static DIR: OnceLock<ModelsDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = ModelsDir::from_env().unwrap();
        let source = mka1_models::source::from_env();
        mka1_models::install(&dir, &CATALOG, source.as_ref())
            .unwrap_or_else(|e| panic!("provisioning {} failed: {e}", dir.root().display()));
        for m in ModelId::ALL {
            mka1_stt::provision_ggml(&dir, m).unwrap();
        }
        dir
    })
}

/// The model, loaded once for the whole test binary.
pub fn engine(model: ModelId) -> Arc<WhisperModel> {
    static TINY: OnceLock<Arc<WhisperModel>> = OnceLock::new();
    static BASE: OnceLock<Arc<WhisperModel>> = OnceLock::new();
    let cell = match model {
        ModelId::TinyEn => &TINY,
        _ => &BASE,
    };
    Arc::clone(cell.get_or_init(|| {
        Arc::new(WhisperModel::load(model, &model.ggml_path(models_dir())).unwrap())
    }))
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// A sample file decoded to 16 kHz mono (raw PCM files are s16le at 16 kHz).
pub fn pcm(relative: &str) -> Vec<f32> {
    let bytes = std::fs::read(samples_dir().join(relative)).unwrap();
    let hint = if relative.ends_with(".raw") {
        PcmHint::RawS16le {
            sample_rate: 16_000,
        }
    } else {
        PcmHint::None
    };
    decode_to_mono(&bytes, hint, 16_000).unwrap().samples
}

/// A real recording and what is said in it.
pub struct Sample {
    pub file: String,
    pub pcm: Vec<f32>,
    pub reference: String,
}

/// Every sample of `samples/transcripts.tsv`, every format.
pub fn samples() -> Vec<Sample> {
    std::fs::read_to_string(samples_dir().join("transcripts.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(file, reference)| Sample {
            file: file.to_owned(),
            pcm: pcm(file),
            reference: reference.to_owned(),
        })
        .collect()
}

/// The LibriVox clips and two Asterisk prompts joined with `gap_ms` of silence, repeated
/// until at least `min_seconds` long; with the reference of what is said.
pub fn concatenation(min_seconds: f32, gap_ms: usize) -> (Vec<f32>, String) {
    let parts = [
        (
            "librivox/sense-0870.wav",
            "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them",
        ),
        (
            "librivox/sense-0880.wav",
            "he was not an ill disposed young man",
        ),
        (
            "asterisk/tt-weasels-8k.wav",
            "weasels have eaten our phone system",
        ),
        (
            "librivox/sense-0890.wav",
            "unless to be rather cold hearted and rather selfish is to be ill disposed",
        ),
        (
            "librivox/sense-0920.wav",
            "had he married a more a amiable woman he might have been made still more respectable than he was",
        ),
        (
            "asterisk/ss-noservice-8k-u8.wav",
            "the number you have dialed is not in service please check the number and try again",
        ),
        (
            "librivox/sense-0930.wav",
            "he might even have been made amiable himself",
        ),
    ];
    let decoded: Vec<(Vec<f32>, &str)> = parts.iter().map(|(f, r)| (pcm(f), *r)).collect();
    let (mut audio, mut words) = (Vec::new(), Vec::new());
    'outer: loop {
        for (p, r) in &decoded {
            audio.extend_from_slice(p);
            audio.extend(std::iter::repeat_n(0.0, gap_ms * 16));
            words.push(*r);
            if audio.len() as f32 >= min_seconds * 16_000.0 {
                break 'outer;
            }
        }
    }
    (audio, words.join(" "))
}

/// `seconds` of white noise at `amplitude` (deterministic).
pub fn noise(seconds: f32, amplitude: f32) -> Vec<f32> {
    let mut x: u32 = 0x9E37_79B9;
    (0..(seconds * 16_000.0) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * amplitude
        })
        .collect()
}

/// True when some phrase of up to 8 words occurs three times in a row.
pub fn has_repeated_phrase(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        (1..=8).any(|n| {
            i + 3 * n <= words.len()
                && words[i..i + n] == words[i + n..i + 2 * n]
                && words[i..i + n] == words[i + 2 * n..i + 3 * n]
        })
    })
}
