//! The Whisper engine: one loaded model (context) shared by every caller, one decoding
//! state per call. Calls block the current thread: async callers run them on dedicated
//! threads, never on the runtime's workers.

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::registry::ModelId;

/// Sample rate Whisper expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Why a transcription failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SttError {
    /// The model file is absent (not provisioned).
    #[error("model {model} is not installed ({path}); run `mka1-voice models install`")]
    NotInstalled {
        /// Which model.
        model: ModelId,
        /// Where it was expected.
        path: String,
    },
    /// whisper.cpp refused to load the model file.
    #[error("could not load model {path}: {reason}")]
    Load {
        /// The file.
        path: String,
        /// whisper.cpp's error.
        reason: String,
    },
    /// The language code is not one Whisper knows.
    #[error("unknown language '{0}'")]
    UnknownLanguage(String),
    /// The English-only model was asked for another language.
    #[error("model {model} only transcribes English, not '{language}'")]
    LanguageNotSupported {
        /// Which model.
        model: ModelId,
        /// Requested language.
        language: String,
    },
    /// Inference failed.
    #[error("transcription failed: {0}")]
    Inference(String),
}

/// Options of one transcription.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// ISO-639-1 language (`en`, or BCP-47 such as `en-US`); `None` detects it.
    pub language: Option<String>,
    /// Initial prompt (vocabulary hint).
    pub prompt: Option<String>,
    /// Decoding temperature (0 = greedy).
    pub temperature: Option<f32>,
    /// Threads for this call (default: all cores).
    pub threads: Option<usize>,
}

/// A transcribed span of audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, ms from the beginning of the input.
    pub start_ms: u64,
    /// End, ms.
    pub end_ms: u64,
    /// Text (trimmed).
    pub text: String,
}

/// The result of a transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Whole text, segments joined by spaces.
    pub text: String,
    /// Language used or detected (ISO-639-1).
    pub language: String,
    /// Mean probability of the text tokens, 0..1.
    pub confidence: f32,
    /// Timed segments.
    pub segments: Vec<Segment>,
}

/// A loaded Whisper model. Cheap to share (`Arc`); each call gets its own state.
pub struct WhisperModel {
    id: ModelId,
    ctx: WhisperContext,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("id", &self.id)
            .finish()
    }
}

impl WhisperModel {
    /// Loads a ggml model file.
    pub fn load(id: ModelId, path: &Path) -> Result<Self, SttError> {
        if !path.is_file() {
            return Err(SttError::NotInstalled {
                model: id,
                path: path.display().to_string(),
            });
        }
        // Route whisper.cpp's own logging into `tracing` instead of raw stderr.
        whisper_rs::install_logging_hooks();
        let path_str = path.to_str().ok_or_else(|| SttError::Load {
            path: path.display().to_string(),
            reason: "path is not UTF-8".into(),
        })?;
        let ctx = WhisperContext::new_with_params(path_str, WhisperContextParameters::default())
            .map_err(|e| SttError::Load {
                path: path_str.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self { id, ctx })
    }

    /// Which model this is.
    pub fn id(&self) -> ModelId {
        self.id
    }

    /// Transcribes 16 kHz mono f32 samples. Blocks: call from a dedicated thread.
    pub fn transcribe(
        &self,
        pcm: &[f32],
        opts: &TranscribeOptions,
    ) -> Result<Transcript, SttError> {
        let language = match opts.language.as_deref().map(normalize_language) {
            Some(Some(l)) => Some(l),
            Some(None) => {
                return Err(SttError::UnknownLanguage(
                    opts.language.clone().unwrap_or_default(),
                ));
            }
            None => None,
        };
        if let Some(l) = &language
            && !self.id.is_multilingual()
            && l != "en"
        {
            return Err(SttError::LanguageNotSupported {
                model: self.id,
                language: l.clone(),
            });
        }
        if pcm.is_empty() {
            return Ok(Transcript {
                text: String::new(),
                language: language.unwrap_or_else(|| "en".into()),
                confidence: 0.0,
                segments: Vec::new(),
            });
        }

        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| SttError::Inference(e.to_string()))?;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        params.set_n_threads(i32::try_from(threads).unwrap_or(1));
        // English-only models have no language token; multilingual ones detect when unset.
        let lang_param = if self.id.is_multilingual() {
            Some(language.as_deref().unwrap_or("auto"))
        } else {
            Some("en")
        };
        params.set_language(lang_param);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_no_context(true);
        params.set_suppress_blank(true);
        if let Some(t) = opts.temperature {
            params.set_temperature(t.clamp(0.0, 1.0));
        }
        // NUL bytes would make whisper-rs panic building a C string; they carry no meaning.
        let prompt = opts.prompt.as_deref().map(|p| p.replace('\0', ""));
        if let Some(p) = prompt.as_deref().filter(|p| !p.is_empty()) {
            params.set_initial_prompt(p);
        }

        state
            .full(params, pcm)
            .map_err(|e| SttError::Inference(e.to_string()))?;

        let detected = if self.id.is_multilingual() {
            whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_owned)
        } else {
            None
        };
        let eot = self.ctx.token_eot();
        let mut segments = Vec::new();
        let (mut prob_sum, mut prob_n) = (0.0f64, 0usize);
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| SttError::Inference(e.to_string()))?
                .trim()
                .to_owned();
            for i in 0..seg.n_tokens() {
                if let Some(tok) = seg.get_token(i)
                    && tok.token_id() < eot
                {
                    prob_sum += f64::from(tok.token_probability());
                    prob_n += 1;
                }
            }
            if text.is_empty() {
                continue;
            }
            // whisper.cpp timestamps are in 10 ms units.
            segments.push(Segment {
                start_ms: u64::try_from(seg.start_timestamp()).unwrap_or(0) * 10,
                end_ms: u64::try_from(seg.end_timestamp()).unwrap_or(0) * 10,
                text,
            });
        }
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            language: language.or(detected).unwrap_or_else(|| "en".into()),
            confidence: if prob_n == 0 {
                0.0
            } else {
                (prob_sum / prob_n as f64) as f32
            },
            segments,
        })
    }
}

/// `en`, `en-US`, `EN_us` → `en`; `None` for a code Whisper does not know.
pub fn normalize_language(code: &str) -> Option<String> {
    let primary = code
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    // Checked before the FFI call, which panics on interior NUL bytes.
    let plausible =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    plausible
        .then(|| whisper_rs::get_lang_id(&primary))
        .flatten()
        .map(|_| primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_normalize() {
        assert_eq!(normalize_language("en-US").as_deref(), Some("en"));
        assert_eq!(normalize_language("FR").as_deref(), Some("fr"));
        assert_eq!(normalize_language("xx"), None);
        assert_eq!(normalize_language(""), None);
        assert_eq!(normalize_language("e\0n"), None);
    }
}
