//! The voice registry and a voice's Piper config (`.onnx.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mka1_models::ModelsDir;
use mka1_models::catalog::paths;

use crate::TtsError;

/// A voice the server can speak with: where its files live and what it speaks.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Voice {
    /// Stable id, as clients name it (`voice` in the API).
    pub id: &'static str,
    /// ISO-639-1 language ("en").
    pub language: &'static str,
    /// BCP-47 locale ("en-US").
    pub locale: &'static str,
    /// The rate the model produces (synthesized audio is resampled to 24 kHz).
    pub sample_rate: u32,
    /// The ONNX model, relative to the models directory.
    pub model: &'static str,
    /// The Piper config (`.onnx.json`), relative to the models directory.
    pub config: &'static str,
    /// The model's license (SPDX).
    pub license: &'static str,
    /// One line for listings.
    pub description: &'static str,
}

/// Piper `en_US-joe-medium`: an American male voice, 22.05 kHz, CC0.
pub const JOE: Voice = Voice {
    id: "en_US-joe-medium",
    language: "en",
    locale: "en-US",
    sample_rate: 22_050,
    model: paths::PIPER_JOE,
    config: paths::PIPER_JOE_CONFIG,
    license: "CC0-1.0",
    description: "Piper VITS, American English, male, medium quality",
};

/// Every voice, the default of each language first.
pub const VOICES: &[Voice] = &[JOE];

impl Voice {
    /// Every known voice.
    pub fn all() -> &'static [Voice] {
        VOICES
    }

    /// The voice with this id.
    pub fn by_id(id: &str) -> Result<&'static Voice, TtsError> {
        VOICES
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| TtsError::UnknownVoice {
                id: id.to_owned(),
                known: VOICES.iter().map(|v| v.id).collect::<Vec<_>>().join(", "),
            })
    }

    /// The default voice for a language ("en", "en-US"; "auto" means English).
    pub fn for_language(language: &str) -> Option<&'static Voice> {
        let lang = language
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let lang = if lang == "auto" {
            "en".to_owned()
        } else {
            lang
        };
        VOICES.iter().find(|v| v.language == lang)
    }

    /// The model file in `dir`.
    pub fn model_path(&self, dir: &ModelsDir) -> PathBuf {
        dir.path(self.model)
    }

    /// The config file in `dir`.
    pub fn config_path(&self, dir: &ModelsDir) -> PathBuf {
        dir.path(self.config)
    }

    /// Whether both files are in `dir`.
    pub fn is_installed(&self, dir: &ModelsDir) -> bool {
        self.model_path(dir).is_file() && self.config_path(dir).is_file()
    }
}

/// What synthesis needs from a Piper voice's `.onnx.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PiperConfig {
    /// Output sample rate of the model.
    pub sample_rate: u32,
    /// The espeak-ng voice for phonemes ("en-us").
    pub espeak_voice: String,
    /// Default generator noise.
    pub noise_scale: f32,
    /// Default phoneme length scale (larger is slower).
    pub length_scale: f32,
    /// Default phoneme-width noise.
    pub noise_w: f32,
    /// Speakers in the model (more than one needs a speaker id input).
    pub num_speakers: u32,
    /// Phoneme (one Unicode scalar) → ids.
    pub phoneme_id_map: HashMap<char, Vec<i64>>,
}

impl PiperConfig {
    /// Reads and checks a voice config file.
    pub fn load(path: &Path) -> Result<Self, TtsError> {
        if !path.is_file() {
            return Err(TtsError::VoiceMissing {
                path: path.to_path_buf(),
            });
        }
        let error = |reason: String| TtsError::VoiceConfig {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// Parses a voice config from its JSON text.
    pub fn parse(json: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let phoneme_type = value["phoneme_type"].as_str().unwrap_or("espeak");
        if phoneme_type != "espeak" {
            return Err(format!(
                "phoneme_type '{phoneme_type}' is not supported (only espeak)"
            ));
        }
        let sample_rate = value["audio"]["sample_rate"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| (8_000..=96_000).contains(r))
            .ok_or("audio.sample_rate missing or out of range")?;
        let espeak_voice = value["espeak"]["voice"]
            .as_str()
            .filter(|v| {
                !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c))
            })
            .ok_or("espeak.voice missing or not a voice name")?
            .to_owned();
        let inference = &value["inference"];
        let scale = |key: &str, default: f32| inference[key].as_f64().map_or(default, |v| v as f32);
        let map = value["phoneme_id_map"]
            .as_object()
            .ok_or("phoneme_id_map missing")?;
        let mut phoneme_id_map = HashMap::with_capacity(map.len());
        for (key, ids) in map {
            let mut chars = key.chars();
            // Multi-character keys only serve vowel clusters, which espeak voices lack.
            let (Some(c), None) = (chars.next(), chars.next()) else {
                continue;
            };
            let ids: Vec<i64> = ids
                .as_array()
                .ok_or_else(|| format!("phoneme_id_map['{key}'] is not a list"))?
                .iter()
                .filter_map(serde_json::Value::as_i64)
                .collect();
            phoneme_id_map.insert(c, ids);
        }
        for required in [PAD, BOS, EOS] {
            if !phoneme_id_map.contains_key(&required) {
                return Err(format!("phoneme_id_map lacks '{required}'"));
            }
        }
        Ok(Self {
            sample_rate,
            espeak_voice,
            noise_scale: scale("noise_scale", 0.667),
            length_scale: scale("length_scale", 1.0),
            noise_w: scale("noise_w", 0.8),
            num_speakers: value["num_speakers"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            phoneme_id_map,
        })
    }

    /// Phoneme ids for one synthesis call, as Piper builds them: `^`, then each phoneme's
    /// ids followed by `_` (pad), then `$`. Phonemes the voice does not know are skipped.
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let ids = |c: char| self.phoneme_id_map.get(&c).map_or(&[][..], Vec::as_slice);
        let mut out = Vec::with_capacity(2 * phonemes.len() + 3);
        out.extend_from_slice(ids(BOS));
        out.extend_from_slice(ids(PAD));
        for c in phonemes.chars() {
            match self.phoneme_id_map.get(&c) {
                Some(id) => {
                    out.extend_from_slice(id);
                    out.extend_from_slice(ids(PAD));
                }
                None => tracing::debug!("phoneme {c:?} is not in the voice's map; skipped"),
            }
        }
        out.extend_from_slice(ids(EOS));
        out
    }
}

/// Padding between phonemes.
pub const PAD: char = '_';
/// Beginning of an utterance.
pub const BOS: char = '^';
/// End of an utterance.
pub const EOS: char = '$';

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
        "audio": {"sample_rate": 22050},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.5, "length_scale": 1.1, "noise_w": 0.7},
        "phoneme_type": "espeak",
        "num_speakers": 1,
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], ",": [8], "a": [14], "b": [15], "aɪ": [161]}
    }"#;

    #[test]
    fn parses_a_piper_config() {
        let c = PiperConfig::parse(CONFIG).unwrap();
        assert_eq!(c.sample_rate, 22_050);
        assert_eq!(c.espeak_voice, "en-us");
        assert_eq!((c.noise_scale, c.length_scale, c.noise_w), (0.5, 1.1, 0.7));
        assert_eq!(
            c.phoneme_id_map.len(),
            7,
            "the two-character key is skipped"
        );
    }

    #[test]
    fn ids_are_padded_and_framed_like_piper() {
        let c = PiperConfig::parse(CONFIG).unwrap();
        assert_eq!(
            c.phoneme_ids("ab, a"),
            [1, 0, 14, 0, 15, 0, 8, 0, 3, 0, 14, 0, 2]
        );
        assert_eq!(c.phoneme_ids(""), [1, 0, 2]);
        assert_eq!(
            c.phoneme_ids("aXb"),
            [1, 0, 14, 0, 15, 0, 2],
            "unknown phonemes skipped"
        );
    }

    #[test]
    fn rejects_configs_synthesis_cannot_use() {
        assert!(PiperConfig::parse("{").is_err());
        assert!(PiperConfig::parse(&CONFIG.replace("\"espeak\",", "\"text\",")).is_err());
        assert!(PiperConfig::parse(&CONFIG.replace("22050", "0")).is_err());
        assert!(PiperConfig::parse(&CONFIG.replace("\"en-us\"", "\"en us; rm\"")).is_err());
        assert!(PiperConfig::parse(&CONFIG.replace("\"$\": [2],", "")).is_err());
    }

    #[test]
    fn registry_finds_voices() {
        assert_eq!(
            Voice::by_id("en_US-joe-medium").unwrap().sample_rate,
            22_050
        );
        assert!(matches!(
            Voice::by_id("nope"),
            Err(TtsError::UnknownVoice { .. })
        ));
        assert_eq!(Voice::for_language("en-US").map(|v| v.id), Some(JOE.id));
        assert_eq!(Voice::for_language("auto").map(|v| v.id), Some(JOE.id));
        assert!(Voice::for_language("fr").is_none());
    }
}
