//! The listening half of a stream: VAD, utterance tracking, and when to decode what.
//!
//! The scheduler never decodes: it appends [`Job`]s for the [`super::decoder::Decoder`],
//! which may run them inline (the blocking [`super::StreamingTranscriber`]) or on a thread
//! of its own ([`super::spawn`]). In the second case the scheduler keeps hearing the audio
//! while a decode runs, so it can stop a partial that the end of the speech has made
//! useless, and start the pause decode at once instead of after it.

use mka1_media::vad::{
    SegmentTracker, SileroVad, SoundEndMeter, VadEvent, VadStream, WINDOW_SAMPLES,
};

use super::StreamEvent;
use super::audio::AudioTimeline;
use super::config::{SAMPLES_PER_MS, StreamConfig};
use super::decoder::{Decode, Job, Ticket};

const WINDOW: u64 = WINDOW_SAMPLES as u64;
/// A forced cut is placed at the quietest window of this much audio before the cap.
const CUT_SEARCH_SAMPLES: u64 = 3 * 16_000;

/// VAD, utterances and decode requests of one stream (see the module docs).
pub(super) struct Scheduler {
    config: StreamConfig,
    vad: VadStream,
    tracker: SegmentTracker,
    /// Where the voice ends inside the VAD's voiced windows (their hangover is not speech).
    meter: SoundEndMeter,
    /// Scratch for the VAD's per-window probabilities.
    probabilities: Vec<f32>,
    audio: AudioTimeline,
    /// The Schmitt trigger of the tracker, mirrored: whether the last window was voiced.
    voiced: bool,
    utterance: Option<Utterance>,
    /// The jobs asked for since the caller last took them.
    jobs: Vec<Job>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .field("position", &self.audio.end())
            .field("in_utterance", &self.utterance.is_some())
            .finish_non_exhaustive()
    }
}

/// The utterance being heard. Positions are absolute samples.
#[derive(Debug)]
struct Utterance {
    /// Start of the audio the next final covers (moves on at a forced cut).
    start: u64,
    /// End of the speech so far: the tracker's, where the voice stopped inside the last
    /// voiced window (or the windows' end).
    last_voiced_end: u64,
    /// Whether a voiced window lies after `start` (false right after a cut into silence).
    voiced_since_start: bool,
    /// End of the audio the last partial or pause decode covered.
    decoded_to: u64,
    /// The pause decode asked for last: `(end of its audio, its ticket)`. Cleared when
    /// speech resumes.
    pause: Option<(u64, Ticket)>,
    /// The last partial asked for, while it may still be running.
    partial: Option<Ticket>,
    /// `(window end, probability)` of the windows since `start`, to place forced cuts.
    windows: Vec<(u64, f32)>,
}

impl Utterance {
    /// Whether a partial or pause decode of this utterance has not finished.
    fn decoding(&self) -> bool {
        self.partial.as_ref().is_some_and(Ticket::is_pending)
            || self.pause.as_ref().is_some_and(|(_, t)| t.is_pending())
    }

    /// Drops the running partial, if any: newer audio makes it useless.
    fn cancel_partial(&mut self) {
        if let Some(ticket) = self.partial.take() {
            ticket.cancel();
        }
    }
}

impl Scheduler {
    /// A stream with its own state on the shared `vad`; `config` is already sanitized.
    pub(super) fn new(vad: &SileroVad, config: StreamConfig) -> Self {
        Self {
            tracker: SegmentTracker::new(config.segments()),
            meter: SoundEndMeter::default(),
            config,
            vad: vad.stream(),
            probabilities: Vec::new(),
            audio: AudioTimeline::default(),
            voiced: false,
            utterance: None,
            jobs: Vec::new(),
        }
    }

    /// The configuration in use (after clamping).
    pub(super) fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Changes the end-of-utterance silence from the next window on (a session update).
    pub(super) fn set_silence_ms(&mut self, ms: u32) {
        self.config = self.config.clone().with_silence_ms(ms).sanitized();
        self.tracker.set_config(self.config.segments());
    }

    /// Whether an utterance is in progress (speech confirmed, not yet ended).
    pub(super) fn in_utterance(&self) -> bool {
        self.utterance.is_some()
    }

    /// Samples received since the start of the stream.
    pub(super) fn position_samples(&self) -> u64 {
        self.audio.end()
    }

    /// Moves the jobs asked for so far to `out`, in order.
    pub(super) fn take_jobs(&mut self, out: &mut Vec<Job>) {
        out.append(&mut self.jobs);
    }

    /// Feeds 16 kHz mono samples (any chunk size); the events and decodes they call for
    /// become jobs (see [`take_jobs`](Self::take_jobs)). A VAD failure becomes an error job
    /// (the rest of that chunk is dropped) and the stream goes on.
    pub(super) fn push(&mut self, samples: &[f32]) {
        self.audio.push(samples);
        let mut probabilities = std::mem::take(&mut self.probabilities);
        probabilities.clear();
        let vad = self.vad.push(samples, &mut probabilities);
        for &p in &probabilities {
            self.window(p);
        }
        self.probabilities = probabilities;
        if let Err(e) = vad {
            self.jobs.push(Job::Event(Err(e.into())));
        }
        // Partials and pauses are decided on the newest audio only: a backlog that arrives
        // as one chunk gets one decode, not one per window it contains.
        self.schedule();
        self.forget_old_audio();
    }

    /// Ends the stream: the partial last window is run, an utterance still open becomes a
    /// final, and the scheduler starts over as a new stream (timeline at 0).
    pub(super) fn finish(&mut self) {
        let mut probabilities = std::mem::take(&mut self.probabilities);
        probabilities.clear();
        let vad = self.vad.flush(&mut probabilities);
        for &p in &probabilities {
            self.window(p);
        }
        self.probabilities = probabilities;
        if let Err(e) = vad {
            self.jobs.push(Job::Event(Err(e.into())));
        }
        if let Some(VadEvent::SpeechEnd { end_sample, .. }) = self.tracker.finish() {
            self.end_utterance(end_sample);
        }
        self.reset();
    }

    /// Forgets the stream (audio, VAD state, any open utterance) without events. Decodes
    /// already asked for still run.
    pub(super) fn reset(&mut self) {
        self.vad.reset();
        self.tracker.reset();
        self.meter.reset();
        self.audio.reset();
        self.voiced = false;
        self.utterance = None;
    }

    /// One VAD window: speech start and end, pause tracking, forced cuts.
    fn window(&mut self, probability: f32) {
        let start = self.tracker.position_samples();
        let end = start + WINDOW;
        self.meter.measure(self.audio.slice(start, end), start);
        let event = self
            .tracker
            .push_measured(probability, Some(self.meter.last_sound_end()));
        // The tracker's Schmitt trigger, mirrored: it keeps its voicing private, and pauses
        // must be seen before its silence timeout runs out.
        let threshold = if self.voiced {
            self.config.deactivation_threshold
        } else {
            self.config.activation_threshold
        };
        self.voiced = probability >= threshold;

        match event {
            Some(VadEvent::SpeechStart { start_sample, .. }) => {
                let first_voiced =
                    (start_sample + u64::from(self.config.preroll_ms) * SAMPLES_PER_MS).min(start);
                self.utterance = Some(Utterance {
                    start: start_sample,
                    last_voiced_end: end,
                    voiced_since_start: true,
                    decoded_to: first_voiced,
                    pause: None,
                    partial: None,
                    windows: Vec::new(),
                });
                self.jobs.push(Job::Event(Ok(StreamEvent::SpeechStarted {
                    at_ms: start_sample / SAMPLES_PER_MS,
                })));
            }
            Some(VadEvent::SpeechEnd { end_sample, .. }) => {
                self.end_utterance(end_sample);
                return;
            }
            _ => {}
        }

        let max_samples = u64::from(self.config.max_utterance_ms) * SAMPLES_PER_MS;
        let Some(utterance) = self.utterance.as_mut() else {
            return;
        };
        utterance.windows.push((end, probability));
        // A voiced window continues the speech only where it holds sound, or where the
        // model keeps calling it voiced for longer than its hangover: only then is a pause
        // over.
        let speech_end = self.tracker.speech_end_sample().unwrap_or(end);
        if self.voiced {
            utterance.voiced_since_start = true;
        }
        if self.voiced && speech_end > utterance.last_voiced_end {
            utterance.last_voiced_end = speech_end;
            if let Some((_, ticket)) = utterance.pause.take() {
                // Its text is stale: stop it if it is still running.
                ticket.cancel();
                self.jobs.push(Job::Resumed {
                    at_ms: start / SAMPLES_PER_MS,
                });
            }
        }
        if end.saturating_sub(utterance.start) >= max_samples {
            self.cut(end);
        }
    }

    /// Forces a final for an utterance that reached the length cap, cut at its quietest
    /// recent window, and carries on with the rest as the same speech.
    fn cut(&mut self, now: u64) {
        let max_samples = u64::from(self.config.max_utterance_ms) * SAMPLES_PER_MS;
        let Some(utterance) = self.utterance.as_mut() else {
            return;
        };
        // Searching at most a third of the cap back leaves the rest well under the cap, so
        // the next cut is a whole piece later.
        let search_from = now.saturating_sub(CUT_SEARCH_SAMPLES.min(max_samples / 3));
        let cut = utterance
            .windows
            .iter()
            .filter(|(end, _)| *end > search_from)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            // Mid-window: the quiet point, not its edge.
            .map_or(now, |(end, _)| end.saturating_sub(WINDOW / 2));
        let start = utterance.start;
        let voiced_before_cut = utterance.voiced_since_start;
        let last_voiced_end = utterance.last_voiced_end.min(cut);
        utterance.cancel_partial();
        utterance.start = cut;
        utterance.decoded_to = cut;
        utterance.pause = None;
        utterance.voiced_since_start = utterance.last_voiced_end > cut;
        utterance.windows.retain(|(end, _)| *end > cut);
        if voiced_before_cut {
            let decode = self.decode(start, cut);
            self.jobs.push(Job::Final {
                decode,
                start_ms: start / SAMPLES_PER_MS,
                end_ms: last_voiced_end / SAMPLES_PER_MS,
            });
        }
    }

    /// The VAD ended the utterance at `end_sample` (end of its last voiced window).
    fn end_utterance(&mut self, end_sample: u64) {
        let Some(mut utterance) = self.utterance.take() else {
            return;
        };
        self.voiced = false;
        utterance.cancel_partial();
        if utterance.voiced_since_start {
            let to = (end_sample + self.config.tail_samples()).min(self.audio.end());
            // When a pause decode covered this very audio, the decoder reuses its text.
            let decode = self.decode(utterance.start, to);
            self.jobs.push(Job::Final {
                decode,
                start_ms: utterance.start / SAMPLES_PER_MS,
                end_ms: end_sample / SAMPLES_PER_MS,
            });
        }
        self.jobs.push(Job::Event(Ok(StreamEvent::SpeechStopped {
            at_ms: end_sample / SAMPLES_PER_MS,
        })));
    }

    /// After a chunk: a pause decode once the speaker has paused long enough, else a
    /// partial when enough new speech has come since the last decode, the speaker is still
    /// speaking, and no earlier decode of this utterance is still running.
    fn schedule(&mut self) {
        let processed = self.tracker.position_samples();
        let received = self.audio.end();
        let tail = self.config.tail_samples();
        let interval = u64::from(self.config.partial_interval_ms) * SAMPLES_PER_MS;
        let has_pause = self.config.has_pause();
        let Some(utterance) = self.utterance.as_mut() else {
            return;
        };
        if !utterance.voiced_since_start {
            return;
        }
        let silence = processed.saturating_sub(utterance.last_voiced_end);
        let start = utterance.start;
        if silence >= tail {
            let pause_end = utterance.last_voiced_end + tail;
            let already = utterance
                .pause
                .as_ref()
                .is_some_and(|(e, _)| *e == pause_end);
            if !has_pause || already {
                return;
            }
            // A partial still running covers less than the pause decode will: stop it so
            // the pause decode starts now.
            utterance.cancel_partial();
            utterance.decoded_to = pause_end;
            let at_ms = utterance.last_voiced_end / SAMPLES_PER_MS;
            let decode = self.decode(start, pause_end);
            if let Some(utterance) = self.utterance.as_mut() {
                utterance.pause = Some((pause_end, decode.ticket.clone()));
            }
            self.jobs.push(Job::Pause { decode, at_ms });
        } else if silence == 0
            && received.saturating_sub(utterance.decoded_to) >= interval
            && !utterance.decoding()
        {
            // Only while the newest window is voiced: a partial started as a pause begins
            // would still be running when the pause decode (the final) wants to start.
            utterance.decoded_to = received;
            let decode = self.decode(start, received);
            if let Some(utterance) = self.utterance.as_mut() {
                utterance.partial = Some(decode.ticket.clone());
            }
            self.jobs.push(Job::Partial(decode));
        }
    }

    /// A decode of the held audio between two positions.
    fn decode(&self, from: u64, to: u64) -> Decode {
        Decode {
            pcm: self.audio.slice(from, to).to_vec(),
            span: (from, to),
            ticket: Ticket::default(),
        }
    }

    /// Drops audio no utterance can need any more: before the current utterance, or,
    /// between utterances, before the longest span a starting one can reach back.
    fn forget_old_audio(&mut self) {
        let keep_from = match &self.utterance {
            Some(utterance) => utterance.start,
            None => {
                // Speech is confirmed up to min_speech + silence (a bridged pause) after its
                // first voiced window, and its start reaches back a pre-roll further.
                let reach = u64::from(
                    self.config.preroll_ms + self.config.min_speech_ms + self.config.silence_ms,
                ) * SAMPLES_PER_MS
                    + 3 * WINDOW;
                self.tracker.position_samples().saturating_sub(reach)
            }
        };
        self.audio.forget_before(keep_from);
    }
}
