//! The Whisper models the server knows, and how each is provisioned.

use std::path::PathBuf;

use mka1_models::ModelsDir;
use mka1_models::catalog::paths;

use crate::convert::{
    ConvertError, ConvertSummary, WeightFormat, WhisperAssets, convert_ct2_to_ggml_as,
};

/// A Whisper model the server can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelId {
    /// Whisper tiny.en: English only, the default (fastest).
    TinyEn,
    /// Whisper base: multilingual, used for language detection and non-English speech.
    Base,
}

impl ModelId {
    /// Every known model, default first.
    pub const ALL: [ModelId; 2] = [ModelId::TinyEn, ModelId::Base];

    /// The public model id (what `model=` accepts).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TinyEn => "whisper-tiny.en",
            Self::Base => "whisper-base",
        }
    }

    /// Parses a public id; also accepts the short names `tiny.en` and `base`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "whisper-tiny.en" | "tiny.en" => Some(Self::TinyEn),
            "whisper-base" | "base" => Some(Self::Base),
            _ => None,
        }
    }

    /// True when the model understands languages other than English.
    pub fn is_multilingual(self) -> bool {
        matches!(self, Self::Base)
    }

    /// Relative path of the CTranslate2 source directory.
    fn ct2_dir(self) -> &'static str {
        match self {
            Self::TinyEn => paths::WHISPER_TINY_EN_CT2,
            Self::Base => paths::WHISPER_BASE_CT2,
        }
    }

    /// Where the converted ggml model lives in the models directory (weight matrices in
    /// [`WEIGHT_FORMAT`]).
    pub fn ggml_path(self, dir: &ModelsDir) -> PathBuf {
        let file = match self {
            Self::TinyEn => "whisper/ggml-tiny.en-q8_0.bin",
            Self::Base => "whisper/ggml-base-q8_0.bin",
        };
        dir.path(file)
    }

    /// The f16 file earlier versions converted to; removed once the current one exists.
    fn legacy_ggml_path(self, dir: &ModelsDir) -> PathBuf {
        let file = match self {
            Self::TinyEn => "whisper/ggml-tiny.en.bin",
            Self::Base => "whisper/ggml-base.bin",
        };
        dir.path(file)
    }

    /// The CTranslate2 `model.bin` this model is converted from.
    pub fn ct2_model_bin(self, dir: &ModelsDir) -> PathBuf {
        dir.path(self.ct2_dir()).join("model.bin")
    }

    /// `model=auto`: the English model for `en`/`en-*`, else the multilingual one when
    /// installed, else the English one. `None` when no model is installed at all.
    pub fn auto(language: Option<&str>, installed: &[ModelId]) -> Option<ModelId> {
        let english = language.is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            l == "en" || l.starts_with("en-") || l.starts_with("en_")
        });
        let preferred = if english {
            [ModelId::TinyEn, ModelId::Base]
        } else {
            [ModelId::Base, ModelId::TinyEn]
        };
        preferred.into_iter().find(|m| installed.contains(m))
    }

    /// Installed models, default first.
    pub fn installed(dir: &ModelsDir) -> Vec<ModelId> {
        Self::ALL
            .into_iter()
            .filter(|m| m.ggml_path(dir).is_file())
            .collect()
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tokenizer and mel assets inside the models directory.
pub fn assets(dir: &ModelsDir) -> WhisperAssets {
    WhisperAssets {
        mel_filters: dir.path(paths::MEL_FILTERS),
        gpt2_tiktoken: dir.path(paths::GPT2_TIKTOKEN),
        multilingual_tiktoken: dir.path(paths::MULTILINGUAL_TIKTOKEN),
    }
}

/// How the weight matrices of the installed models are stored. `q8_0` holds tiny.en in
/// 44 MB instead of 78, makes the same word errors on the samples, and decodes a minute of
/// speech 5–10 % faster than f16 on the 2-core reference machine (short clips: within
/// noise). BENCHMARKS.md, "Whisper weights".
pub const WEIGHT_FORMAT: WeightFormat = WeightFormat::Q8_0;

/// Converts `model` to ggml unless already done; returns the summary when it converted.
pub fn provision_ggml(
    dir: &ModelsDir,
    model: ModelId,
) -> Result<Option<ConvertSummary>, ConvertError> {
    let out = model.ggml_path(dir);
    let converted = if out.is_file() {
        None
    } else {
        Some(convert_ct2_to_ggml_as(
            &model.ct2_model_bin(dir),
            &assets(dir),
            &out,
            WEIGHT_FORMAT,
        )?)
    };
    let legacy = model.legacy_ggml_path(dir);
    if legacy.is_file() {
        // Not worth keeping: nothing loads it any more.
        if let Err(e) = std::fs::remove_file(&legacy) {
            tracing::warn!(path = %legacy.display(), error = %e, "could not remove an old model file");
        }
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_api_rule() {
        let both = [ModelId::TinyEn, ModelId::Base];
        assert_eq!(ModelId::auto(Some("en"), &both), Some(ModelId::TinyEn));
        assert_eq!(ModelId::auto(Some("en-US"), &both), Some(ModelId::TinyEn));
        assert_eq!(ModelId::auto(Some("fr"), &both), Some(ModelId::Base));
        assert_eq!(ModelId::auto(None, &both), Some(ModelId::Base));
        assert_eq!(
            ModelId::auto(None, &[ModelId::TinyEn]),
            Some(ModelId::TinyEn)
        );
        assert_eq!(
            ModelId::auto(Some("en"), &[ModelId::Base]),
            Some(ModelId::Base)
        );
        assert_eq!(ModelId::auto(None, &[]), None);
        assert_eq!(ModelId::parse("whisper-base"), Some(ModelId::Base));
        assert_eq!(ModelId::parse("large"), None);
    }
}
