//! Streaming synthesis: text deltas in, audio chunks out as soon as each clause is
//! synthesized, on a dedicated thread, cancellable at any point.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use ort::session::RunOptions;
use tokio::sync::mpsc as chunk_channel;

use crate::engine::Pipeline;
use crate::{PiperVoice, SAMPLE_RATE, SynthesisOptions, TtsError};

/// Text a synthesizer may hold before speaking it; more is refused with
/// [`TtsError::TextQueueFull`] (a reply is a few kilobytes).
pub const MAX_QUEUED_TEXT: usize = 1 << 20;

/// Chunks synthesized ahead of the listener: a bounded queue, so a slow listener (audio
/// paced in real time) holds synthesis back instead of piling audio up.
pub const CHUNK_QUEUE: usize = 4;

/// Longest nap of the worker when nothing wakes it (a safety net; it is woken at once by
/// new text, a received chunk, cancellation or a dropped receiver).
const IDLE_NAP: Duration = Duration::from_millis(50);

/// Audio of one clause (or sentence, per [`crate::Chunking`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Mono samples at 24 kHz.
    pub samples_24k: Vec<f32>,
    /// The text this audio says, as written.
    pub text_of_clause: String,
    /// Position of the chunk's clause in the text, from 0.
    pub clause_index: usize,
    /// Whether this is the last chunk (it may be silent, when the text ended after the
    /// last clause was already sent). A stream that ends without one was cancelled or
    /// failed.
    pub is_last: bool,
}

impl AudioChunk {
    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples_24k.len() as u64 * 1000 / u64::from(SAMPLE_RATE)
    }
}

/// Stops a synthesizer: between clauses, between phonemizing and the voice, and inside
/// the voice's ONNX run. Cheap to clone; any clone cancels.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

struct CancelInner {
    cancelled: AtomicBool,
    /// Terminates an ONNX run in progress.
    run: Option<RunOptions>,
    /// The worker to wake.
    worker: OnceLock<Thread>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    fn new() -> Self {
        Self {
            inner: Arc::new(CancelInner {
                cancelled: AtomicBool::new(false),
                run: RunOptions::new().ok(),
                worker: OnceLock::new(),
            }),
        }
    }

    /// Stops synthesis; the chunk stream ends without an `is_last` chunk.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        if let Some(run) = &self.inner.run {
            let _ = run.terminate();
        }
        self.wake();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    fn wake(&self) {
        if let Some(worker) = self.inner.worker.get() {
            worker.unpark();
        }
    }
}

enum Input {
    Text(String),
    Finish,
}

/// Where text goes into a synthesizer. Cloneable; dropping every clone finishes the text.
#[derive(Debug, Clone)]
pub struct TextInput {
    tx: mpsc::Sender<Input>,
    queued: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
    cancel: CancelToken,
}

impl TextInput {
    /// Adds a delta of text (any size, any split: clauses are found across deltas).
    /// Never blocks; fails once the synthesizer stopped or holds too much unspoken text.
    pub fn push_text(&self, delta: &str) -> Result<(), TtsError> {
        if delta.is_empty() {
            return Ok(());
        }
        let before = self.queued.fetch_add(delta.len(), Ordering::SeqCst);
        if before + delta.len() > MAX_QUEUED_TEXT {
            self.queued.fetch_sub(delta.len(), Ordering::SeqCst);
            return Err(TtsError::TextQueueFull {
                limit: MAX_QUEUED_TEXT,
            });
        }
        let stopped = self.cancel.is_cancelled() || self.finished.load(Ordering::SeqCst);
        if stopped || self.tx.send(Input::Text(delta.to_owned())).is_err() {
            self.queued.fetch_sub(delta.len(), Ordering::SeqCst);
            return Err(TtsError::Stopped);
        }
        self.cancel.wake();
        Ok(())
    }

    /// Ends the text: what is left is spoken and the last chunk is marked. Later text is
    /// refused with [`TtsError::Stopped`].
    pub fn finish(&self) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.tx.send(Input::Finish);
        self.cancel.wake();
    }

    /// Stops synthesis.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this synthesizer.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

/// The audio side of a synthesizer. Dropping it cancels synthesis.
#[derive(Debug)]
pub struct AudioChunks {
    rx: chunk_channel::Receiver<Result<AudioChunk, TtsError>>,
    cancel: CancelToken,
}

impl AudioChunks {
    /// The next chunk; `None` once the stream ended (after the `is_last` chunk, or on
    /// cancellation).
    pub async fn recv(&mut self) -> Option<Result<AudioChunk, TtsError>> {
        let item = self.rx.recv().await;
        // A slot is free: the worker may be waiting for one.
        self.cancel.wake();
        item
    }

    /// The next chunk, blocking this thread (never call it on an async runtime).
    pub fn blocking_recv(&mut self) -> Option<Result<AudioChunk, TtsError>> {
        let item = self.rx.blocking_recv();
        self.cancel.wake();
        item
    }

    /// Stops synthesis.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this synthesizer.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

impl Iterator for AudioChunks {
    type Item = Result<AudioChunk, TtsError>;

    /// Blocks like [`AudioChunks::blocking_recv`].
    fn next(&mut self) -> Option<Self::Item> {
        self.blocking_recv()
    }
}

impl Drop for AudioChunks {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Streaming synthesis with one voice: push text deltas, receive [`AudioChunk`]s per
/// clause as they are synthesized, cancel at any point.
///
/// Synthesis runs on a thread of its own (never on the async runtime). The first clause
/// is phonemized alone and rendered as soon as it is complete; later clauses are
/// phonemized in batches while the voice renders the one before. Use
/// [`Synthesizer::split`] to feed text from one task and play audio from another.
///
/// ```no_run
/// use std::sync::Arc;
/// use mka1_tts::{JOE, PiperVoice, SynthesisOptions, Synthesizer};
///
/// let voice = Arc::new(PiperVoice::from_env(&JOE)?);
/// let mut synth = Synthesizer::start(voice, SynthesisOptions::default())?;
/// synth.push_text("Hello there. ")?;
/// synth.push_text("How are you today?")?;
/// synth.finish();
/// while let Some(chunk) = synth.blocking_recv() {
///     let chunk = chunk?;
///     println!("{} ms for {:?}", chunk.duration_ms(), chunk.text_of_clause);
/// }
/// # Ok::<(), mka1_tts::TtsError>(())
/// ```
#[derive(Debug)]
pub struct Synthesizer {
    input: TextInput,
    chunks: AudioChunks,
}

impl Synthesizer {
    /// Starts a synthesizer thread for `voice`.
    pub fn start(voice: Arc<PiperVoice>, options: SynthesisOptions) -> Result<Self, TtsError> {
        let cancel = CancelToken::new();
        let (tx, rx) = mpsc::channel();
        let (chunk_tx, chunk_rx) = chunk_channel::channel(CHUNK_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            voice,
            options,
            input: rx,
            queued: Arc::clone(&queued),
            output: chunk_tx,
            cancel: cancel.clone(),
        };
        let handle = thread::Builder::new()
            .name("tts-synthesizer".into())
            .spawn(move || worker.run())
            .map_err(|e| TtsError::Thread {
                reason: e.to_string(),
            })?;
        let _ = cancel.inner.worker.set(handle.thread().clone());
        Ok(Self {
            input: TextInput {
                tx,
                queued,
                finished: Arc::new(AtomicBool::new(false)),
                cancel: cancel.clone(),
            },
            chunks: AudioChunks {
                rx: chunk_rx,
                cancel,
            },
        })
    }

    /// Starts a synthesizer on a whole text (already finished).
    pub fn speak(
        voice: Arc<PiperVoice>,
        text: &str,
        options: SynthesisOptions,
    ) -> Result<AudioChunks, TtsError> {
        let synth = Self::start(voice, options)?;
        synth.push_text(text)?;
        synth.finish();
        Ok(synth.split().1)
    }

    /// Adds a delta of text (see [`TextInput::push_text`]).
    pub fn push_text(&self, delta: &str) -> Result<(), TtsError> {
        self.input.push_text(delta)
    }

    /// Ends the text (see [`TextInput::finish`]).
    pub fn finish(&self) {
        self.input.finish();
    }

    /// Stops synthesis.
    pub fn cancel(&self) {
        self.input.cancel();
    }

    /// A token that cancels this synthesizer.
    pub fn cancel_token(&self) -> CancelToken {
        self.input.cancel_token()
    }

    /// The next chunk (see [`AudioChunks::recv`]).
    pub async fn recv(&mut self) -> Option<Result<AudioChunk, TtsError>> {
        self.chunks.recv().await
    }

    /// The next chunk, blocking (see [`AudioChunks::blocking_recv`]).
    pub fn blocking_recv(&mut self) -> Option<Result<AudioChunk, TtsError>> {
        self.chunks.blocking_recv()
    }

    /// The text side and the audio side, to use from different tasks.
    pub fn split(self) -> (TextInput, AudioChunks) {
        (self.input, self.chunks)
    }
}

struct Worker {
    voice: Arc<PiperVoice>,
    options: SynthesisOptions,
    input: mpsc::Receiver<Input>,
    queued: Arc<AtomicUsize>,
    output: chunk_channel::Sender<Result<AudioChunk, TtsError>>,
    cancel: CancelToken,
}

impl Worker {
    fn run(self) {
        let mut pipeline = Pipeline::new(self.voice.espeak().clone(), self.options.chunking);
        let mut input_done = false;
        let mut last_sent = false;
        let run = self.cancel.inner.run.as_ref();
        loop {
            if self.stopped() {
                return;
            }
            input_done |= self.drain_input(&mut pipeline);
            let next = match pipeline.next_unit() {
                Ok(next) => next,
                Err(e) => {
                    let _ = self.send(Err(e));
                    return;
                }
            };
            let Some((unit, phonemes)) = next else {
                if input_done && pipeline.is_done() {
                    if !last_sent {
                        let end = AudioChunk {
                            samples_24k: Vec::new(),
                            text_of_clause: String::new(),
                            clause_index: 0,
                            is_last: true,
                        };
                        let _ = self.send(Ok(end));
                    }
                    return;
                }
                thread::park_timeout(IDLE_NAP);
                continue;
            };
            // Between phonemizing and the voice.
            if self.stopped() {
                return;
            }
            let audio = match self.voice.render(&phonemes, &self.options, run) {
                Ok(audio) => audio,
                Err(_) if self.stopped() => return,
                Err(e) => {
                    let _ = self.send(Err(e));
                    return;
                }
            };
            if self.stopped() {
                return;
            }
            // Text may have ended while the voice ran: then this could be the last chunk.
            input_done |= self.drain_input(&mut pipeline);
            let is_last = input_done && pipeline.is_done();
            let chunk = AudioChunk {
                samples_24k: audio,
                text_of_clause: unit.text,
                clause_index: unit.index,
                is_last,
            };
            if chunk.samples_24k.is_empty() && !is_last {
                // Nothing to say in this clause (only symbols).
                continue;
            }
            if !self.send(Ok(chunk)) {
                return;
            }
            last_sent = is_last;
            if is_last {
                return;
            }
        }
    }

    fn stopped(&self) -> bool {
        self.cancel.is_cancelled() || self.output.is_closed()
    }

    /// Moves queued text into the pipeline; true once the text is finished (or every
    /// input handle is gone).
    fn drain_input(&self, pipeline: &mut Pipeline) -> bool {
        loop {
            match self.input.try_recv() {
                Ok(Input::Text(text)) => {
                    self.queued.fetch_sub(text.len(), Ordering::SeqCst);
                    pipeline.push_text(&text);
                }
                Ok(Input::Finish) | Err(mpsc::TryRecvError::Disconnected) => {
                    pipeline.finish();
                    return true;
                }
                Err(mpsc::TryRecvError::Empty) => return false,
            }
        }
    }

    /// Sends one item, waiting (woken by the receiver) while the queue is full; false
    /// when cancelled or nobody listens any more.
    fn send(&self, mut item: Result<AudioChunk, TtsError>) -> bool {
        loop {
            if self.cancel.is_cancelled() {
                return false;
            }
            match self.output.try_send(item) {
                Ok(()) => return true,
                Err(chunk_channel::error::TrySendError::Full(back)) => {
                    item = back;
                    thread::park_timeout(IDLE_NAP);
                }
                Err(chunk_channel::error::TrySendError::Closed(_)) => return false,
            }
        }
    }
}
