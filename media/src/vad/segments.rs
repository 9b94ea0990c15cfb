//! Turn logic: per-window speech probabilities → speech start/end events.
//!
//! Pure state machine, no model: a window is voiced through a Schmitt trigger (it becomes
//! voiced at the activation threshold and stays voiced down to the deactivation
//! threshold). A run of voiced windows becomes speech once it spans the minimum speech
//! duration, and speech ends once the silence after its last voiced window lasts the
//! minimum silence duration. Pauses shorter than that are bridged, both before and after
//! speech is confirmed. The rules match Silero's own `get_speech_timestamps`, so the two
//! agree on the same probabilities.

use super::{SAMPLE_RATE, WINDOW_SAMPLES};

const SAMPLES_PER_MS: u64 = SAMPLE_RATE as u64 / 1000;
const WINDOW: u64 = WINDOW_SAMPLES as u64;

/// How probabilities become speech segments; per session (the silence timeout is the
/// turn-taking knob).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// A window at or above this probability starts (or resumes) speech.
    pub activation_threshold: f32,
    /// While voiced, windows at or above this probability stay voiced (hysteresis).
    pub deactivation_threshold: f32,
    /// Speech shorter than this (first to last voiced window) is ignored.
    pub min_speech_ms: u32,
    /// Silence this long after the last voiced window ends the segment.
    pub min_silence_ms: u32,
    /// The start event reports a start this much before the first voiced window.
    pub prefix_padding_ms: u32,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            activation_threshold: 0.5,
            deactivation_threshold: 0.35,
            min_speech_ms: 250,
            min_silence_ms: 500,
            prefix_padding_ms: 300,
        }
    }
}

impl SegmentConfig {
    /// With thresholds for starting and keeping speech (`deactivation` is capped at
    /// `activation`; non-finite values fall back to the defaults).
    #[must_use]
    pub fn with_thresholds(mut self, activation: f32, deactivation: f32) -> Self {
        self.activation_threshold = activation;
        self.deactivation_threshold = deactivation;
        self
    }

    /// With a minimum speech duration.
    #[must_use]
    pub fn with_min_speech_ms(mut self, ms: u32) -> Self {
        self.min_speech_ms = ms;
        self
    }

    /// With the silence that ends a segment (the end-of-turn timeout).
    #[must_use]
    pub fn with_min_silence_ms(mut self, ms: u32) -> Self {
        self.min_silence_ms = ms;
        self
    }

    /// With prefix padding for reported starts.
    #[must_use]
    pub fn with_prefix_padding_ms(mut self, ms: u32) -> Self {
        self.prefix_padding_ms = ms;
        self
    }

    /// The thresholds actually applied: finite, within 0..=1, deactivation ≤ activation.
    fn effective_thresholds(&self) -> (f32, f32) {
        let defaults = Self::default();
        let sane = |value: f32, default: f32| {
            if value.is_finite() {
                value.clamp(0.0, 1.0)
            } else {
                default
            }
        };
        let activation = sane(self.activation_threshold, defaults.activation_threshold);
        let deactivation =
            sane(self.deactivation_threshold, defaults.deactivation_threshold).min(activation);
        (activation, deactivation)
    }
}

/// A speech segment, in samples at 16 kHz and in milliseconds from the stream's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    /// First sample, prefix padding included.
    pub start_sample: u64,
    /// One past the last sample of the last voiced window.
    pub end_sample: u64,
    /// `start_sample` in milliseconds.
    pub start_ms: u64,
    /// `end_sample` in milliseconds.
    pub end_ms: u64,
}

impl Segment {
    /// A segment from sample positions at 16 kHz.
    pub fn from_samples(start_sample: u64, end_sample: u64) -> Self {
        Self {
            start_sample,
            end_sample,
            start_ms: start_sample / SAMPLES_PER_MS,
            end_ms: end_sample / SAMPLES_PER_MS,
        }
    }
}

/// How far before a voiced window's end [`SegmentTracker::push_measured`] may place the
/// end of speech: Silero's hangover after a voice stops is one to three windows (32 ms
/// each). A window the model calls voiced can never shorten speech by more than this.
pub const MAX_HANGOVER_MS: u32 = 96;

/// What the tracker decided after a window.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech is confirmed (reported once it has lasted the minimum speech duration, so
    /// `start_ms` lies in the past).
    SpeechStart {
        /// Start of speech, prefix padding included, clamped at 0.
        start_ms: u64,
        /// The same in samples.
        start_sample: u64,
    },
    /// Speech ended: the silence timeout ran out, or the input finished.
    SpeechEnd {
        /// The start reported by the matching [`VadEvent::SpeechStart`].
        start_ms: u64,
        /// End of the last voiced window (not the end of the silence that followed).
        end_ms: u64,
        /// `start_ms` in samples.
        start_sample: u64,
        /// `end_ms` in samples.
        end_sample: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Silence,
    /// Voiced windows seen, not yet long enough to count as speech.
    Pending {
        first: u64,
        last_end: u64,
    },
    /// Confirmed speech; `start` is already padded.
    Speech {
        start: u64,
        last_end: u64,
    },
}

/// Turns per-window speech probabilities into [`VadEvent`]s; one per audio stream.
#[derive(Debug, Clone)]
pub struct SegmentTracker {
    config: SegmentConfig,
    activation: f32,
    deactivation: f32,
    /// Windows seen: the next window starts at `windows * 512`.
    windows: u64,
    /// Whether the previous window was voiced (the Schmitt trigger's state).
    voiced: bool,
    phase: Phase,
}

impl SegmentTracker {
    /// A tracker at the start of a stream.
    pub fn new(config: SegmentConfig) -> Self {
        let (activation, deactivation) = config.effective_thresholds();
        Self {
            config,
            activation,
            deactivation,
            windows: 0,
            voiced: false,
            phase: Phase::Silence,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SegmentConfig {
        &self.config
    }

    /// Changes the configuration from the next window on (a session update mid-stream).
    pub fn set_config(&mut self, config: SegmentConfig) {
        let (activation, deactivation) = config.effective_thresholds();
        self.config = config;
        self.activation = activation;
        self.deactivation = deactivation;
    }

    /// Whether speech is confirmed and not yet ended.
    pub fn is_speaking(&self) -> bool {
        matches!(self.phase, Phase::Speech { .. })
    }

    /// Where the confirmed speech in progress ends so far (its last voiced window, or the
    /// measured end of sound in it); `None` outside confirmed speech.
    pub fn speech_end_sample(&self) -> Option<u64> {
        match self.phase {
            Phase::Speech { last_end, .. } => Some(last_end),
            Phase::Silence | Phase::Pending { .. } => None,
        }
    }

    /// Samples covered so far (windows seen × 512).
    pub fn position_samples(&self) -> u64 {
        self.windows * WINDOW
    }

    /// Takes the next window's speech probability (a NaN counts as silence).
    pub fn push(&mut self, probability: f32) -> Option<VadEvent> {
        self.push_measured(probability, None)
    }

    /// [`push`](Self::push), with where audible sound last ended as a level meter measured
    /// it over the audio up to this window ([`super::SoundEndMeter`]). A voiced window then
    /// extends speech only to that point, so the end-of-speech silence runs from the end of
    /// the voice instead of from the end of the model's hangover windows; the estimate is
    /// never trusted further back than [`MAX_HANGOVER_MS`] before the window's end.
    pub fn push_measured(&mut self, probability: f32, sound_end: Option<u64>) -> Option<VadEvent> {
        let start = self.windows * WINDOW;
        let window_end = start + WINDOW;
        let max_hangover = u64::from(MAX_HANGOVER_MS) * SAMPLES_PER_MS;
        let end = sound_end.map_or(window_end, |sound| {
            sound.clamp(window_end.saturating_sub(max_hangover), window_end)
        });
        self.windows += 1;
        let threshold = if self.voiced {
            self.deactivation
        } else {
            self.activation
        };
        // NaN compares false: not voiced.
        self.voiced = probability >= threshold;

        let min_speech = u64::from(self.config.min_speech_ms) * SAMPLES_PER_MS;
        let min_silence = u64::from(self.config.min_silence_ms) * SAMPLES_PER_MS;
        match (self.phase, self.voiced) {
            (Phase::Silence, false) => None,
            // Before speech is confirmed, whole windows: the minimum speech length counts
            // them.
            (Phase::Silence, true) => {
                self.phase = Phase::Pending {
                    first: start,
                    last_end: window_end,
                };
                self.confirm_if_long(min_speech)
            }
            (Phase::Pending { first, .. }, true) => {
                self.phase = Phase::Pending {
                    first,
                    last_end: window_end,
                };
                self.confirm_if_long(min_speech)
            }
            (Phase::Pending { last_end, .. }, false) => {
                if window_end.saturating_sub(last_end) >= min_silence {
                    // A blip too short to be speech, now followed by real silence.
                    self.phase = Phase::Silence;
                }
                None
            }
            (Phase::Speech { start, last_end }, true) => {
                self.phase = Phase::Speech {
                    start,
                    last_end: last_end.max(end),
                };
                None
            }
            (Phase::Speech { start, last_end }, false) => {
                if window_end.saturating_sub(last_end) >= min_silence {
                    self.phase = Phase::Silence;
                    Some(speech_end(start, last_end))
                } else {
                    None
                }
            }
        }
    }

    /// Ends the input: speech still open ends at its last voiced window, a pending blip
    /// is dropped. Later windows continue the same timeline.
    pub fn finish(&mut self) -> Option<VadEvent> {
        let phase = std::mem::replace(&mut self.phase, Phase::Silence);
        self.voiced = false;
        match phase {
            Phase::Speech { start, last_end } => Some(speech_end(start, last_end)),
            Phase::Silence | Phase::Pending { .. } => None,
        }
    }

    /// Back to the start of a new stream (timeline at 0), keeping the configuration.
    pub fn reset(&mut self) {
        self.windows = 0;
        self.voiced = false;
        self.phase = Phase::Silence;
    }

    fn confirm_if_long(&mut self, min_speech: u64) -> Option<VadEvent> {
        let Phase::Pending { first, last_end } = self.phase else {
            return None;
        };
        if last_end - first < min_speech {
            return None;
        }
        let padding = u64::from(self.config.prefix_padding_ms) * SAMPLES_PER_MS;
        let start = first.saturating_sub(padding);
        self.phase = Phase::Speech { start, last_end };
        Some(VadEvent::SpeechStart {
            start_ms: start / SAMPLES_PER_MS,
            start_sample: start,
        })
    }
}

fn speech_end(start: u64, end: u64) -> VadEvent {
    VadEvent::SpeechEnd {
        start_ms: start / SAMPLES_PER_MS,
        end_ms: end / SAMPLES_PER_MS,
        start_sample: start,
        end_sample: end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::{WINDOW_MS, segments_from_probabilities};

    /// `ms` worth of windows at probability `p` (ms must be a multiple of 32).
    fn run(p: f32, ms: u32) -> Vec<f32> {
        assert_eq!(ms % WINDOW_MS, 0, "test durations are whole windows");
        vec![p; (ms / WINDOW_MS) as usize]
    }

    fn concat(parts: &[Vec<f32>]) -> Vec<f32> {
        parts.concat()
    }

    /// All events with the index of the window that produced them.
    fn events(config: SegmentConfig, probabilities: &[f32]) -> Vec<(usize, VadEvent)> {
        let mut tracker = SegmentTracker::new(config);
        let mut out: Vec<(usize, VadEvent)> = probabilities
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| tracker.push(p).map(|e| (i, e)))
            .collect();
        out.extend(tracker.finish().map(|e| (probabilities.len(), e)));
        out
    }

    fn spans(config: SegmentConfig, probabilities: &[f32]) -> Vec<(u64, u64)> {
        segments_from_probabilities(probabilities, &config)
            .iter()
            .map(|s| (s.start_ms, s.end_ms))
            .collect()
    }

    fn unpadded() -> SegmentConfig {
        SegmentConfig::default().with_prefix_padding_ms(0)
    }

    #[test]
    fn one_utterance_with_start_and_end_times() {
        // 640 ms silence, 960 ms speech, 1024 ms silence.
        let p = concat(&[run(0.02, 640), run(0.9, 960), run(0.02, 1024)]);
        let got = events(SegmentConfig::default(), &p);
        assert_eq!(got.len(), 2, "{got:?}");
        // Start is confirmed once 250 ms are voiced: 8 windows (256 ms) after 640 ms.
        assert_eq!(got[0].0, 20 + 7);
        assert_eq!(
            got[0].1,
            VadEvent::SpeechStart {
                start_ms: 640 - 300,
                start_sample: (640 - 300) * 16
            }
        );
        // End comes after 16 silent windows (512 ms ≥ 500 ms); end_ms is the last voiced
        // window's end, not the end of the silence.
        assert_eq!(got[1].0, 20 + 30 + 15);
        assert_eq!(
            got[1].1,
            VadEvent::SpeechEnd {
                start_ms: 340,
                end_ms: 1600,
                start_sample: 340 * 16,
                end_sample: 1600 * 16
            }
        );
    }

    #[test]
    fn measured_sound_end_starts_the_silence_where_the_voice_stopped() {
        // 960 ms of speech from 640 ms; the voice stops at 1,570 ms, but the model stays
        // voiced for two more windows (to 1,664 ms) before the silence.
        let p = concat(&[run(0.02, 640), run(0.9, 1024), run(0.02, 1024)]);
        let voice_end = 1_570 * 16;
        let mut plain = SegmentTracker::new(unpadded());
        let mut measured = SegmentTracker::new(unpadded());
        let (mut plain_end, mut measured_end) = (None, None);
        for (i, &x) in p.iter().enumerate() {
            let window_end = (i as u64 + 1) * WINDOW;
            if let Some(VadEvent::SpeechEnd { end_sample, .. }) = plain.push(x) {
                plain_end = Some((i, end_sample));
            }
            let sound = Some(window_end.min(voice_end));
            if let Some(VadEvent::SpeechEnd { end_sample, .. }) = measured.push_measured(x, sound) {
                measured_end = Some((i, end_sample));
            }
        }
        assert_eq!(plain_end, Some((20 + 32 + 15, 1_664 * 16)));
        // The silence runs from 1,570 ms: 500 ms later falls in window 64 (2,048–2,080).
        assert_eq!(measured_end, Some((64, voice_end)));
        assert_eq!(measured.speech_end_sample(), None);
    }

    #[test]
    fn a_measured_end_is_never_trusted_past_the_hangover_bound() {
        // The meter hears nothing at all (say, a broken level) while the model is sure:
        // speech is shortened by at most MAX_HANGOVER_MS.
        let p = concat(&[run(0.9, 1024), run(0.02, 1024)]);
        let mut tracker = SegmentTracker::new(unpadded());
        let mut end = None;
        for &x in &p {
            if tracker.is_speaking() {
                assert!(tracker.speech_end_sample().is_some());
            }
            if let Some(VadEvent::SpeechEnd { end_sample, .. }) = tracker.push_measured(x, Some(0))
            {
                end = Some(end_sample);
            }
        }
        assert_eq!(end, Some((1_024 - u64::from(MAX_HANGOVER_MS)) * 16));
    }

    #[test]
    fn blips_shorter_than_min_speech_are_ignored() {
        // 224 ms of speech (7 windows) is under 250 ms; 256 ms (8 windows) is not.
        let short = concat(&[run(0.0, 320), run(0.95, 224), run(0.0, 1024)]);
        assert!(events(SegmentConfig::default(), &short).is_empty());
        let enough = concat(&[run(0.0, 320), run(0.95, 256), run(0.0, 1024)]);
        assert_eq!(spans(unpadded(), &enough), vec![(320, 576)]);
        // A blip at the very end of the input is dropped too.
        assert!(events(SegmentConfig::default(), &run(0.95, 96)).is_empty());
    }

    #[test]
    fn blips_separated_by_long_silence_do_not_add_up() {
        let p = concat(&[run(0.9, 160), run(0.0, 512), run(0.9, 160), run(0.0, 1024)]);
        assert!(events(SegmentConfig::default(), &p).is_empty());
    }

    #[test]
    fn short_pauses_do_not_split() {
        // A 480 ms pause (< 500 ms) inside speech is bridged; 512 ms splits.
        let bridged = concat(&[run(0.9, 640), run(0.1, 480), run(0.9, 640), run(0.0, 1024)]);
        assert_eq!(spans(unpadded(), &bridged), vec![(0, 1760)]);
        let split = concat(&[run(0.9, 640), run(0.1, 512), run(0.9, 640), run(0.0, 1024)]);
        assert_eq!(spans(unpadded(), &split), vec![(0, 640), (1152, 1792)]);
    }

    #[test]
    fn min_silence_is_per_session() {
        let p = concat(&[run(0.9, 640), run(0.1, 480), run(0.9, 640), run(0.0, 1024)]);
        let impatient = unpadded().with_min_silence_ms(200);
        assert_eq!(spans(impatient, &p), vec![(0, 640), (1120, 1760)]);
        // Changed mid-stream, it applies from the next window on.
        let mut tracker = SegmentTracker::new(unpadded());
        for &x in &p[..25] {
            assert!(matches!(
                tracker.push(x),
                None | Some(VadEvent::SpeechStart { .. })
            ));
        }
        tracker.set_config(impatient);
        let ends: Vec<VadEvent> = p[25..].iter().filter_map(|&x| tracker.push(x)).collect();
        assert!(
            matches!(ends[0], VadEvent::SpeechEnd { end_ms: 640, .. }),
            "{ends:?}"
        );
    }

    #[test]
    fn pause_before_confirmation_is_bridged_like_silero() {
        // 128 ms voiced, 192 ms pause, 160 ms voiced: spans 480 ms ≥ 250 ms, one segment
        // starting at the first blip (get_speech_timestamps does the same).
        let p = concat(&[
            run(0.0, 320),
            run(0.8, 128),
            run(0.0, 192),
            run(0.8, 160),
            run(0.0, 1024),
        ]);
        assert_eq!(spans(unpadded(), &p), vec![(320, 800)]);
    }

    #[test]
    fn hysteresis_between_thresholds() {
        // Once voiced, 0.4 (between 0.35 and 0.5) keeps speech going...
        let sustained = concat(&[run(0.0, 320), run(0.6, 320), run(0.4, 640), run(0.0, 1024)]);
        assert_eq!(spans(unpadded(), &sustained), vec![(320, 1280)]);
        // ...but never starts it...
        assert!(events(SegmentConfig::default(), &run(0.4, 3200)).is_empty());
        // ...nor resumes it after a dip below 0.35: those windows count as silence.
        let resumed = concat(&[run(0.6, 640), run(0.2, 256), run(0.45, 320), run(0.0, 1024)]);
        assert_eq!(spans(unpadded(), &resumed), vec![(0, 640)]);
        // 0.35 itself is still voiced; just below is not.
        let edge = concat(&[run(0.5, 320), run(0.35, 320), run(0.349, 1024)]);
        assert_eq!(spans(unpadded(), &edge), vec![(0, 640)]);
    }

    #[test]
    fn padding_is_clamped_at_zero() {
        let early = concat(&[run(0.0, 96), run(0.9, 640), run(0.0, 1024)]);
        let got = spans(SegmentConfig::default(), &early);
        assert_eq!(got, vec![(0, 736)]);
        let late = concat(&[run(0.0, 1600), run(0.9, 640), run(0.0, 1024)]);
        assert_eq!(spans(SegmentConfig::default(), &late), vec![(1300, 2240)]);
    }

    #[test]
    fn speech_open_at_the_end_ends_at_last_voiced_window() {
        let p = concat(&[run(0.0, 320), run(0.9, 640), run(0.1, 96)]);
        let got = events(unpadded(), &p);
        assert_eq!(
            got.last().map(|e| e.1),
            Some(VadEvent::SpeechEnd {
                start_ms: 320,
                end_ms: 960,
                start_sample: 320 * 16,
                end_sample: 960 * 16
            })
        );
    }

    #[test]
    fn hostile_probabilities_and_configs_do_not_panic() {
        let p = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1.0,
            2.0,
            f32::MAX,
            f32::MIN_POSITIVE,
        ]
        .repeat(50);
        for config in [
            SegmentConfig::default(),
            SegmentConfig::default().with_thresholds(f32::NAN, f32::INFINITY),
            SegmentConfig::default().with_thresholds(0.2, 0.9),
            SegmentConfig::default()
                .with_min_speech_ms(0)
                .with_min_silence_ms(0)
                .with_prefix_padding_ms(u32::MAX),
            SegmentConfig::default()
                .with_min_speech_ms(u32::MAX)
                .with_min_silence_ms(u32::MAX),
        ] {
            let segments = segments_from_probabilities(&p, &config);
            for s in segments {
                assert!(s.start_sample <= s.end_sample);
            }
        }
        // NaN is silence, not speech.
        assert!(events(SegmentConfig::default(), &[f32::NAN; 100]).is_empty());
    }

    #[test]
    fn deactivation_above_activation_is_capped() {
        // With deactivation capped at 0.5, 0.45 neither starts nor keeps speech.
        let config = unpadded().with_thresholds(0.5, 0.9);
        let p = concat(&[run(0.6, 320), run(0.45, 640), run(0.0, 640)]);
        assert_eq!(spans(config, &p), vec![(0, 320)]);
    }

    #[test]
    fn reset_restarts_the_timeline() {
        let mut tracker = SegmentTracker::new(unpadded());
        for _ in 0..40 {
            tracker.push(0.9);
        }
        assert!(tracker.is_speaking());
        tracker.reset();
        assert!(!tracker.is_speaking());
        assert_eq!(tracker.position_samples(), 0);
        let first = (0..10).find_map(|_| tracker.push(0.9));
        assert_eq!(
            first,
            Some(VadEvent::SpeechStart {
                start_ms: 0,
                start_sample: 0
            })
        );
    }
}
