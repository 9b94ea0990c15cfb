//! The decoding half of a stream: Whisper runs on the audio the scheduler hands over, and
//! every event leaves from here, in the order the scheduler asked for it.
//!
//! What depends on a decode's result lives here, not in the scheduler: skipping a partial
//! whose text did not change, reporting `Resumed` only after a `Pause` that was reported,
//! and a final reusing the text of the pause decode that covered the same audio. So the
//! scheduler never waits for a decode, and can run on a thread of its own (see
//! [`super::spawn`]) while one is in progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config::SAMPLES_PER_MS;
use super::text::clean_transcript;
use super::{OpenStream, StreamError, StreamEvent};
use crate::engine::{Cancel, SttError, TranscribeOptions, WhisperModel};

/// One step of a stream's output, in order.
#[derive(Debug)]
pub(super) enum Job {
    /// An event or error that needs no decoding.
    Event(Result<StreamEvent, StreamError>),
    /// Speech came back after a pause decode was asked for: its early text is stale.
    /// Reported only if that pause was.
    Resumed {
        /// Where the new speech starts.
        at_ms: u64,
    },
    /// The utterance so far, while it goes on.
    Partial(Decode),
    /// The utterance so far, once the speaker has paused.
    Pause {
        /// The audio.
        decode: Decode,
        /// End of the last voiced audio.
        at_ms: u64,
    },
    /// A finished utterance, or a piece of one cut at the length cap.
    Final {
        /// The audio.
        decode: Decode,
        /// Start of the audio, ms.
        start_ms: u64,
        /// End of the last voiced audio in it, ms.
        end_ms: u64,
    },
}

/// The audio of one decode and the handle the scheduler keeps on it.
#[derive(Debug)]
pub(super) struct Decode {
    /// 16 kHz samples.
    pub(super) pcm: Vec<f32>,
    /// `(start, end)` stream positions of `pcm`: a final whose span equals a pause's
    /// covers the very same audio.
    pub(super) span: (u64, u64),
    /// Raised by the scheduler when the result is no longer wanted.
    pub(super) ticket: Ticket,
}

/// The scheduler's handle on a decode it asked for: whether it is over, and a way to stop
/// it. Clones share the state.
#[derive(Debug, Clone, Default)]
pub(super) struct Ticket {
    cancel: Cancel,
    done: Arc<AtomicBool>,
}

impl Ticket {
    /// Whether the decode has not finished (or been skipped) yet.
    pub(super) fn is_pending(&self) -> bool {
        !self.done.load(Ordering::Acquire)
    }

    /// Stops the decode if it is still to come or running; its result is dropped.
    pub(super) fn cancel(&self) {
        self.cancel.cancel();
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }
}

/// Where the decoder's output goes; `false` when nobody listens any more.
pub(super) type Emit<'a> = dyn FnMut(Result<StreamEvent, StreamError>) -> bool + 'a;

/// Runs a stream's decodes and emits its events.
pub(super) struct Decoder {
    model: Arc<WhisperModel>,
    options: TranscribeOptions,
    /// This stream, counted by the config's [`super::DecodeBudget`] while it lives.
    open: Option<OpenStream>,
    /// The last text sent as a partial or pause of this utterance, to skip repeats.
    last_text: String,
    /// The last pause decode of this utterance: its span and text.
    pause: Option<((u64, u64), String)>,
    /// A `Pause` was reported and no `Resumed` since.
    paused: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("model", &self.model.id())
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    pub(super) fn new(
        model: Arc<WhisperModel>,
        options: TranscribeOptions,
        open: Option<OpenStream>,
    ) -> Self {
        Self {
            model,
            options,
            open,
            last_text: String::new(),
            pause: None,
            paused: false,
        }
    }

    /// Carries out one job; `false` when `emit` found nobody listening.
    pub(super) fn run(&mut self, job: Job, emit: &mut Emit<'_>) -> bool {
        match job {
            Job::Event(event) => {
                if matches!(event, Ok(StreamEvent::SpeechStarted { .. })) {
                    self.forget_utterance();
                }
                emit(event)
            }
            Job::Resumed { at_ms } => {
                if std::mem::take(&mut self.paused) {
                    emit(Ok(StreamEvent::Resumed { at_ms }))
                } else {
                    true
                }
            }
            Job::Partial(decode) => match self.decode(&decode) {
                Some(Ok(text)) if !text.is_empty() && text != self.last_text => {
                    self.last_text.clone_from(&text);
                    emit(Ok(StreamEvent::Partial { text }))
                }
                Some(Err(e)) => emit(Err(e)),
                _ => true,
            },
            Job::Pause { decode, at_ms } => match self.decode(&decode) {
                Some(Ok(text)) => {
                    self.pause = Some((decode.span, text.clone()));
                    // No words (a noise): nothing to generate from, nothing to resume.
                    if text.is_empty() {
                        return true;
                    }
                    self.paused = true;
                    self.last_text.clone_from(&text);
                    emit(Ok(StreamEvent::Pause { at_ms, text }))
                }
                Some(Err(e)) => emit(Err(e)),
                None => true,
            },
            Job::Final {
                decode,
                start_ms,
                end_ms,
            } => {
                let text = match self.pause.take() {
                    // Nothing was voiced after the pause decode: it covered this very audio.
                    Some((span, text)) if span == decode.span => {
                        decode.ticket.finish();
                        Some(Ok(text))
                    }
                    _ => self.decode(&decode),
                };
                // The next piece of a cut utterance starts afresh.
                self.forget_utterance();
                match text {
                    Some(Ok(text)) if !text.is_empty() => emit(Ok(StreamEvent::Final {
                        text,
                        start_ms,
                        end_ms,
                    })),
                    Some(Err(e)) => emit(Err(e)),
                    _ => true,
                }
            }
        }
    }

    fn forget_utterance(&mut self) {
        self.last_text.clear();
        self.pause = None;
        self.paused = false;
    }

    /// Transcribes the job's audio; `None` when it was cancelled.
    fn decode(&self, decode: &Decode) -> Option<Result<String, StreamError>> {
        let result = self.transcribe(decode);
        decode.ticket.finish();
        match result {
            Err(SttError::Cancelled) => {
                tracing::trace!(
                    audio_ms = decode.pcm.len() as u64 / SAMPLES_PER_MS,
                    "streaming decode cancelled"
                );
                None
            }
            other => Some(other.map_err(StreamError::Stt)),
        }
    }

    fn transcribe(&self, decode: &Decode) -> Result<String, SttError> {
        let started = std::time::Instant::now();
        let options = TranscribeOptions {
            threads: self
                .open
                .as_ref()
                .map(OpenStream::threads)
                .or(self.options.threads),
            cancel: Some(decode.ticket.cancel.clone()),
            ..self.options.clone()
        };
        let transcript = self.model.transcribe(&decode.pcm, &options)?;
        tracing::trace!(
            audio_ms = decode.pcm.len() as u64 / SAMPLES_PER_MS,
            decode_ms = started.elapsed().as_millis() as u64,
            "streaming decode"
        );
        Ok(clean_transcript(&transcript.text))
    }
}
