//! The voices this server speaks with: loaded once at start-up, shared by every request,
//! and the rules that pick one for a request (`voice`, `language`, the text itself).

use std::sync::Arc;
use std::time::Instant;

use mka1_http_api::ApiError;
use mka1_models::ModelsDir;
use mka1_tts::{PiperVoice, VOICES, Voice, VoiceOptions};

use crate::language::{TTS_LANGUAGES, describe, detect_language, parse_tts_language};

/// The one TTS engine, as `model` names it (`auto` means it too).
pub const TTS_MODEL: &str = "piper";

/// OpenAI's voice names. They all map to the default voice of the text's language: the
/// installed voices are not OpenAI's, and refusing the names would break every client
/// written for OpenAI.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// A registry voice and what became of loading it.
#[derive(Debug)]
struct Slot {
    voice: &'static Voice,
    loaded: Result<Arc<PiperVoice>, String>,
}

/// Every registry voice, loaded when installed.
#[derive(Debug)]
pub struct Voices {
    slots: Vec<Slot>,
}

impl Voices {
    /// Loads every installed voice of the registry (and starts espeak-ng once for each),
    /// then speaks a word with each so that the first request does not pay for ONNX
    /// Runtime's warm-up. A voice that is missing or fails to load is logged and
    /// remembered: requests for it are answered with 503 and the reason.
    pub fn load(dir: &ModelsDir, options: &VoiceOptions) -> Self {
        let slots = VOICES
            .iter()
            .map(|voice| {
                let start = Instant::now();
                let loaded = PiperVoice::load(voice, dir, options).and_then(|v| {
                    v.synthesize("Ready.")?;
                    Ok(Arc::new(v))
                });
                match &loaded {
                    Ok(_) => tracing::info!(
                        voice = voice.id,
                        ms = start.elapsed().as_millis() as u64,
                        "TTS voice loaded"
                    ),
                    Err(e) => tracing::warn!(
                        voice = voice.id,
                        error = %e,
                        "TTS voice not available: speech routes will answer 503 for it"
                    ),
                }
                Slot {
                    voice,
                    loaded: loaded.map_err(|e| e.to_string()),
                }
            })
            .collect();
        Self { slots }
    }

    /// No voice, each failed for `reason`.
    pub fn failed(reason: &str) -> Self {
        let slots = VOICES
            .iter()
            .map(|voice| Slot {
                voice,
                loaded: Err(reason.to_owned()),
            })
            .collect();
        Self { slots }
    }

    /// Voices from already loaded ones (tests, or an embedding application).
    pub fn from_loaded(voices: impl IntoIterator<Item = Arc<PiperVoice>>) -> Self {
        let loaded: Vec<Arc<PiperVoice>> = voices.into_iter().collect();
        let slots = VOICES
            .iter()
            .map(|voice| Slot {
                voice,
                loaded: loaded
                    .iter()
                    .find(|v| v.voice().id == voice.id)
                    .cloned()
                    .ok_or_else(|| format!("voice {} was not loaded", voice.id)),
            })
            .collect();
        Self { slots }
    }

    /// The loaded voice for `voice`, or 503 saying why there is none.
    pub fn get(&self, voice: &Voice) -> Result<Arc<PiperVoice>, ApiError> {
        let slot = self.slots.iter().find(|s| s.voice.id == voice.id);
        match slot.map(|s| &s.loaded) {
            Some(Ok(v)) => Ok(Arc::clone(v)),
            Some(Err(reason)) => Err(ApiError::unavailable(
                format!(
                    "Voice '{}' is not available on this server ({reason}). Install the \
                     models with `mka1-voice models install` and restart the server.",
                    voice.id
                ),
                30,
            )
            .with_code("voice_unavailable")),
            None => Err(ApiError::unavailable(
                format!("Voice '{}' is not available on this server.", voice.id),
                30,
            )
            .with_code("voice_unavailable")),
        }
    }

    /// The registry voices that are loaded and ready.
    pub fn installed(&self) -> impl Iterator<Item = &'static Voice> + '_ {
        self.slots
            .iter()
            .filter(|s| s.loaded.is_ok())
            .map(|s| s.voice)
    }

    /// Whether `voice` is loaded.
    pub fn is_loaded(&self, voice: &Voice) -> bool {
        self.slots
            .iter()
            .any(|s| s.voice.id == voice.id && s.loaded.is_ok())
    }
}

/// The short name of a voice (`en_US-joe-medium` → `joe`), also accepted as its id.
pub fn short_name(voice: &Voice) -> &'static str {
    voice.id.split('-').nth(1).unwrap_or(voice.id)
}

/// The registry voice a client named, by id or short name, case-insensitively.
pub fn find_voice(name: &str) -> Option<&'static Voice> {
    let name = name.trim();
    VOICES
        .iter()
        .find(|v| v.id.eq_ignore_ascii_case(name) || short_name(v).eq_ignore_ascii_case(name))
}

/// The voice and language chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceChoice {
    /// The voice to speak with.
    pub voice: &'static Voice,
    /// The language code reported in `X-Language-Code`.
    pub language: &'static str,
}

/// Picks the voice for `text` as shared/API.md section 2 says: an explicit `voice` wins
/// (it must speak an explicit `language`); otherwise the default voice of `language`,
/// where `auto` is the language the text is written in. A language without a voice is a
/// 400 that names it: better than reading French with English phonemes.
pub fn choose_voice(
    text: &str,
    voice: Option<&str>,
    language: Option<&str>,
) -> Result<VoiceChoice, ApiError> {
    let language = match language.map(str::trim).filter(|l| !l.is_empty()) {
        None => "auto",
        Some(l) => parse_tts_language(l).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unsupported `language` '{l}': use one of {}.",
                TTS_LANGUAGES.join(", ")
            ))
            .with_code("unsupported_language")
            .with_param("language")
        })?,
    };
    let spoken = registry_languages();
    if let Some(name) = voice.map(str::trim).filter(|v| !v.is_empty()) {
        let voice = find_voice(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unknown voice '{name}': the voices are {}.",
                voice_list()
            ))
            .with_code("unknown_voice")
            .with_param("voice")
        })?;
        if language != "auto" && voice.language != language {
            return Err(ApiError::bad_request(format!(
                "Voice '{}' speaks {}, not {}: leave out `voice` or `language`, or pick a \
                 voice for {}. Voices are installed for: {spoken}.",
                voice.id,
                describe(voice.language),
                describe(language),
                describe(language)
            ))
            .with_code("voice_language_mismatch")
            .with_param("voice"));
        }
        return Ok(VoiceChoice {
            voice,
            language: voice.language,
        });
    }
    let (target, detected) = if language == "auto" {
        (detect_language(text), true)
    } else {
        (language, false)
    };
    match Voice::for_language(target) {
        Some(voice) => Ok(VoiceChoice {
            voice,
            language: voice.language,
        }),
        None if detected => Err(ApiError::bad_request(format!(
            "The text looks like {}, and no voice for that language is installed \
             (voices are installed for: {spoken}). Pass `voice` to read it with one of \
             them anyway.",
            describe(target)
        ))
        .with_code("unsupported_language")
        .with_param("text")),
        None => Err(ApiError::bad_request(format!(
            "No voice is installed for {} (voices are installed for: {spoken}).",
            describe(target)
        ))
        .with_code("unsupported_language")
        .with_param("language")),
    }
}

/// `English (en)`, ... : the languages the registry has voices for.
fn registry_languages() -> String {
    let mut langs: Vec<&str> = VOICES.iter().map(|v| v.language).collect();
    langs.dedup();
    langs
        .iter()
        .map(|l| describe(l))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `en_US-joe-medium (joe)`, ...
fn voice_list() -> String {
    VOICES
        .iter()
        .map(|v| format!("{} ({})", v.id, short_name(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a TTS `model`: `auto`, `piper`, or one of OpenAI's model names (mapped to the
/// one engine, for the OpenAI route).
pub fn check_tts_model(model: Option<&str>, openai_names: bool) -> Result<(), ApiError> {
    let Some(model) = model.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let known = ["auto", TTS_MODEL];
    let openai = [
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "gpt-4o-mini-tts-2025-12-15",
    ];
    if known.iter().any(|k| k.eq_ignore_ascii_case(model))
        || (openai_names && openai.iter().any(|k| k.eq_ignore_ascii_case(model)))
    {
        return Ok(());
    }
    let mut names: Vec<&str> = known.to_vec();
    if openai_names {
        names.extend(openai);
    }
    Err(ApiError::bad_request(format!(
        "Unknown TTS model '{model}': use one of {}.",
        names.join(", ")
    ))
    .with_code("unknown_model")
    .with_param("model"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn english_text_gets_the_english_voice() {
        let c = choose_voice("Hello there. How are you?", None, None).unwrap();
        assert_eq!((c.voice.id, c.language), ("en_US-joe-medium", "en"));
        let c = choose_voice("Hello.", None, Some("en-US")).unwrap();
        assert_eq!(c.language, "en");
        let c = choose_voice("Hello.", Some("JOE"), Some("auto")).unwrap();
        assert_eq!(c.voice.id, "en_US-joe-medium");
        let c = choose_voice("Hello.", Some("en_US-joe-medium"), Some("en")).unwrap();
        assert_eq!(c.voice.id, "en_US-joe-medium");
    }

    #[test]
    fn languages_without_voices_are_named() {
        let e =
            choose_voice("Bonjour tout le monde, comment allez-vous ?", None, None).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert!(e.message().contains("French (fr)"), "{}", e.message());
        assert!(e.message().contains("English (en)"), "{}", e.message());

        let e = choose_voice("Hello.", None, Some("de")).unwrap_err();
        assert!(e.message().contains("German (de)"), "{}", e.message());
        assert_eq!(e.param(), Some("language"));

        let e = choose_voice("Hello.", Some("joe"), Some("ja")).unwrap_err();
        assert!(e.message().contains("Japanese (ja)"), "{}", e.message());
        assert_eq!(e.code(), "voice_language_mismatch");

        let e = choose_voice("Hello.", None, Some("sv")).unwrap_err();
        assert_eq!(e.code(), "unsupported_language");
        assert!(e.message().contains("auto, en, zh"), "{}", e.message());

        let e = choose_voice("Hello.", Some("nobody"), None).unwrap_err();
        assert_eq!(e.code(), "unknown_voice");
    }

    #[test]
    fn tts_models() {
        assert!(check_tts_model(None, false).is_ok());
        assert!(check_tts_model(Some("auto"), false).is_ok());
        assert!(check_tts_model(Some("piper"), false).is_ok());
        assert!(check_tts_model(Some("tts-1"), false).is_err());
        assert!(check_tts_model(Some("tts-1"), true).is_ok());
        let e = check_tts_model(Some("x"), true).unwrap_err();
        assert!(e.message().contains("tts-1-hd"));
    }
}
