//! The blocking core: VAD, utterance tracking and decode scheduling for one stream.

use std::sync::Arc;

use mka1_media::vad::{
    SegmentTracker, SileroVad, SoundEndMeter, VadEvent, VadStream, WINDOW_SAMPLES,
};

use super::audio::AudioTimeline;
use super::config::{SAMPLES_PER_MS, StreamConfig};
use super::text::clean_transcript;
use super::{StreamError, StreamEvent};
use crate::engine::WhisperModel;

const WINDOW: u64 = WINDOW_SAMPLES as u64;
/// A forced cut is placed at the quietest window of this much audio before the cap.
const CUT_SEARCH_SAMPLES: u64 = 3 * 16_000;

/// Streaming recognition of one audio stream: 16 kHz mono `f32` in, [`StreamEvent`]s out.
///
/// Blocking: decodes run inside [`push`](Self::push) and [`finish`](Self::finish), so
/// call it from a dedicated thread (or use [`super::spawn`]). The model is shared; each
/// stream has its own VAD state.
pub struct StreamingTranscriber {
    model: Arc<WhisperModel>,
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
    /// This stream, counted by the config's [`super::DecodeBudget`] while it lives.
    open: Option<super::OpenStream>,
}

impl std::fmt::Debug for StreamingTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingTranscriber")
            .field("model", &self.model.id())
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
    /// The last text sent as a partial or pause, to skip repeats.
    last_text: String,
    /// The last pause decode: `(end of its audio, text)`, reused by the final when no
    /// speech came after it.
    pause: Option<(u64, String)>,
    /// A pause was reported and no speech has come since.
    paused: bool,
    /// `(window end, probability)` of the windows since `start`, to place forced cuts.
    windows: Vec<(u64, f32)>,
}

impl StreamingTranscriber {
    /// A stream over `model` with its own state on the shared `vad`.
    pub fn new(model: Arc<WhisperModel>, vad: &SileroVad, config: StreamConfig) -> Self {
        let config = config.sanitized();
        let open = config.budget.as_ref().map(super::DecodeBudget::open);
        Self {
            open,
            model,
            tracker: SegmentTracker::new(config.segments()),
            meter: SoundEndMeter::default(),
            config,
            vad: vad.stream(),
            probabilities: Vec::new(),
            audio: AudioTimeline::default(),
            voiced: false,
            utterance: None,
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// The model decoding this stream.
    pub fn model(&self) -> &Arc<WhisperModel> {
        &self.model
    }

    /// Changes the end-of-utterance silence from the next window on (a session update).
    pub fn set_silence_ms(&mut self, ms: u32) {
        self.config = self.config.clone().with_silence_ms(ms).sanitized();
        self.tracker.set_config(self.config.segments());
    }

    /// Whether an utterance is in progress (speech confirmed, not yet ended).
    pub fn in_utterance(&self) -> bool {
        self.utterance.is_some()
    }

    /// Samples received since the start of the stream.
    pub fn position_samples(&self) -> u64 {
        self.audio.end()
    }

    /// Feeds 16 kHz mono samples (any chunk size) and appends the resulting events to `out`.
    ///
    /// On error the events produced before and after the failure are still in `out`; the
    /// first error is returned and the stream stays usable (a failed final still ends its
    /// utterance with [`StreamEvent::SpeechStopped`]).
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.audio.push(samples);
        let mut probabilities = std::mem::take(&mut self.probabilities);
        probabilities.clear();
        let vad = self.vad.push(samples, &mut probabilities);
        let mut first_error = vad.err().map(StreamError::from);
        for &p in &probabilities {
            keep_first(&mut first_error, self.window(p, out));
        }
        self.probabilities = probabilities;
        // Partials and pauses are decided on the newest audio only: a backlog that arrives
        // as one chunk gets one decode, not one per window it contains.
        keep_first(&mut first_error, self.schedule(out));
        self.forget_old_audio();
        first_error.map_or(Ok(()), Err)
    }

    /// Ends the stream: the partial last window is run, an utterance still open becomes a
    /// final, and the transcriber starts over as a new stream (timeline at 0).
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        let mut probabilities = std::mem::take(&mut self.probabilities);
        probabilities.clear();
        let vad = self.vad.flush(&mut probabilities);
        let mut first_error = vad.err().map(StreamError::from);
        for &p in &probabilities {
            keep_first(&mut first_error, self.window(p, out));
        }
        self.probabilities = probabilities;
        if let Some(VadEvent::SpeechEnd { end_sample, .. }) = self.tracker.finish() {
            keep_first(&mut first_error, self.end_utterance(end_sample, out));
        }
        self.reset();
        first_error.map_or(Ok(()), Err)
    }

    /// Forgets the stream (audio, VAD state, any open utterance) without events.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.tracker.reset();
        self.meter.reset();
        self.audio.reset();
        self.voiced = false;
        self.utterance = None;
    }

    /// One VAD window: speech start and end, pause tracking, forced cuts.
    fn window(&mut self, probability: f32, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
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
                    last_text: String::new(),
                    pause: None,
                    paused: false,
                    windows: Vec::new(),
                });
                out.push(StreamEvent::SpeechStarted {
                    at_ms: start_sample / SAMPLES_PER_MS,
                });
            }
            Some(VadEvent::SpeechEnd { end_sample, .. }) => {
                return self.end_utterance(end_sample, out);
            }
            _ => {}
        }

        let max_samples = u64::from(self.config.max_utterance_ms) * SAMPLES_PER_MS;
        let Some(utterance) = self.utterance.as_mut() else {
            return Ok(());
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
            if utterance.paused {
                utterance.paused = false;
                out.push(StreamEvent::Resumed {
                    at_ms: start / SAMPLES_PER_MS,
                });
            }
        }
        if end.saturating_sub(utterance.start) >= max_samples {
            return self.cut(end, out);
        }
        Ok(())
    }

    /// Forces a final for an utterance that reached the length cap, cut at its quietest
    /// recent window, and carries on with the rest as the same speech.
    fn cut(&mut self, now: u64, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        let max_samples = u64::from(self.config.max_utterance_ms) * SAMPLES_PER_MS;
        let Some(utterance) = self.utterance.as_mut() else {
            return Ok(());
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
        utterance.start = cut;
        utterance.decoded_to = cut;
        utterance.last_text.clear();
        utterance.pause = None;
        utterance.paused = false;
        utterance.voiced_since_start = utterance.last_voiced_end > cut;
        utterance.windows.retain(|(end, _)| *end > cut);
        if !voiced_before_cut {
            return Ok(());
        }
        let text = self.decode(start, cut)?;
        if !text.is_empty() {
            out.push(StreamEvent::Final {
                text,
                start_ms: start / SAMPLES_PER_MS,
                end_ms: last_voiced_end / SAMPLES_PER_MS,
            });
        }
        Ok(())
    }

    /// The VAD ended the utterance at `end_sample` (end of its last voiced window).
    fn end_utterance(
        &mut self,
        end_sample: u64,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), StreamError> {
        let Some(utterance) = self.utterance.take() else {
            return Ok(());
        };
        self.voiced = false;
        let mut result = Ok(());
        if utterance.voiced_since_start {
            let to = (end_sample + self.config.tail_samples()).min(self.audio.end());
            let text = match utterance.pause {
                // Nothing was voiced after the pause decode: it covered this very audio.
                Some((pause_end, text)) if pause_end == to => Ok(text),
                _ => self.decode(utterance.start, to),
            };
            match text {
                Ok(text) if text.is_empty() => {}
                Ok(text) => out.push(StreamEvent::Final {
                    text,
                    start_ms: utterance.start / SAMPLES_PER_MS,
                    end_ms: end_sample / SAMPLES_PER_MS,
                }),
                Err(e) => result = Err(e),
            }
        }
        out.push(StreamEvent::SpeechStopped {
            at_ms: end_sample / SAMPLES_PER_MS,
        });
        result
    }

    /// After a chunk: a pause decode once the speaker has paused long enough, else a
    /// partial when enough new speech has come since the last decode and the speaker is
    /// still speaking.
    fn schedule(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        let processed = self.tracker.position_samples();
        let received = self.audio.end();
        let tail = self.config.tail_samples();
        let interval = u64::from(self.config.partial_interval_ms) * SAMPLES_PER_MS;
        let has_pause = self.config.has_pause();
        let Some(utterance) = self.utterance.as_ref() else {
            return Ok(());
        };
        if !utterance.voiced_since_start {
            return Ok(());
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
                return Ok(());
            }
            let text = self.decode(start, pause_end)?;
            let at_ms = utterance.last_voiced_end / SAMPLES_PER_MS;
            if let Some(utterance) = self.utterance.as_mut() {
                utterance.pause = Some((pause_end, text.clone()));
                utterance.decoded_to = pause_end;
                // No words yet (a noise): nothing to generate from, nothing to resume.
                if !text.is_empty() {
                    utterance.paused = true;
                    utterance.last_text.clone_from(&text);
                    out.push(StreamEvent::Pause { at_ms, text });
                }
            }
        } else if silence == 0 && received.saturating_sub(utterance.decoded_to) >= interval {
            // Only while the newest window is voiced: a partial started as a pause begins
            // would still be running when the pause decode (the final) wants to start.
            let text = self.decode(start, received)?;
            if let Some(utterance) = self.utterance.as_mut() {
                utterance.decoded_to = received;
                if !text.is_empty() && text != utterance.last_text {
                    utterance.last_text.clone_from(&text);
                    out.push(StreamEvent::Partial { text });
                }
            }
        }
        Ok(())
    }

    /// Transcribes the held audio between two positions.
    fn decode(&self, from: u64, to: u64) -> Result<String, StreamError> {
        let pcm = self.audio.slice(from, to);
        let started = std::time::Instant::now();
        let transcript = match &self.open {
            Some(open) => {
                let options = crate::TranscribeOptions {
                    threads: Some(open.threads()),
                    ..self.config.transcribe.clone()
                };
                self.model.transcribe(pcm, &options)
            }
            None => self.model.transcribe(pcm, &self.config.transcribe),
        }
        .map_err(StreamError::Stt)?;
        tracing::trace!(
            audio_ms = pcm.len() as u64 / SAMPLES_PER_MS,
            decode_ms = started.elapsed().as_millis() as u64,
            "streaming decode"
        );
        Ok(clean_transcript(&transcript.text))
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

fn keep_first(first: &mut Option<StreamError>, result: Result<(), StreamError>) {
    if let Err(e) = result
        && first.is_none()
    {
        *first = Some(e);
    }
}
