//! The core on a dedicated thread, fed and read through bounded queues that work from
//! async code.
//!
//! The audio queue is bounded in bytes, not in messages: a decode can take longer than
//! the audio it covers, and everything that arrives meanwhile must be taken in one go
//! afterwards (so partials get sparser instead of the stream falling behind), whatever the
//! message size. A sender waits while the queue holds its budget; that wait is the
//! backpressure.

use std::sync::Arc;

use tokio::sync::{Semaphore, SemaphorePermit, mpsc};

use std::sync::mpsc::{Receiver, SyncSender};

use super::decoder::{Decoder, Job};
use super::frontend::{AudioFrontend, AudioInput};
use super::scheduler::Scheduler;
use super::transcriber::StreamingTranscriber;
use super::{StreamError, StreamEvent};

/// Samples taken into one [`StreamingTranscriber::push`] at most (30 s): the backlog of a
/// slow decode is taken whole, and a flood of input still comes in bounded pieces.
const MAX_BATCH_SAMPLES: usize = 30 * 16_000;

/// Jobs waiting for the decoding thread at most. Partials never pile up (the scheduler
/// asks for one only when none is running), so this only fills when input comes much
/// faster than real time; then listening waits, and so do the senders.
const JOB_QUEUE: usize = 16;

/// Bounds of a spawned stream's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCapacity {
    /// Bytes of input queued for the recognition thread (default 2 MiB: a minute of
    /// 16 kHz s16le, 20 s of 48 kHz). A full queue makes senders wait.
    pub audio_bytes: usize,
    /// Events waiting for the consumer (default 64). A full queue pauses recognition.
    pub events: usize,
}

impl Default for ChannelCapacity {
    fn default() -> Self {
        Self {
            audio_bytes: 2 << 20,
            events: 64,
        }
    }
}

/// The recognition thread has stopped (its stream finished, or its events are no longer
/// read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the streaming recognizer has stopped")]
pub struct StreamClosed;

enum Command<I> {
    Audio(I),
    Finish,
}

/// A queued command and the budget it holds.
struct Queued<I> {
    command: Command<I>,
    weight: u32,
}

/// Sends audio to a spawned stream. Dropping every sender stops the stream without a
/// final (call [`AudioSender::finish`] to get one).
pub struct AudioSender<I> {
    tx: mpsc::UnboundedSender<Queued<I>>,
    budget: Arc<Semaphore>,
    capacity: u32,
}

impl<I> Clone for AudioSender<I> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            budget: Arc::clone(&self.budget),
            capacity: self.capacity,
        }
    }
}

impl<I> std::fmt::Debug for AudioSender<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioSender")
            .field("free_bytes", &self.budget.available_permits())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<I: AudioInput> AudioSender<I> {
    /// Sends one input, waiting while the queue is full.
    pub async fn send(&self, input: I) -> Result<(), StreamClosed> {
        self.reserve(input.queued_bytes()).await?.send(input);
        Ok(())
    }

    /// Waits for room for an input of `bytes` (its [`AudioInput::queued_bytes`]) without
    /// committing to send it. Cancel-safe, so it can sit in a `select!` beside reading the
    /// events: the way to wait for room without ever losing an input. An input larger than
    /// the whole queue waits for the queue to be empty.
    pub async fn reserve(&self, bytes: usize) -> Result<AudioPermit<'_, I>, StreamClosed> {
        let weight = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.capacity);
        let permit = self
            .budget
            .acquire_many(weight)
            .await
            .map_err(|_| StreamClosed)?;
        Ok(AudioPermit {
            tx: &self.tx,
            permit,
            weight,
        })
    }

    /// Ends the input: what is queued is recognized, an open utterance becomes a final,
    /// then the event stream ends. Never waits.
    pub fn finish(&self) -> Result<(), StreamClosed> {
        self.tx
            .send(Queued {
                command: Command::Finish,
                weight: 0,
            })
            .map_err(|_| StreamClosed)
    }

    /// Whether the recognition thread has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Room for one input in a stream's queue (from [`AudioSender::reserve`]). Dropping it
/// unused gives the room back.
pub struct AudioPermit<'a, I> {
    tx: &'a mpsc::UnboundedSender<Queued<I>>,
    permit: SemaphorePermit<'a>,
    weight: u32,
}

impl<I> std::fmt::Debug for AudioPermit<'_, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPermit")
            .field("bytes", &self.weight)
            .finish()
    }
}

impl<I> AudioPermit<'_, I> {
    /// Queues `input` in the reserved room.
    pub fn send(self, input: I) {
        // The recognition thread gives the room back when it takes the input.
        self.permit.forget();
        // A failure means the thread is gone; the next call on the sender reports it.
        let _ = self.tx.send(Queued {
            command: Command::Audio(input),
            weight: self.weight,
        });
    }
}

/// Receives a spawned stream's events, in order. Errors are not fatal: the stream goes on
/// after them. `None` once the stream has finished. Dropping the receiver stops the
/// recognition thread.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<Result<StreamEvent, StreamError>>,
}

impl EventReceiver {
    /// The next event; `None` when the stream has ended.
    pub async fn recv(&mut self) -> Option<Result<StreamEvent, StreamError>> {
        self.rx.recv().await
    }

    /// The next event, from a thread outside the async runtime.
    pub fn blocking_recv(&mut self) -> Option<Result<StreamEvent, StreamError>> {
        self.rx.blocking_recv()
    }
}

/// Runs `transcriber` on two threads of its own, fed through `frontend`: one listens
/// (frontend, VAD, scheduling), the other decodes and sends the events. Listening goes on
/// while Whisper runs, so a partial made useless by the end of the speech is stopped and
/// the pause decode starts at once, not after it.
///
/// The threads live until [`AudioSender::finish`] has been processed, every sender is
/// dropped, or the receiver is dropped (noticed at the next input; a decode in progress
/// completes first).
pub fn spawn<F: AudioFrontend>(
    transcriber: StreamingTranscriber,
    frontend: F,
    capacity: ChannelCapacity,
) -> Result<(AudioSender<F::Input>, EventReceiver), StreamError> {
    let capacity_bytes =
        u32::try_from(capacity.audio_bytes.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let budget = Arc::new(Semaphore::new(capacity_bytes as usize));
    let (audio_tx, audio_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(capacity.events.max(1));
    let queue = Queue {
        rx: audio_rx,
        budget: Arc::clone(&budget),
    };
    let (scheduler, decoder) = transcriber.into_parts();
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel(JOB_QUEUE);
    let decoder_events = event_tx.clone();
    std::thread::Builder::new()
        .name("stt-decode".into())
        .spawn(move || decode(decoder, &job_rx, &decoder_events))
        .map_err(StreamError::Spawn)?;
    // If this one fails, dropping `job_tx` ends the decoding thread.
    std::thread::Builder::new()
        .name("stt-listen".into())
        .spawn(move || listen(scheduler, frontend, queue, &job_tx, &event_tx))
        .map_err(StreamError::Spawn)?;
    let sender = AudioSender {
        tx: audio_tx,
        budget,
        capacity: capacity_bytes,
    };
    Ok((sender, EventReceiver { rx: event_rx }))
}

/// The thread's end of the audio queue.
struct Queue<I> {
    rx: mpsc::UnboundedReceiver<Queued<I>>,
    budget: Arc<Semaphore>,
}

impl<I> Queue<I> {
    fn take(&mut self, queued: Queued<I>) -> Command<I> {
        self.budget.add_permits(queued.weight as usize);
        queued.command
    }
}

impl<I> Drop for Queue<I> {
    fn drop(&mut self) {
        // The channel first, so that a sender woken by the closed budget sees it closed.
        self.rx.close();
        // Senders waiting for room must learn that none will come.
        self.budget.close();
    }
}

type EventSender = mpsc::Sender<Result<StreamEvent, StreamError>>;

/// The listening thread: take everything queued, convert it, run the VAD and the
/// scheduler, pass the jobs on. Only the decoding thread sends events, so they keep the
/// jobs' order.
fn listen<F: AudioFrontend>(
    mut scheduler: Scheduler,
    mut frontend: F,
    mut queue: Queue<F::Input>,
    jobs_tx: &SyncSender<Job>,
    events_tx: &EventSender,
) {
    let mut samples = Vec::new();
    let mut jobs = Vec::new();
    while let Some(first) = queue.rx.blocking_recv() {
        if events_tx.is_closed() {
            return;
        }
        samples.clear();
        let mut finish = false;
        let mut next = Some(first);
        while let Some(queued) = next.take() {
            match queue.take(queued) {
                Command::Audio(input) => {
                    if let Err(e) = frontend.convert(input, &mut samples) {
                        jobs.push(Job::Event(Err(e.into())));
                    }
                }
                Command::Finish => {
                    finish = true;
                    break;
                }
            }
            if samples.len() < MAX_BATCH_SAMPLES {
                next = queue.rx.try_recv().ok();
            }
        }
        if finish && let Err(e) = frontend.flush(&mut samples) {
            jobs.push(Job::Event(Err(e.into())));
        }
        if !samples.is_empty() {
            scheduler.push(&samples);
        }
        if finish {
            scheduler.finish();
        }
        scheduler.take_jobs(&mut jobs);
        for job in jobs.drain(..) {
            // A full job queue waits here: that stops taking audio, and senders wait.
            if jobs_tx.send(job).is_err() {
                return;
            }
        }
        if finish {
            // Returning drops this thread's senders: once the decoding thread is done with
            // what is queued, the receiver sees the end.
            return;
        }
    }
}

/// The decoding thread: run the jobs in order, sending the events.
fn decode(mut decoder: Decoder, jobs: &Receiver<Job>, events_tx: &EventSender) {
    let mut emit = |event: Result<StreamEvent, StreamError>| match event {
        Ok(event) => events_tx.blocking_send(Ok(event)).is_ok(),
        Err(e) => send_error(events_tx, e),
    };
    while let Ok(job) = jobs.recv() {
        if !decoder.run(job, &mut emit) {
            return;
        }
    }
}

/// Reports a (non-fatal) error; false when nobody listens any more.
fn send_error(tx: &EventSender, error: StreamError) -> bool {
    tracing::debug!(%error, "streaming recognition");
    tx.blocking_send(Err(error)).is_ok()
}
