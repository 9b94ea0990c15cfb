//! Settings of one recognition stream.

use mka1_media::vad::SegmentConfig;

use std::sync::Arc;

use super::DecodeBudget;
use crate::engine::TranscribeOptions;

/// Samples per millisecond at 16 kHz.
pub(crate) const SAMPLES_PER_MS: u64 = 16;

/// How a stream finds utterances and how often it transcribes them. Build with
/// `StreamConfig::default().with_...`; out-of-range values are clamped when the stream is
/// created (see each field).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Silence after the last voiced audio that ends an utterance (the end-of-turn timeout):
    /// 32..=30000 ms, default 500.
    pub silence_ms: u32,
    /// Silence after which the utterance so far is decoded early ([`super::StreamEvent::Pause`]);
    /// also the trailing audio every final includes. 32..=2000 ms, default 200; at or above
    /// `silence_ms` there is no separate pause.
    pub pause_ms: u32,
    /// Audio between partial transcripts while speech goes on: 100..=10000 ms, default 500.
    pub partial_interval_ms: u32,
    /// Longest utterance transcribed at once; longer speech is cut into several finals.
    /// 2000..=29000 ms, default 28000 (Whisper's window is 30 s).
    pub max_utterance_ms: u32,
    /// Audio kept before the first voiced window (so the first phoneme is not clipped):
    /// 0..=1000 ms, default 300.
    pub preroll_ms: u32,
    /// Voiced audio needed before speech counts as started (coughs and clicks do not):
    /// 32..=2000 ms, default 250.
    pub min_speech_ms: u32,
    /// VAD probability at which a window becomes voiced (default 0.5).
    pub activation_threshold: f32,
    /// VAD probability down to which voiced windows stay voiced (default 0.35).
    pub deactivation_threshold: f32,
    /// Options of every decode (language, prompt, threads). Default: one thread, and
    /// the tight context first ([`TranscribeOptions::tight_first`]: a turn's pause decode
    /// is what its reply waits for).
    pub transcribe: TranscribeOptions,
    /// When set, each decode takes its thread count from this shared budget instead of
    /// `transcribe.threads`: every allowed thread while this is the only open stream of
    /// the budget, else one.
    pub budget: Option<Arc<DecodeBudget>>,
}

impl Default for StreamConfig {
    /// The defaults of each field. Decodes use one thread: streams run beside each other,
    /// the batch transcription workers and the rest of a voice session, and whisper.cpp's
    /// threads spin while they wait for each other, so a decode on oversubscribed cores
    /// slows down by an order of magnitude (3 s of speech on 2 busy cores: 0.6 s with one
    /// thread, 6 to 10 s with two). Set `transcribe.threads` for a machine of its own.
    fn default() -> Self {
        Self {
            silence_ms: 500,
            pause_ms: 200,
            partial_interval_ms: 500,
            max_utterance_ms: 28_000,
            preroll_ms: 300,
            min_speech_ms: 250,
            activation_threshold: 0.5,
            deactivation_threshold: 0.35,
            transcribe: TranscribeOptions {
                threads: Some(1),
                tight_first: true,
                ..TranscribeOptions::default()
            },
            budget: None,
        }
    }
}

impl StreamConfig {
    /// With the silence that ends an utterance.
    #[must_use]
    pub fn with_silence_ms(mut self, ms: u32) -> Self {
        self.silence_ms = ms;
        self
    }

    /// With the silence that triggers an early final.
    #[must_use]
    pub fn with_pause_ms(mut self, ms: u32) -> Self {
        self.pause_ms = ms;
        self
    }

    /// With the audio between partials.
    #[must_use]
    pub fn with_partial_interval_ms(mut self, ms: u32) -> Self {
        self.partial_interval_ms = ms;
        self
    }

    /// With the longest utterance decoded at once.
    #[must_use]
    pub fn with_max_utterance_ms(mut self, ms: u32) -> Self {
        self.max_utterance_ms = ms;
        self
    }

    /// With the pre-roll kept before speech.
    #[must_use]
    pub fn with_preroll_ms(mut self, ms: u32) -> Self {
        self.preroll_ms = ms;
        self
    }

    /// With the minimum speech duration.
    #[must_use]
    pub fn with_min_speech_ms(mut self, ms: u32) -> Self {
        self.min_speech_ms = ms;
        self
    }

    /// With the VAD thresholds.
    #[must_use]
    pub fn with_thresholds(mut self, activation: f32, deactivation: f32) -> Self {
        self.activation_threshold = activation;
        self.deactivation_threshold = deactivation;
        self
    }

    /// With the options of every decode.
    #[must_use]
    pub fn with_transcribe(mut self, options: TranscribeOptions) -> Self {
        self.transcribe = options;
        self
    }

    /// With decodes that share `budget`'s threads with its other streams.
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<DecodeBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The configuration actually applied: every value within its documented range.
    pub(crate) fn sanitized(&self) -> Self {
        let defaults = Self::default();
        let threshold = |value: f32, default: f32| {
            if value.is_finite() {
                value.clamp(0.0, 1.0)
            } else {
                default
            }
        };
        let activation = threshold(self.activation_threshold, defaults.activation_threshold);
        Self {
            silence_ms: self.silence_ms.clamp(32, 30_000),
            pause_ms: self.pause_ms.clamp(32, 2_000),
            partial_interval_ms: self.partial_interval_ms.clamp(100, 10_000),
            max_utterance_ms: self.max_utterance_ms.clamp(2_000, 29_000),
            preroll_ms: self.preroll_ms.min(1_000),
            min_speech_ms: self.min_speech_ms.clamp(32, 2_000),
            activation_threshold: activation,
            deactivation_threshold: threshold(
                self.deactivation_threshold,
                defaults.deactivation_threshold,
            )
            .min(activation),
            transcribe: self.transcribe.clone(),
            budget: self.budget.clone(),
        }
    }

    /// The VAD segmenter's settings (call on a sanitized config).
    pub(crate) fn segments(&self) -> SegmentConfig {
        SegmentConfig::default()
            .with_thresholds(self.activation_threshold, self.deactivation_threshold)
            .with_min_speech_ms(self.min_speech_ms)
            .with_min_silence_ms(self.silence_ms)
            .with_prefix_padding_ms(self.preroll_ms)
    }

    /// Trailing audio after the last voiced window in every final and pause decode.
    pub(crate) fn tail_samples(&self) -> u64 {
        u64::from(self.pause_ms.min(self.silence_ms)) * SAMPLES_PER_MS
    }

    /// Whether a pause decode comes before the end-of-speech decision.
    pub(crate) fn has_pause(&self) -> bool {
        self.pause_ms < self.silence_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_clamped() {
        let c = StreamConfig::default()
            .with_silence_ms(0)
            .with_pause_ms(u32::MAX)
            .with_max_utterance_ms(u32::MAX)
            .with_thresholds(f32::NAN, 2.0)
            .sanitized();
        assert_eq!(c.silence_ms, 32);
        assert_eq!(c.pause_ms, 2_000);
        assert_eq!(c.max_utterance_ms, 29_000);
        assert_eq!(c.activation_threshold, 0.5);
        assert_eq!(c.deactivation_threshold, 0.5);
        // The pause is not shorter than the silence: no separate pause, the tail is capped.
        assert!(!c.has_pause());
        assert_eq!(c.tail_samples(), 32 * 16);
    }

    #[test]
    fn defaults_pause_before_the_end_of_speech() {
        let c = StreamConfig::default().sanitized();
        assert!(c.has_pause());
        assert_eq!(c.tail_samples(), 200 * 16);
    }
}
