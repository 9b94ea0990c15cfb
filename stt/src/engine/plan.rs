//! How much of Whisper's 30 s window to encode, and how many tokens a decode may take.
//!
//! Whisper pads every input to 30 s (1500 encoder positions, 50 per second), and the
//! encoder's cost grows with the positions it attends over. A short clip can be encoded
//! with a trimmed context (`audio_ctx`), which stock Whisper weights tolerate only when
//! the context still reaches well past the speech: with a context cut close to the clip
//! the decoder misses its closing timestamp and starts the text over. The figures below
//! come from running 20 inputs (every sample in `samples/`, a 10 s concatenation, 3 s of
//! silence and of noise) through both models, one thread, CPU time per input:
//!
//! | context (positions) | tiny.en runaways | tiny.en time | base runaways | base time |
//! |---|---|---|---|---|
//! | full window (1500) | 0 | 2.1 s | 0 | 4.3 s |
//! | clip, ≥ 250 | 4 | — | 3 | — |
//! | clip, ≥ 500 | 1 | 0.58 s | 1 | 1.2 s |
//! | clip, ≥ 750 | 0 | 0.80 s | 0 | 1.8 s |
//!
//! A runaway is caught and decoded again with the full window, so ≥ 500 costs least on
//! average; base's one runaway there (a 10.4 s clip given 522 positions) is why longer
//! clips also keep a [`MARGIN`].

use super::SAMPLE_RATE;

/// Encoder positions of the full window.
pub(crate) const FULL_CTX: usize = 1500;

/// Input samples per encoder position (16 kHz, 50 positions per second).
const SAMPLES_PER_POSITION: usize = SAMPLE_RATE as usize / 50;

/// Smallest trimmed context. Below ≈10 s of context, stock tiny.en and base restart or
/// garble several of the sample clips; from here on they transcribe them as the full
/// window does.
pub(crate) const MIN_CTX: usize = 500;

/// Positions of padding kept after the clip when it is longer than [`MIN_CTX`]: the
/// decoder needs to see the speech end before the context does.
pub(crate) const MARGIN: usize = 250;

/// Positions of padding after a short clip on its first, tight try (see [`Plan::tight`]):
/// 4 s. Measured on 105 short clips (BENCHMARKS.md, "A tighter context first"): 150
/// was faster still but changed more words, and once answered nothing at all.
pub(crate) const TIGHT_MARGIN: usize = 200;

/// Words a second of speech holds at most on a tight try, and words allowed on top: a
/// decode with more restarted its text with a word changed on the way, which
/// [`super::repeat::restarts`] does not catch ("name a fruit that is yellow. The name of
/// fruit that is yellow." for 1.3 s). Fast speech is 4–5 words a second.
pub(crate) const TIGHT_MAX_WORDS_PER_SECOND: f64 = 5.0;
pub(crate) const TIGHT_WORD_SLACK: f64 = 2.0;

/// Longest input decoded with a trimmed context (28 s): beyond it, trimming saves too
/// little to be worth the risk, and the normal windowed decode runs. Long input reaches
/// the plan in chunks of at most 18 s (`split`), so this is a guard, not a path.
pub(crate) const MAX_TRIMMED_SAMPLES: usize = 28 * SAMPLE_RATE as usize;

/// Upper bound of speech rate in decoded tokens per second (fast English is ≈4).
const TOKENS_PER_SECOND: usize = 6;

/// Tokens allowed on top of the rate: timestamps, the first token, a short word said
/// in a very short clip.
const TOKEN_SLACK: usize = 12;

/// The decoding of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Encoder positions; 0 is whisper's full window.
    pub audio_ctx: usize,
    /// Decoded tokens allowed (timestamps included); 0 leaves whisper's own bound.
    pub max_tokens: usize,
    /// One segment for the whole input (no window sliding).
    pub single_segment: bool,
}

impl Plan {
    /// The normal windowed decode: 30 s windows, whisper's own bounds.
    pub(crate) fn full() -> Self {
        Self {
            audio_ctx: 0,
            max_tokens: 0,
            single_segment: false,
        }
    }

    /// Encoder positions for language detection: the first [`MIN_CTX`] (10 s), not the
    /// whole window; a third of the cost, and speech enough to tell a language.
    pub(crate) fn detection_ctx(&self) -> usize {
        if self.audio_ctx == 0 {
            MIN_CTX
        } else {
            self.audio_ctx.min(MIN_CTX)
        }
    }

    /// A first, tighter try for a short clip: the clip and [`TIGHT_MARGIN`] of padding,
    /// when that is less than [`MIN_CTX`] (clips under 6 s). `None` for longer clips.
    pub(crate) fn tight(samples: usize) -> Option<Self> {
        let plan = Self::trimmed(samples)?;
        let audio_ctx = samples.div_ceil(SAMPLES_PER_POSITION) + TIGHT_MARGIN;
        (audio_ctx < MIN_CTX).then_some(Self { audio_ctx, ..plan })
    }

    /// Whether a tight try's `words` for `samples` are believable (see
    /// [`TIGHT_MAX_WORDS_PER_SECOND`]): some words, and no more than speech holds.
    pub(crate) fn plausible_tight(words: usize, samples: usize) -> bool {
        let seconds = samples as f64 / f64::from(SAMPLE_RATE);
        words > 0 && (words as f64) <= TIGHT_WORD_SLACK + TIGHT_MAX_WORDS_PER_SECOND * seconds
    }

    /// The trimmed decode of `samples` 16 kHz samples; `None` when the input is too long.
    pub(crate) fn trimmed(samples: usize) -> Option<Self> {
        if samples > MAX_TRIMMED_SAMPLES {
            return None;
        }
        let positions = samples.div_ceil(SAMPLES_PER_POSITION);
        let audio_ctx = (positions + MARGIN).clamp(MIN_CTX, FULL_CTX);
        let seconds = samples.div_ceil(SAMPLE_RATE as usize);
        Some(Self {
            audio_ctx,
            max_tokens: seconds * TOKENS_PER_SECOND + TOKEN_SLACK,
            single_segment: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_clips_get_the_minimum_context_and_a_budget() {
        let p = Plan::trimmed(SAMPLE_RATE as usize * 3).unwrap_or_else(Plan::full);
        assert_eq!(p.audio_ctx, MIN_CTX);
        assert_eq!(p.max_tokens, 3 * TOKENS_PER_SECOND + TOKEN_SLACK);
        assert!(p.single_segment);
        let tiny = Plan::trimmed(100).unwrap_or_else(Plan::full);
        assert_eq!(tiny.audio_ctx, MIN_CTX);
        assert_eq!(tiny.max_tokens, TOKENS_PER_SECOND + TOKEN_SLACK);
    }

    #[test]
    fn only_short_clips_get_a_tight_try_with_the_same_budget() {
        let three = SAMPLE_RATE as usize * 3;
        let tight = Plan::tight(three).unwrap_or_else(Plan::full);
        assert_eq!(tight.audio_ctx, 150 + TIGHT_MARGIN);
        assert_eq!(
            Some(tight.max_tokens),
            Plan::trimmed(three).map(|p| p.max_tokens)
        );
        assert!(tight.single_segment);
        assert_eq!(Plan::tight(SAMPLE_RATE as usize * 6), None);
        assert_eq!(Plan::tight(MAX_TRIMMED_SAMPLES + 1), None);
    }

    #[test]
    fn a_tight_try_needs_words_and_no_more_than_speech_holds() {
        let second = SAMPLE_RATE as usize;
        assert!(!Plan::plausible_tight(0, second));
        assert!(Plan::plausible_tight(1, second / 3));
        assert!(Plan::plausible_tight(8, second * 18 / 10));
        // "name a fruit that is yellow. The name of fruit that is yellow." in 1.3 s.
        assert!(!Plan::plausible_tight(11, second * 13 / 10));
    }

    #[test]
    fn longer_clips_keep_a_margin_and_never_exceed_the_window() {
        let p = Plan::trimmed(SAMPLE_RATE as usize * 20).unwrap_or_else(Plan::full);
        assert_eq!(p.audio_ctx, 1000 + MARGIN);
        let p = Plan::trimmed(MAX_TRIMMED_SAMPLES).unwrap_or_else(Plan::full);
        assert_eq!(p.audio_ctx, FULL_CTX);
        assert_eq!(Plan::trimmed(MAX_TRIMMED_SAMPLES + 1), None);
        assert_eq!(p.detection_ctx(), MIN_CTX);
        assert_eq!(Plan::full().detection_ctx(), MIN_CTX);
    }
}
