//! The Whisper engine: one loaded model (context) shared by every caller, one decoding
//! state per call. Calls block the current thread: async callers run them on dedicated
//! threads (see [`crate::pool`]), never on the runtime's workers.
//!
//! A clip of up to 15 s is first decoded with a trimmed encoder context, one segment and a
//! token budget from its length ([`plan`]); if that decode shows the signs of a runaway
//! (it restarted its text, repeated a phrase, or ran out of budget) the clip is decoded
//! again with the normal 30 s window. Live turns ([`TranscribeOptions::tight_first`])
//! try a short clip with a tighter context still before that. Longer input is cut at quiet moments into chunks of
//! about 12 s ([`split`]), each decoded that way. Every result then goes through a
//! repetition net ([`repeat`]).

mod cancel;
mod plan;
mod repeat;
mod split;
mod tokens;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::registry::ModelId;
pub use cancel::Cancel;
use plan::Plan;
use tokens::{Piece, RawSegment, RawToken, Vocab};

/// Sample rate Whisper expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Decoding states kept for reuse per model: creating one costs ≈10 ms of allocation.
const IDLE_STATES: usize = 4;

/// Prompt tokens passed to the decoder at most (whisper keeps half its text context,
/// 224 tokens, for the prompt).
const MAX_PROMPT_TOKENS: usize = 223;

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
    /// The call's [`TranscribeOptions::cancel`] flag was raised before it finished.
    #[error("the transcription was cancelled")]
    Cancelled,
}

/// Options of one transcription.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// ISO-639-1 language (`en`, or BCP-47 such as `en-US`); `None` detects it.
    pub language: Option<String>,
    /// Initial prompt (vocabulary hint).
    pub prompt: Option<String>,
    /// Decoding temperature (0 = greedy). When set, whisper's temperature fallback is on
    /// (a failed decode is retried hotter); when unset, decoding is greedy, once.
    pub temperature: Option<f32>,
    /// Threads for this call (default: all cores).
    pub threads: Option<usize>,
    /// Fill [`Segment::words`] with per-word timestamps and probabilities.
    pub word_timestamps: bool,
    /// Always decode with the full 30 s window, even a short clip (slower; the trimmed
    /// fast path is the default).
    pub full_window: bool,
    /// Decode a clip of up to ~6 s with a tighter encoder context first (the clip and
    /// 4 s of padding instead of at least 10 s): about half the time of the usual
    /// trimmed decode, for a second decode when it runs away (8 % of short spoken
    /// questions; BENCHMARKS.md). For live turns, where the median wait counts; off for
    /// files, where a clip's worst case does.
    pub tight_first: bool,
    /// Raising this flag stops the call early with [`SttError::Cancelled`].
    pub cancel: Option<Cancel>,
}

/// A word with its timing and confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Start, ms from the beginning of the input.
    pub start_ms: u64,
    /// End, ms.
    pub end_ms: u64,
    /// The word with its punctuation, without surrounding spaces.
    pub text: String,
    /// Mean probability of its tokens, 0..1.
    pub probability: f32,
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
    /// Its words, when [`TranscribeOptions::word_timestamps`] was asked; else empty.
    pub words: Vec<Word>,
}

/// Which decode produced a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodePath {
    /// The tight context of [`TranscribeOptions::tight_first`] alone.
    Tight,
    /// The trimmed fast path (after a tight try that ran away, when there was one).
    Trimmed,
    /// The trimmed decode ran away, and the full window decoded the clip again.
    TrimmedThenFull,
    /// The full window only ([`TranscribeOptions::full_window`]).
    Full,
    /// Long input, cut at quiet moments into chunks, each decoded on the trimmed path
    /// (a chunk that ran away decoded again with the full window).
    Chunked,
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
    /// Which decode produced it.
    pub decode_path: DecodePath,
}

/// A loaded Whisper model. Cheap to share (`Arc`); each call gets its own state.
pub struct WhisperModel {
    id: ModelId,
    ctx: WhisperContext,
    vocab: Vocab,
    /// Idle decoding states, reused by later calls.
    states: Mutex<Vec<WhisperState>>,
    /// Parameters per language code. whisper-rs copies the language into a C string it
    /// never frees, so each distinct language is set once per model, not once per call.
    by_language: Mutex<HashMap<String, FullParams<'static, 'static>>>,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("id", &self.id)
            .finish()
    }
}

/// A decode's tokens, before they become a [`Transcript`].
struct Decoded {
    segments: Vec<RawSegment>,
    /// The language whisper used (detected when none was given).
    language: Option<String>,
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
        let mut params = WhisperContextParameters::default();
        params.flash_attn(flash_attention());
        let ctx =
            WhisperContext::new_with_params(path_str, params).map_err(|e| SttError::Load {
                path: path_str.to_owned(),
                reason: e.to_string(),
            })?;
        let vocab = Vocab {
            eot: ctx.token_eot(),
            beg: ctx.token_beg(),
        };
        Ok(Self {
            id,
            ctx,
            vocab,
            states: Mutex::new(Vec::new()),
            by_language: Mutex::new(HashMap::new()),
        })
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
        let language = self.requested_language(opts)?;
        if pcm.is_empty() {
            return Ok(Transcript {
                text: String::new(),
                language: language.unwrap_or_else(|| "en".into()),
                confidence: 0.0,
                segments: Vec::new(),
                decode_path: DecodePath::Full,
            });
        }
        // NaN or infinite samples (a broken decoder upstream) would poison the mel.
        let pcm: Cow<'_, [f32]> = if pcm.iter().all(|s| s.is_finite()) {
            Cow::Borrowed(pcm)
        } else {
            Cow::Owned(
                pcm.iter()
                    .map(|s| if s.is_finite() { *s } else { 0.0 })
                    .collect(),
            )
        };
        let mut state = self.take_state()?;
        let result = self.decode(&mut state, &pcm, opts, language);
        // A state that failed mid-decode is dropped rather than trusted again. A cancelled
        // one stopped at a check whisper.cpp makes between passes, which it starts afresh.
        if matches!(result, Ok(_) | Err(SttError::Cancelled)) {
            let mut idle = self.states.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < IDLE_STATES {
                idle.push(state);
            }
        }
        result
    }

    /// The language asked for, validated and normalized; `None` to detect it.
    fn requested_language(&self, opts: &TranscribeOptions) -> Result<Option<String>, SttError> {
        let language = match opts.language.as_deref().map(normalize_language) {
            Some(Some(l)) => Some(l),
            Some(None) => {
                return Err(SttError::UnknownLanguage(
                    opts.language.clone().unwrap_or_default(),
                ));
            }
            None => None,
        };
        match language {
            Some(l) if !self.id.is_multilingual() && l != "en" => {
                Err(SttError::LanguageNotSupported {
                    model: self.id,
                    language: l,
                })
            }
            // English-only models have no language token: nothing to detect.
            None if !self.id.is_multilingual() => Ok(Some("en".into())),
            other => Ok(other),
        }
    }

    fn take_state(&self) -> Result<WhisperState, SttError> {
        let idle = self
            .states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(s) => Ok(s),
            None => self
                .ctx
                .create_state()
                .map_err(|e| SttError::Inference(e.to_string())),
        }
    }

    /// The full window when asked for; else the trimmed path, chunk by chunk for long
    /// input.
    fn decode(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        opts: &TranscribeOptions,
        language: Option<String>,
    ) -> Result<Transcript, SttError> {
        if opts.full_window {
            let (pieces, language) = self.decode_full(state, pcm, opts, language.as_deref())?;
            return Ok(finish(pieces, language, DecodePath::Full, opts));
        }
        let chunks = split::chunks(pcm);
        if let [whole] = chunks.as_slice() {
            let (pieces, language, path) =
                self.decode_chunk(state, &pcm[whole.clone()], opts, language)?;
            return Ok(finish(pieces, language, path, opts));
        }
        tracing::debug!(model = %self.id, chunks = chunks.len(), "long input, decoded in chunks");
        let mut language = language;
        let mut pieces = Vec::new();
        for range in chunks {
            let offset_cs = samples_to_cs(range.start);
            // The first chunk detects the language (when none was given); the others use it.
            let (chunk_pieces, detected, _) =
                self.decode_chunk(state, &pcm[range], opts, language.clone())?;
            language = language.or(detected);
            pieces.extend(chunk_pieces.into_iter().map(|p| p.shifted(offset_cs)));
        }
        Ok(finish(pieces, language, DecodePath::Chunked, opts))
    }

    /// Trimmed decode of one clip or chunk (the tight context first when
    /// [`TranscribeOptions::tight_first`]), then the full window when that ran away (or
    /// when the clip is too long to trim). Times are from the start of `pcm`.
    fn decode_chunk(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        opts: &TranscribeOptions,
        language: Option<String>,
    ) -> Result<(Vec<Piece>, Option<String>, DecodePath), SttError> {
        let Some(plan) = Plan::trimmed(pcm.len()) else {
            let (pieces, language) = self.decode_full(state, pcm, opts, language.as_deref())?;
            return Ok((pieces, language, DecodePath::Full));
        };
        let mut language = language;
        let tight = Plan::tight(pcm.len()).filter(|_| opts.tight_first);
        let tries = tight.map(|p| (p, true)).into_iter().chain([(plan, false)]);
        for (plan, is_tight) in tries {
            let first = self.run(state, pcm, opts, &plan, language.as_deref())?;
            let pieces = tokens::pieces(&first.segments, self.vocab, samples_to_cs(pcm.len()));
            let keys = word_keys(&pieces);
            let believable = !ran_away(&first.segments, &keys, self.vocab, plan.max_tokens)
                && (!is_tight || Plan::plausible_tight(keys.len(), pcm.len()));
            if believable {
                let path = if is_tight {
                    DecodePath::Tight
                } else {
                    DecodePath::Trimmed
                };
                return Ok((pieces, first.language, path));
            }
            tracing::debug!(model = %self.id, audio_ctx = plan.audio_ctx, "trimmed decode ran away");
            // The language is known now: detecting it again would cost another encode.
            language = language.or(first.language);
        }
        tracing::debug!(model = %self.id, "decoding the full window");
        let (pieces, language) = self.decode_full(state, pcm, opts, language.as_deref())?;
        Ok((pieces, language, DecodePath::TrimmedThenFull))
    }

    /// Whisper's own windowed decode of `pcm`, as pieces timed from its start.
    fn decode_full(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        opts: &TranscribeOptions,
        language: Option<&str>,
    ) -> Result<(Vec<Piece>, Option<String>), SttError> {
        let out = self.run(state, pcm, opts, &Plan::full(), language)?;
        let pieces = tokens::pieces(&out.segments, self.vocab, samples_to_cs(pcm.len()));
        Ok((pieces, out.language))
    }

    /// One `whisper_full` call with `plan`; `language` `None` detects it.
    fn run(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        opts: &TranscribeOptions,
        plan: &Plan,
        language: Option<&str>,
    ) -> Result<Decoded, SttError> {
        let audio_ctx = i32::try_from(plan.audio_ctx).unwrap_or(0);
        if language.is_none() {
            self.prime_audio_ctx(state, pcm, plan.detection_ctx())?;
        }
        // `'_` for the prompt tokens: the cached parameters outlive this call's borrow.
        let mut params: FullParams<'static, '_> = self.params_for(language.unwrap_or("auto"));
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        params.set_n_threads(i32::try_from(threads).unwrap_or(1));
        params.set_audio_ctx(audio_ctx);
        params.set_single_segment(plan.single_segment);
        params.set_max_tokens(i32::try_from(plan.max_tokens).unwrap_or(0));
        params.set_token_timestamps(opts.word_timestamps);
        match opts.temperature {
            Some(t) => params.set_temperature(if t.is_finite() {
                t.clamp(0.0, 1.0)
            } else {
                0.0
            }),
            // Greedy once: a hotter retry of a runaway short decode is slower and no
            // more reliable than the full-window decode that follows it.
            None if plan.single_segment => params.set_temperature_inc(0.0),
            // The windowed path keeps whisper's fallback: its entropy check is what stops
            // a window from looping on long audio.
            None => {}
        }
        let prompt_tokens = self.prompt_tokens(opts.prompt.as_deref());
        if !prompt_tokens.is_empty() {
            params.set_tokens(&prompt_tokens);
        }
        let cancel = opts.cancel.as_ref();
        if let Some(cancel) = cancel {
            if cancel.is_cancelled() {
                return Err(SttError::Cancelled);
            }
            // `cancel` is borrowed from `opts`, which outlives the `full` call below.
            cancel.install(&mut params);
        }
        let done = state.full(params, pcm);
        if cancel.is_some_and(Cancel::is_cancelled) {
            return Err(SttError::Cancelled);
        }
        done.map_err(|e| SttError::Inference(e.to_string()))?;
        let language = if self.id.is_multilingual() {
            whisper_rs::get_lang_str(state.full_lang_id_from_state())
                .map(str::to_owned)
                .or_else(|| language.map(str::to_owned))
        } else {
            Some("en".to_owned())
        };
        Ok(Decoded {
            segments: raw_segments(state),
            language,
        })
    }

    /// whisper.cpp detects the language by encoding with the state's *current* audio
    /// context, which `whisper_full` only sets after detecting: on a fresh state that is
    /// a full 30 s encode even for a 1 s clip. A first call with the context wanted and
    /// a 100 ms duration sets it and returns before any encoding (it only computes the
    /// mel), so the detection that follows costs a trimmed encode; the decode after it
    /// sets its own context again.
    fn prime_audio_ctx(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        audio_ctx: usize,
    ) -> Result<(), SttError> {
        let audio_ctx = i32::try_from(audio_ctx).unwrap_or(0);
        // Only the mel of what is passed is computed; 200 ms is enough for `duration_ms`.
        let head = &pcm[..pcm.len().min(SAMPLE_RATE as usize / 5)];
        let mut params = self.params_for("en");
        params.set_n_threads(1);
        params.set_audio_ctx(audio_ctx);
        params.set_duration_ms(100);
        state
            .full(params, head)
            .map_err(|e| SttError::Inference(e.to_string()))
    }

    /// Base parameters with `language` set, from the per-language cache.
    fn params_for(&self, language: &str) -> FullParams<'static, 'static> {
        let mut cache = self
            .by_language
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = cache.get(language) {
            return p.clone();
        }
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        if self.id.is_multilingual() {
            // `language` is a code whisper knows (or "auto"): no NUL byte can reach here.
            let code: &'static str =
                whisper_rs::get_lang_str(whisper_rs::get_lang_id(language).unwrap_or(-1))
                    .unwrap_or("auto");
            params.set_language(Some(code));
        }
        // English-only models keep whisper's default ("en"), which needs no allocation.
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        // Each call stands alone: text carried over is how loops propagate.
        params.set_no_context(true);
        params.set_suppress_blank(true);
        // Non-speech annotations ("[BLANK_AUDIO]", "(buzzing)") stay allowed: suppressed,
        // they turn into invented words on silence and noise. `finish` removes them.
        params.set_suppress_nst(false);
        cache.insert(language.to_owned(), params.clone());
        params
    }

    /// The prompt as tokens (the last ones when it is long); empty when there is none.
    fn prompt_tokens(&self, prompt: Option<&str>) -> Vec<i32> {
        // NUL bytes would fail the C string conversion; they carry no meaning.
        let Some(prompt) = prompt.map(|p| p.replace('\0', "")) else {
            return Vec::new();
        };
        if prompt.trim().is_empty() {
            return Vec::new();
        }
        // Every token covers at least one byte, so this bound is never too small (a
        // too-small buffer makes whisper-rs misread the count).
        match self.ctx.tokenize(&prompt, prompt.len() + 1) {
            Ok(mut t) => {
                let excess = t.len().saturating_sub(MAX_PROMPT_TOKENS);
                t.drain(..excess);
                t
            }
            Err(e) => {
                tracing::warn!("prompt ignored: {e}");
                Vec::new()
            }
        }
    }
}

/// Turns pieces into the public transcript, collapsing repeated phrases.
fn finish(
    mut pieces: Vec<Piece>,
    language: Option<String>,
    decode_path: DecodePath,
    opts: &TranscribeOptions,
) -> Transcript {
    tokens::drop_annotations(&mut pieces);
    // The net runs over the whole text, so a loop that spans segments is caught too.
    let keys: Vec<String> = pieces
        .iter()
        .flat_map(|p| p.words.iter().map(|w| repeat::key(&w.text())))
        .collect();
    let mut keep = repeat::collapse(&keys).into_iter();
    let (mut p_sum, mut n_tokens) = (0.0f64, 0usize);
    let mut segments = Vec::new();
    for piece in pieces {
        let words: Vec<_> = piece
            .words
            .into_iter()
            .filter(|_| keep.next().unwrap_or(true))
            .collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.bytes.iter().copied()).collect();
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() {
            continue;
        }
        for w in &words {
            p_sum += f64::from(w.probability()) * w.n_tokens as f64;
            n_tokens += w.n_tokens;
        }
        let words = if opts.word_timestamps {
            words
                .iter()
                .map(|w| Word {
                    start_ms: cs_to_ms(w.t0),
                    end_ms: cs_to_ms(w.t1),
                    text: w.text(),
                    probability: w.probability(),
                })
                .collect()
        } else {
            Vec::new()
        };
        segments.push(Segment {
            start_ms: cs_to_ms(piece.t0),
            end_ms: cs_to_ms(piece.t1),
            text,
            words,
        });
    }
    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let confidence = if n_tokens == 0 {
        0.0
    } else {
        ((p_sum / n_tokens as f64) as f32).clamp(0.0, 1.0)
    };
    Transcript {
        text,
        language: language.unwrap_or_else(|| "en".into()),
        confidence,
        segments,
        decode_path,
    }
}

/// True when a trimmed decode shows the signs of a runaway: it used its whole token
/// budget, or its words start over or loop.
fn ran_away(segments: &[RawSegment], keys: &[String], vocab: Vocab, max_tokens: usize) -> bool {
    let decoded: usize = segments.iter().map(|s| s.tokens.len()).sum();
    // A decode that stopped by itself ends on a timestamp or end-of-text token; one cut
    // by the budget ends mid-text.
    let cut_off = segments
        .last()
        .and_then(|s| s.tokens.last())
        .is_some_and(|t| t.id < vocab.eot);
    cut_off || decoded > max_tokens || repeat::restarts(keys) || repeat::has_run(keys)
}

/// The comparison keys ([`repeat::key`]) of the words in `pieces` that have letters or
/// digits.
fn word_keys(pieces: &[Piece]) -> Vec<String> {
    pieces
        .iter()
        .flat_map(|p| p.words.iter().map(|w| repeat::key(&w.text())))
        .filter(|k| !k.is_empty())
        .collect()
}

/// Copies the decoded segments and tokens out of the state.
fn raw_segments(state: &WhisperState) -> Vec<RawSegment> {
    state
        .as_iter()
        .map(|seg| RawSegment {
            t0: seg.start_timestamp(),
            t1: seg.end_timestamp(),
            no_speech: seg.no_speech_probability(),
            tokens: (0..seg.n_tokens())
                .filter_map(|i| seg.get_token(i))
                .map(|tok| {
                    let data = tok.token_data();
                    RawToken {
                        id: data.id,
                        bytes: tok.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                        p: data.p,
                        t0: data.t0,
                        t1: data.t1,
                    }
                })
                .collect(),
        })
        .collect()
}

/// Input samples per centisecond, whisper.cpp's unit of time.
const CS_SAMPLES: usize = SAMPLE_RATE as usize / 100;

/// The duration of `samples` input samples, in centiseconds.
fn samples_to_cs(samples: usize) -> i64 {
    i64::try_from(samples / CS_SAMPLES).unwrap_or(i64::MAX)
}

/// whisper.cpp times are in 10 ms units.
fn cs_to_ms(cs: i64) -> u64 {
    u64::try_from(cs).unwrap_or(0).saturating_mul(10)
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

/// Whether whisper.cpp uses flash attention (env `MKA1_STT_FLASH_ATTN=1`). Off by default:
/// on this project's 2-core x86 reference machine it gained nothing at one thread and lost
/// ~12 % on a minute of audio (BENCHMARKS.md, "Flash attention").
fn flash_attention() -> bool {
    std::env::var("MKA1_STT_FLASH_ATTN").is_ok_and(|v| v.trim() == "1")
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

    #[test]
    fn milliseconds_from_centiseconds_never_underflow() {
        assert_eq!(cs_to_ms(-5), 0);
        assert_eq!(cs_to_ms(87), 870);
    }
}
