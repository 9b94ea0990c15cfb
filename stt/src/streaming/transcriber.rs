//! The blocking core: a [`Scheduler`] and its [`Decoder`] on the caller's thread.

use std::sync::Arc;

use mka1_media::vad::SileroVad;

use super::config::StreamConfig;
use super::decoder::{Decoder, Job};
use super::scheduler::Scheduler;
use super::{StreamError, StreamEvent};
use crate::engine::WhisperModel;

/// Streaming recognition of one audio stream: 16 kHz mono `f32` in, [`StreamEvent`]s out.
///
/// Blocking: decodes run inside [`push`](Self::push) and [`finish`](Self::finish), one
/// after the other, so the result does not depend on timing. Call it from a dedicated
/// thread, or hand it to [`super::spawn`], which runs its decodes on a second thread so
/// that listening goes on while they run. The model is shared; each stream has its own
/// VAD state.
pub struct StreamingTranscriber {
    model: Arc<WhisperModel>,
    scheduler: Scheduler,
    decoder: Decoder,
    jobs: Vec<Job>,
}

impl std::fmt::Debug for StreamingTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingTranscriber")
            .field("model", &self.model.id())
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}

impl StreamingTranscriber {
    /// A stream over `model` with its own state on the shared `vad`.
    pub fn new(model: Arc<WhisperModel>, vad: &SileroVad, config: StreamConfig) -> Self {
        let config = config.sanitized();
        let open = config.budget.as_ref().map(super::DecodeBudget::open);
        let decoder = Decoder::new(Arc::clone(&model), config.transcribe.clone(), open);
        Self {
            model,
            scheduler: Scheduler::new(vad, config),
            decoder,
            jobs: Vec::new(),
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &StreamConfig {
        self.scheduler.config()
    }

    /// The model decoding this stream.
    pub fn model(&self) -> &Arc<WhisperModel> {
        &self.model
    }

    /// Changes the end-of-utterance silence from the next window on (a session update).
    pub fn set_silence_ms(&mut self, ms: u32) {
        self.scheduler.set_silence_ms(ms);
    }

    /// Whether an utterance is in progress (speech confirmed, not yet ended).
    pub fn in_utterance(&self) -> bool {
        self.scheduler.in_utterance()
    }

    /// Samples received since the start of the stream.
    pub fn position_samples(&self) -> u64 {
        self.scheduler.position_samples()
    }

    /// Feeds 16 kHz mono samples (any chunk size) and appends the resulting events to `out`.
    ///
    /// On error the events produced before and after the failure are still in `out`; the
    /// first error is returned and the stream stays usable (a failed final still ends its
    /// utterance with [`StreamEvent::SpeechStopped`]).
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.scheduler.push(samples);
        self.run_jobs(out)
    }

    /// Ends the stream: the partial last window is run, an utterance still open becomes a
    /// final, and the transcriber starts over as a new stream (timeline at 0).
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.scheduler.finish();
        self.run_jobs(out)
    }

    /// Forgets the stream (audio, VAD state, any open utterance) without events.
    pub fn reset(&mut self) {
        self.scheduler.reset();
    }

    /// The two halves, for [`super::spawn`].
    pub(super) fn into_parts(self) -> (Scheduler, Decoder) {
        (self.scheduler, self.decoder)
    }

    fn run_jobs(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.scheduler.take_jobs(&mut self.jobs);
        let mut first_error = None;
        for job in self.jobs.drain(..) {
            self.decoder.run(job, &mut |event| {
                match event {
                    Ok(event) => out.push(event),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                true
            });
        }
        first_error.map_or(Ok(()), Err)
    }
}
