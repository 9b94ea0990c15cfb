//! The shared inference pool: every Whisper model loaded at most once per process, a
//! fixed number of dedicated worker threads, and a bounded queue in front of them.
//!
//! Async callers submit a job without blocking (`try_send` on a bounded channel) and
//! await its result on a oneshot channel. A full queue is refused at once with
//! [`PoolError::Overloaded`] and an estimate of when to retry, so load shows up as fast
//! 429/503 answers instead of a growing backlog. A job whose caller went away (client
//! disconnected, future dropped) before a worker picked it up is skipped.
//!
//! On a small machine one worker using every core is the right default: two Whisper
//! decodes on two cores only fight over them. Streaming recognition shares the loaded
//! models through [`TranscriptionPool::model`] and runs on its own thread, outside the
//! queue.
//!
//! Configuration from the environment ([`PoolConfig::from_env`]):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MKA1_STT_WORKERS` | worker threads | 1 |
//! | `MKA1_STT_QUEUE` | jobs waiting at most | 8 |
//! | `MKA1_STT_THREADS` | whisper threads per job | cores ÷ workers |
//! | `MKA1_MODELS_DIR` | models directory | `~/.cache/mka1-voice/models` |

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use mka1_models::ModelsDir;
use tokio::sync::oneshot;

use crate::engine::{SAMPLE_RATE, SttError, TranscribeOptions, Transcript, WhisperModel};
use crate::registry::ModelId;

/// Default number of jobs that may wait for a worker.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8;

/// Job duration assumed for the retry estimate before any job has finished.
const INITIAL_JOB_SECONDS: f64 = 1.0;

/// Weight of the newest job in the running mean of job durations.
const MEAN_WEIGHT: f64 = 0.2;

/// Why the pool did not return a transcript.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The queue is full: try again later.
    #[error("speech recognition is busy; retry in {retry_after_secs} s")]
    Overloaded {
        /// Estimated seconds until a place frees up (at least 1).
        retry_after_secs: u64,
    },
    /// The transcription itself failed (model missing, bad language, inference).
    #[error(transparent)]
    Stt(#[from] SttError),
    /// The pool is shut down (or its worker died).
    #[error("speech recognition pool is closed")]
    Closed,
    /// The configuration is invalid, or a worker thread could not start.
    #[error("speech recognition pool: {0}")]
    Config(String),
}

/// How a [`TranscriptionPool`] is sized.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Where the ggml models are.
    pub models_dir: ModelsDir,
    /// Dedicated worker threads (jobs decoded at the same time).
    pub workers: usize,
    /// Jobs that may wait for a worker; more are refused with [`PoolError::Overloaded`].
    pub queue_capacity: usize,
    /// Whisper threads per job when the job's options do not say.
    pub threads_per_job: usize,
}

impl PoolConfig {
    /// One worker using every core, a queue of [`DEFAULT_QUEUE_CAPACITY`].
    pub fn new(models_dir: ModelsDir) -> Self {
        Self {
            models_dir,
            workers: 1,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            threads_per_job: cores(),
        }
    }

    /// The defaults, overridden by `MKA1_STT_WORKERS`, `MKA1_STT_QUEUE`,
    /// `MKA1_STT_THREADS` and `MKA1_MODELS_DIR` (see the module docs).
    pub fn from_env() -> Result<Self, PoolError> {
        let dir = ModelsDir::from_env().map_err(|e| PoolError::Config(e.to_string()))?;
        let mut config = Self::new(dir);
        if let Some(workers) = env_count("MKA1_STT_WORKERS")? {
            config.workers = workers;
            config.threads_per_job = (cores() / workers).max(1);
        }
        if let Some(queue) = env_count("MKA1_STT_QUEUE")? {
            config.queue_capacity = queue;
        }
        if let Some(threads) = env_count("MKA1_STT_THREADS")? {
            config.threads_per_job = threads;
        }
        Ok(config)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A positive integer from the environment; `None` when unset.
fn env_count(name: &str) -> Result<Option<usize>, PoolError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(PoolError::Config(format!(
                "{name}={v:?}: expected a positive integer"
            ))),
        },
    }
}

/// What one job cost, for real-time-factor metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobStats {
    /// The model that decoded it.
    pub model: ModelId,
    /// Length of the audio.
    pub audio_seconds: f64,
    /// Time a worker spent on it (model loading included when it happened).
    pub compute_seconds: f64,
    /// Time it waited in the queue.
    pub queued_seconds: f64,
}

impl JobStats {
    /// Compute time per second of audio (below 1 is faster than real time).
    pub fn real_time_factor(&self) -> f64 {
        if self.audio_seconds > 0.0 {
            self.compute_seconds / self.audio_seconds
        } else {
            0.0
        }
    }
}

/// Counters since the pool started, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolStats {
    /// Jobs waiting for a worker now.
    pub queue_depth: usize,
    /// Jobs being decoded now.
    pub in_flight: usize,
    /// Jobs that returned a transcript.
    pub completed: u64,
    /// Jobs that returned an error.
    pub failed: u64,
    /// Submissions refused because the queue was full.
    pub rejected: u64,
    /// Queued jobs dropped because their caller had gone.
    pub skipped: u64,
    /// Seconds of audio transcribed.
    pub audio_seconds: f64,
    /// Seconds workers spent transcribing.
    pub compute_seconds: f64,
}

type Reply = oneshot::Sender<Result<(Transcript, JobStats), PoolError>>;

struct Job {
    model: ModelId,
    pcm: Vec<f32>,
    opts: TranscribeOptions,
    reply: Reply,
    enqueued: Instant,
}

/// A model slot: loaded once, read without locking afterwards.
#[derive(Default)]
struct Slot {
    model: OnceLock<Arc<WhisperModel>>,
    /// Serializes loading, so two first callers do not load the file twice.
    loading: Mutex<()>,
}

/// State the pool handle and its workers share.
struct Shared {
    models_dir: ModelsDir,
    threads_per_job: usize,
    slots: HashMap<ModelId, Slot>,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    skipped: AtomicU64,
    audio_us: AtomicU64,
    compute_us: AtomicU64,
    /// Running mean of job durations, seconds.
    mean_job_seconds: Mutex<f64>,
}

/// Loaded Whisper models behind a fixed set of worker threads and a bounded queue.
pub struct TranscriptionPool {
    shared: Arc<Shared>,
    jobs: SyncSender<Job>,
    workers: usize,
}

impl std::fmt::Debug for TranscriptionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptionPool")
            .field("workers", &self.workers)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TranscriptionPool {
    /// Starts the workers; models load on first use (or [`Self::preload`]).
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        if config.workers == 0 || config.queue_capacity == 0 || config.threads_per_job == 0 {
            return Err(PoolError::Config(
                "workers, queue capacity and threads per job must be positive".into(),
            ));
        }
        let shared = Arc::new(Shared {
            models_dir: config.models_dir,
            threads_per_job: config.threads_per_job,
            slots: ModelId::ALL
                .into_iter()
                .map(|m| (m, Slot::default()))
                .collect(),
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            audio_us: AtomicU64::new(0),
            compute_us: AtomicU64::new(0),
            mean_job_seconds: Mutex::new(INITIAL_JOB_SECONDS),
        });
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(config.queue_capacity);
        // std's receiver has one consumer; idle workers take turns waiting on it.
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..config.workers {
            let (shared, rx) = (Arc::clone(&shared), Arc::clone(&rx));
            std::thread::Builder::new()
                .name(format!("stt-worker-{i}"))
                .spawn(move || work(&shared, &rx))
                .map_err(|e| PoolError::Config(format!("cannot start a worker: {e}")))?;
        }
        Ok(Self {
            shared,
            jobs,
            workers: config.workers,
        })
    }

    /// Transcribes `pcm` (16 kHz mono) with `model` on a worker thread.
    pub async fn transcribe(
        &self,
        model: ModelId,
        pcm: Vec<f32>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, PoolError> {
        self.transcribe_with_stats(model, pcm, opts)
            .await
            .map(|(t, _)| t)
    }

    /// [`Self::transcribe`], also returning what the job cost.
    pub async fn transcribe_with_stats(
        &self,
        model: ModelId,
        pcm: Vec<f32>,
        opts: TranscribeOptions,
    ) -> Result<(Transcript, JobStats), PoolError> {
        let (reply, result) = oneshot::channel();
        let job = Job {
            model,
            pcm,
            opts,
            reply,
            enqueued: Instant::now(),
        };
        // Counted before sending, so a worker never decrements below zero.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.jobs.try_send(job) {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(match e {
                TrySendError::Full(_) => {
                    self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                    PoolError::Overloaded {
                        retry_after_secs: self.retry_after_secs(),
                    }
                }
                TrySendError::Disconnected(_) => PoolError::Closed,
            });
        }
        // Dropping this future drops `result`, which marks the job as abandoned.
        result.await.map_err(|_| PoolError::Closed)?
    }

    /// The model, loading it on first use. Blocks while loading (up to a second or two):
    /// call from a blocking context, or after [`Self::preload`].
    pub fn model(&self, id: ModelId) -> Result<Arc<WhisperModel>, SttError> {
        self.shared.model(id)
    }

    /// Loads `models` now rather than on first use. Blocks.
    pub fn preload(&self, models: &[ModelId]) -> Result<(), SttError> {
        models
            .iter()
            .try_for_each(|m| self.shared.model(*m).map(drop))
    }

    /// Models loaded so far.
    pub fn loaded_models(&self) -> Vec<ModelId> {
        ModelId::ALL
            .into_iter()
            .filter(|m| {
                self.shared
                    .slots
                    .get(m)
                    .is_some_and(|s| s.model.get().is_some())
            })
            .collect()
    }

    /// Jobs waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Jobs being decoded.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Counters since the pool started.
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            queue_depth: s.queued.load(Ordering::SeqCst),
            in_flight: s.in_flight.load(Ordering::SeqCst),
            completed: s.completed.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            skipped: s.skipped.load(Ordering::Relaxed),
            audio_seconds: s.audio_us.load(Ordering::Relaxed) as f64 / 1e6,
            compute_seconds: s.compute_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// Seconds until the work ahead of a new job is likely done: the jobs waiting and
    /// running, at the recent mean duration, spread over the workers; at least 1.
    fn retry_after_secs(&self) -> u64 {
        let mean = *self
            .shared
            .mean_job_seconds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ahead = (self.queue_depth() + self.in_flight()) as f64;
        let secs = (ahead * mean / self.workers as f64).ceil();
        if secs.is_finite() && secs >= 1.0 {
            secs as u64
        } else {
            1
        }
    }
}

impl Shared {
    fn model(&self, id: ModelId) -> Result<Arc<WhisperModel>, SttError> {
        let Some(slot) = self.slots.get(&id) else {
            // Every ModelId has a slot; this only guards against a new variant.
            return WhisperModel::load(id, &id.ggml_path(&self.models_dir)).map(Arc::new);
        };
        if let Some(m) = slot.model.get() {
            return Ok(Arc::clone(m));
        }
        let _loading = slot.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = slot.model.get() {
            return Ok(Arc::clone(m));
        }
        let started = Instant::now();
        let model = Arc::new(WhisperModel::load(id, &id.ggml_path(&self.models_dir))?);
        tracing::info!(model = %id, secs = started.elapsed().as_secs_f64(), "speech model loaded");
        Ok(Arc::clone(slot.model.get_or_init(|| model)))
    }

    fn record(&self, stats: &JobStats, ok: bool) {
        let counter = if ok { &self.completed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        self.audio_us
            .fetch_add((stats.audio_seconds * 1e6) as u64, Ordering::Relaxed);
        self.compute_us
            .fetch_add((stats.compute_seconds * 1e6) as u64, Ordering::Relaxed);
        let mut mean = self
            .mean_job_seconds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *mean += MEAN_WEIGHT * (stats.compute_seconds - *mean);
    }
}

/// A worker: takes jobs until the pool is dropped.
fn work(shared: &Shared, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        if job.reply.is_closed() {
            shared.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(model = %job.model, "caller gone; job skipped");
            continue;
        }
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let mut opts = job.opts;
        opts.threads = opts.threads.or(Some(shared.threads_per_job));
        // A panic inside the engine must cost one job, not the worker.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            shared
                .model(job.model)
                .and_then(|m| m.transcribe(&job.pcm, &opts))
        }))
        .unwrap_or_else(|_| Err(SttError::Inference("the engine panicked".into())));
        let stats = JobStats {
            model: job.model,
            audio_seconds: job.pcm.len() as f64 / f64::from(SAMPLE_RATE),
            compute_seconds: started.elapsed().as_secs_f64(),
            queued_seconds: started.duration_since(job.enqueued).as_secs_f64(),
        };
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        shared.record(&stats, result.is_ok());
        // The caller may have gone meanwhile; nobody is left to tell.
        let _ = job
            .reply
            .send(result.map(|t| (t, stats)).map_err(PoolError::from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked() {
        let dir = ModelsDir::new("/nonexistent");
        let mut config = PoolConfig::new(dir);
        assert_eq!(config.workers, 1);
        assert_eq!(config.queue_capacity, DEFAULT_QUEUE_CAPACITY);
        config.queue_capacity = 0;
        assert!(matches!(
            TranscriptionPool::new(config),
            Err(PoolError::Config(_))
        ));
    }

    #[test]
    fn retry_estimate_is_at_least_one_second() {
        let pool = TranscriptionPool::new(PoolConfig::new(ModelsDir::new("/nonexistent")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.retry_after_secs(), 1);
        assert!(pool.loaded_models().is_empty());
        assert_eq!(pool.stats(), PoolStats::default());
    }

    #[test]
    fn real_time_factor_of_silence_is_zero() {
        let s = JobStats {
            model: ModelId::TinyEn,
            audio_seconds: 0.0,
            compute_seconds: 1.0,
            queued_seconds: 0.0,
        };
        assert_eq!(s.real_time_factor(), 0.0);
    }
}
