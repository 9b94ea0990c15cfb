//! The model and the one thread that runs it.
//!
//! llama.cpp inference is CPU-bound and long (hundreds of ms per answer), so it never runs
//! on the async runtime: one dedicated thread owns the model and its context and serves
//! jobs one at a time from a small bounded queue. A full queue is reported at once
//! ([`ApiError::Busy`], a 429) instead of letting callers pile up. Each job streams its
//! events back over a channel; when the receiver is gone (the HTTP client disconnected)
//! the thread notices before the next token and stops.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self as std_mpsc, Receiver, SyncSender, TrySendError};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use crate::chat::{ChatMessage, Role};
use crate::error::ApiError;
use crate::utf8::Utf8Stream;

/// Context length in tokens: a voice conversation of a few dozen short turns, at a KV
/// cache of a few tens of MB for SmolLM2-135M.
pub const DEFAULT_N_CTX: u32 = 2048;
/// Requests that may wait while one generates; more are refused with a 429.
pub const QUEUE_DEPTH: usize = 4;
/// Prompt tokens decoded per llama.cpp batch.
const N_BATCH: u32 = 512;
/// Output tokens kept free when deciding how much old history fits: a spoken answer
/// rarely needs more, and a large `max_output_tokens` must not erase the conversation.
const MAX_OUTPUT_RESERVE: u32 = 512;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// CPU threads for llama.cpp.
    pub threads: usize,
    /// Context length in tokens.
    pub n_ctx: u32,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The GGUF is not provisioned.
    #[error("model file {0} not found: run `mka1-voice models install` first")]
    MissingModel(PathBuf),
    /// llama.cpp refused to initialise, load the model or make a context.
    #[error("llama.cpp: {0}")]
    Llama(String),
    /// The model lacks the ChatML markers the prompt is built from.
    #[error("the model's vocabulary has no ChatML markers ({0} is not one token)")]
    NotChatMl(&'static str),
    /// The generation thread could not start or died while loading.
    #[error("generation thread: {0}")]
    Thread(String),
}

/// One generation, as the engine receives it.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    /// The system turn first, then the conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Upper bound on generated tokens.
    pub max_output_tokens: u32,
    /// Sampling temperature (0 or less: greedy).
    pub temperature: f32,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// OpenAI's `frequency_penalty` (0: off).
    pub frequency_penalty: f32,
    /// OpenAI's `presence_penalty` (0: off).
    pub presence_penalty: f32,
    /// Seed of the sampler's random draw.
    pub seed: u32,
    /// What to do with the prompt.
    pub task: Task,
}

/// What a job asks of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Answer: evaluate the prompt and generate.
    Generate,
    /// Only evaluate the prompt up to the end of its last user message's text, leaving it
    /// open, so that a later request that goes on from there finds it cached. The voice
    /// agent sends the words of a turn still being spoken: the final request then
    /// evaluates only what the user said after them and the turn's closing markers.
    Prefill,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn.
    Stop,
    /// `max_output_tokens` (or the context) ran out first.
    Length,
}

/// What a job reports, in order: `Started`, any number of `Delta`, then `Finished`; or
/// `Failed` at any point.
#[derive(Debug)]
pub enum Event {
    /// The prompt is built and generation begins.
    Started {
        /// Prompt tokens.
        prompt_tokens: usize,
        /// Of those, tokens whose KV state was reused from the previous generation.
        cached_tokens: usize,
        /// Oldest turns left out to fit the context.
        dropped_turns: usize,
    },
    /// Newly decoded text (whole characters only).
    Delta(String),
    /// Generation ended.
    Finished {
        /// Generated tokens.
        output_tokens: usize,
        /// Why.
        reason: FinishReason,
    },
    /// The job failed; nothing more follows.
    Failed(ApiError),
    /// A prefill was not run because a generation was waiting (an answer never waits
    /// behind a prefill); nothing more follows.
    Skipped,
}

/// Counters over the engine's life, reported by `/healthz`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Jobs that ended because the model finished its turn.
    pub completed: AtomicU64,
    /// Jobs that hit their token budget.
    pub incomplete: AtomicU64,
    /// Jobs abandoned because their client went away (before or during generation).
    pub cancelled: AtomicU64,
    /// Jobs that failed.
    pub failed: AtomicU64,
    /// Jobs admitted and not yet started (at most [`QUEUE_DEPTH`]).
    pub queued: AtomicU64,
    /// Prefills run ([`Task::Prefill`]).
    pub prefilled: AtomicU64,
    /// Prefills skipped because a generation was waiting.
    pub prefills_skipped: AtomicU64,
}

struct Job {
    request: GenerationRequest,
    events: mpsc::Sender<Event>,
}

/// Handle to the generation thread. Dropping every handle stops the thread.
#[derive(Debug, Clone)]
pub struct Engine {
    jobs: SyncSender<Job>,
    stats: Arc<Stats>,
    n_ctx: u32,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Engine {
    /// Loads the model on a new thread and returns once it is ready (blocking: call it
    /// before the runtime starts or from `spawn_blocking`).
    pub fn start(config: EngineConfig) -> Result<Self, EngineError> {
        if !config.model_path.is_file() {
            return Err(EngineError::MissingModel(config.model_path));
        }
        let (jobs, queue) = std_mpsc::sync_channel::<Job>(QUEUE_DEPTH);
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), EngineError>>();
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let n_ctx = config.n_ctx;
        std::thread::Builder::new()
            .name("llm-generate".into())
            .spawn(move || run_thread(&config, &queue, &thread_stats, &ready_tx))
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self { jobs, stats, n_ctx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(EngineError::Thread("exited while loading the model".into())),
        }
    }

    /// Queues a generation. Its events arrive on the returned receiver; dropping the
    /// receiver cancels it.
    pub fn submit(&self, request: GenerationRequest) -> Result<mpsc::Receiver<Event>, ApiError> {
        if request.task == Task::Prefill && self.stats.queued.load(Ordering::SeqCst) > 0 {
            // A prefill must never hold up an answer, nor take a queue slot from one.
            self.stats.prefills_skipped.fetch_add(1, Ordering::Relaxed);
            let (events, receiver) = mpsc::channel(1);
            let _ = events.try_send(Event::Skipped);
            return Ok(receiver);
        }
        // Room for every event a job can send (one delta per token at most), so the
        // generation thread never waits on a slow reader.
        let capacity = usize::try_from(self.n_ctx).unwrap_or(usize::MAX / 2) + 8;
        let (events, receiver) = mpsc::channel(capacity);
        // Counted before the send: the thread may take the job (and count it out) at once.
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        let sent = self.jobs.try_send(Job { request, events });
        if sent.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::SeqCst);
        }
        match sent {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_)) => Err(ApiError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(ApiError::Internal(
                "the generation thread has stopped".into(),
            )),
        }
    }

    /// Lifetime counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Context length in tokens.
    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }
}

fn llama_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Llama(e.to_string())
}

/// The thread body: load, report readiness, then serve jobs until every handle is gone.
fn run_thread(
    config: &EngineConfig,
    queue: &Receiver<Job>,
    stats: &Stats,
    ready: &std_mpsc::Sender<Result<(), EngineError>>,
) {
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
    let loaded = LlamaBackend::init().map_err(llama_err).and_then(|backend| {
        let model =
            LlamaModel::load_from_file(&backend, &config.model_path, &LlamaModelParams::default())
                .map_err(llama_err)?;
        Ok((backend, model))
    });
    let (backend, model) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(config.n_ctx))
        .with_n_batch(N_BATCH)
        .with_n_ubatch(N_BATCH)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let worker = model
        .new_context(&backend, params)
        .map_err(llama_err)
        .and_then(|ctx| Worker::new(&model, ctx, config.n_ctx));
    let mut worker = match worker {
        Ok(worker) => worker,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    tracing::info!(
        model = %config.model_path.display(),
        threads,
        n_ctx = config.n_ctx,
        "model loaded"
    );
    let _ = ready.send(Ok(()));
    while let Ok(job) = queue.recv() {
        stats.queued.fetch_sub(1, Ordering::SeqCst);
        worker.run(job, stats);
    }
}

/// The ChatML markers, tokenized once.
struct ChatMarkers {
    im_start: LlamaToken,
    /// `<|im_end|>\n`
    im_end_nl: Vec<LlamaToken>,
}

/// A prompt, as built for one request.
struct Prompt {
    tokens: Vec<LlamaToken>,
    /// Oldest turns left out to fit the context.
    dropped_turns: usize,
    /// Where the last message's text ends (before its closing markers and the
    /// assistant's opening): how far a [`Task::Prefill`] evaluates.
    open_end: usize,
}

/// What one generation ended with.
enum Outcome {
    /// Counted and reported.
    Finished,
    Cancelled,
}

struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    markers: ChatMarkers,
    /// Tokens whose KV state is in the context (sequence 0), so that the next prompt
    /// only decodes what differs: a chained turn repeats the whole conversation before it.
    cached: Vec<LlamaToken>,
    n_ctx: usize,
}

impl<'m> Worker<'m> {
    fn new(model: &'m LlamaModel, ctx: LlamaContext<'m>, n_ctx: u32) -> Result<Self, EngineError> {
        let vocab = model.vocab();
        let single = |text: &'static str| -> Result<LlamaToken, EngineError> {
            match vocab.tokenize(text.as_bytes(), false, true).as_slice() {
                [token] => Ok(*token),
                _ => Err(EngineError::NotChatMl(text)),
            }
        };
        let im_start = single("<|im_start|>")?;
        let im_end = single("<|im_end|>")?;
        let mut im_end_nl = vec![im_end];
        im_end_nl.extend(vocab.tokenize(b"\n", false, false));
        // The prompt is built as ChatML token by token rather than through the GGUF's
        // template string, so that text from the network is tokenized with special
        // tokens disabled and cannot forge a turn. Say so if the model's own template
        // is something else.
        match model.chat_template(None).map(|t| t.to_string()) {
            Ok(Ok(t)) if t.contains("<|im_start|>") => {}
            _ => tracing::warn!("the model's chat template is not ChatML; using ChatML anyway"),
        }
        Ok(Self {
            model,
            ctx,
            batch: LlamaBatch::new(N_BATCH as usize, 1),
            markers: ChatMarkers {
                im_start,
                im_end_nl,
            },
            cached: Vec::new(),
            n_ctx: n_ctx as usize,
        })
    }

    fn run(&mut self, job: Job, stats: &Stats) {
        // Skip jobs whose client left while they waited in the queue.
        if job.events.is_closed() {
            stats.cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let outcome = match job.request.task {
            Task::Generate => self.generate(&job, stats),
            // An answer arrived while this prefill waited: it goes first.
            Task::Prefill if stats.queued.load(Ordering::SeqCst) > 0 => {
                stats.prefills_skipped.fetch_add(1, Ordering::Relaxed);
                let _ = job.events.try_send(Event::Skipped);
                return;
            }
            Task::Prefill => self.prefill(&job, stats),
        };
        match outcome {
            Ok(Outcome::Finished) => {}
            Ok(Outcome::Cancelled) => {
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("generation cancelled: the client went away");
            }
            Err(e) => {
                if matches!(e, ApiError::Internal(_)) {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    // The KV cache may be half-written: start the next job from scratch.
                    self.ctx.clear_kv_cache();
                    self.cached.clear();
                }
                let _ = job.events.try_send(Event::Failed(e));
            }
        }
    }

    /// Tokens of one ChatML turn: `<|im_start|>role\ncontent<|im_end|>\n`.
    fn turn_tokens(&self, message: &ChatMessage) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let mut tokens = vec![self.markers.im_start];
        tokens.extend(vocab.tokenize(
            format!("{}\n", message.role.as_str()).as_bytes(),
            false,
            false,
        ));
        tokens.extend(vocab.tokenize(message.content.as_bytes(), false, false));
        tokens.extend_from_slice(&self.markers.im_end_nl);
        tokens
    }

    /// The prompt's tokens, leaving out the oldest turns (after the system turn) that do
    /// not fit beside the output reserve.
    fn prompt(&self, request: &GenerationRequest) -> Result<Prompt, ApiError> {
        let vocab = self.model.vocab();
        let mut head = Vec::new();
        if vocab.should_add_bos() {
            head.push(vocab.bos());
        }
        let (system, turns) = match request.messages.split_first() {
            Some((first, rest)) if first.role == Role::System => (Some(first), rest),
            _ => (None, request.messages.as_slice()),
        };
        if let Some(system) = system {
            head.extend(self.turn_tokens(system));
        }
        let mut tail = vec![self.markers.im_start];
        tail.extend(vocab.tokenize(b"assistant\n", false, false));
        let turns: Vec<Vec<LlamaToken>> = turns.iter().map(|m| self.turn_tokens(m)).collect();

        let reserve = request.max_output_tokens.min(MAX_OUTPUT_RESERVE) as usize;
        let fixed = head.len() + tail.len();
        let mut total = fixed + turns.iter().map(Vec::len).sum::<usize>();
        let mut first = 0;
        // Keep at least the newest turn; drop from the oldest.
        while total + reserve > self.n_ctx && first + 1 < turns.len() {
            total -= turns.get(first).map_or(0, Vec::len);
            first += 1;
        }
        if total >= self.n_ctx {
            return Err(ApiError::ContextLengthExceeded {
                prompt_tokens: total,
                limit: self.n_ctx - 1,
            });
        }
        let mut prompt = head;
        for turn in turns.iter().skip(first) {
            prompt.extend_from_slice(turn);
        }
        // A user message is left open before its `<|im_end|>\n`; anything else before the
        // assistant's opening.
        let closing = match request.messages.last() {
            Some(last) if last.role == Role::User => self.markers.im_end_nl.len(),
            _ => 0,
        };
        let open_end = prompt.len() - closing;
        prompt.extend(tail);
        Ok(Prompt {
            tokens: prompt,
            dropped_turns: first,
            open_end,
        })
    }

    fn generate(&mut self, job: &Job, stats: &Stats) -> Result<Outcome, ApiError> {
        let request = &job.request;
        let t0 = Instant::now();
        let Prompt {
            tokens: prompt,
            dropped_turns,
            ..
        } = self.prompt(request)?;
        let budget = (request.max_output_tokens as usize).min(self.n_ctx - prompt.len());
        let reused = self.reuse_prefix(&prompt)?;
        let started = Event::Started {
            prompt_tokens: prompt.len(),
            cached_tokens: reused,
            dropped_turns,
        };
        if job.events.try_send(started).is_err() {
            return Ok(Outcome::Cancelled);
        }
        let mut logits_at = self.decode_prompt(prompt.get(reused..).unwrap_or_default(), true)?;

        let mut sampler = sampler(request, self.model.n_vocab());
        let vocab = self.model.vocab();
        let mut utf8 = Utf8Stream::default();
        let mut produced = 0;
        let reason = loop {
            if job.events.is_closed() {
                return Ok(Outcome::Cancelled);
            }
            let token = sampler.sample(&self.ctx, logits_at);
            // Control tokens (`<|im_start|>`, `<|im_end|>`, EOS) end the turn: they are
            // never spoken text.
            if vocab.is_eog(token) || vocab.is_control(token) {
                break FinishReason::Stop;
            }
            produced += 1;
            if produced == 1 {
                tracing::debug!(ms = t0.elapsed().as_millis() as u64, "first token");
            }
            let text = utf8.push(&vocab.token_to_piece(token, false, None));
            if !text.is_empty() && job.events.try_send(Event::Delta(text)).is_err() {
                return Ok(Outcome::Cancelled);
            }
            if produced >= budget {
                break FinishReason::Length;
            }
            logits_at = self.decode(std::slice::from_ref(&token), true)?;
        };
        let rest = utf8.finish();
        if !rest.is_empty() && job.events.try_send(Event::Delta(rest)).is_err() {
            return Ok(Outcome::Cancelled);
        }
        tracing::debug!(
            prompt_tokens = prompt.len(),
            reused,
            produced,
            ms = t0.elapsed().as_millis() as u64,
            "generation finished"
        );
        // Counted before the client hears of it, so that what it reads from `/healthz`
        // afterwards includes this job.
        match reason {
            FinishReason::Stop => stats.completed.fetch_add(1, Ordering::Relaxed),
            FinishReason::Length => stats.incomplete.fetch_add(1, Ordering::Relaxed),
        };
        let finished = Event::Finished {
            output_tokens: produced,
            reason,
        };
        let _ = job.events.try_send(finished);
        // Nobody waits (the queue is empty), and the caller is busy with the answer.
        if reason == FinishReason::Stop && stats.queued.load(Ordering::SeqCst) == 0 {
            self.open_next_user_turn();
        }
        Ok(Outcome::Finished)
    }

    /// Evaluates the prompt up to its open end ([`Task::Prefill`]) and reports it as
    /// `Started` then `Finished` with no output.
    fn prefill(&mut self, job: &Job, stats: &Stats) -> Result<Outcome, ApiError> {
        let t0 = Instant::now();
        let prompt = self.prompt(&job.request)?;
        let open = prompt.tokens.get(..prompt.open_end).unwrap_or_default();
        let common = self
            .cached
            .iter()
            .zip(open)
            .take_while(|(a, b)| a == b)
            .count();
        // Already cached (the same words again): keep whatever follows them too.
        let reused = if common == open.len() {
            common
        } else {
            let reused = self.reuse_prefix(open)?;
            self.decode_prompt(open.get(reused..).unwrap_or_default(), false)?;
            reused
        };
        stats.prefilled.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            prompt_tokens = open.len(),
            reused,
            ms = t0.elapsed().as_millis() as u64,
            "prefilled"
        );
        let _ = job.events.try_send(Event::Started {
            prompt_tokens: open.len(),
            cached_tokens: reused,
            dropped_turns: prompt.dropped_turns,
        });
        let _ = job.events.try_send(Event::Finished {
            output_tokens: 0,
            reason: FinishReason::Stop,
        });
        Ok(Outcome::Finished)
    }

    /// After an answer the model ended by itself, a chained conversation's next prompt
    /// goes on with that answer's end and a user turn's opening, `<|im_end|>\n<|im_start|>
    /// user\n`. Decoded now, while the caller is still speaking the answer, they are
    /// cached, and the next request's own evaluation starts after them: 5 of the ~20
    /// tokens a spoken turn adds, ~50 ms of its first token on one thread here
    /// (BENCHMARKS.md, "Where the local LLM's first token goes"). A request that does not
    /// continue the conversation just finds a shorter common prefix.
    fn open_next_user_turn(&mut self) {
        let mut tokens = self.markers.im_end_nl.clone();
        tokens.push(self.markers.im_start);
        tokens.extend(self.model.vocab().tokenize(b"user\n", false, false));
        if self.cached.len() + tokens.len() >= self.n_ctx {
            return;
        }
        if let Err(e) = self.decode(&tokens, false) {
            tracing::debug!("decoding the next turn's opening failed: {e}");
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
    }

    /// Keeps the KV state of the longest prefix `prompt` shares with what is cached, and
    /// returns its length. At least one token is always left to decode, because the
    /// logits of the prompt's last token are needed.
    fn reuse_prefix(&mut self, prompt: &[LlamaToken]) -> Result<usize, ApiError> {
        let common = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len().saturating_sub(1));
        let kept = u32::try_from(common).map_err(|e| ApiError::Internal(e.to_string()))?;
        let removed = self
            .ctx
            .clear_kv_cache_seq(Some(0), Some(kept), None)
            .map_err(|e| ApiError::Internal(format!("KV cache: {e}")))?;
        if !removed {
            // llama.cpp could not cut this cache in the middle: start over.
            self.ctx.clear_kv_cache();
            self.cached.clear();
            return Ok(0);
        }
        self.cached.truncate(common);
        Ok(common)
    }

    /// Decodes prompt tokens in batches; returns the batch index of the last token's
    /// logits (computed only when `logits`).
    fn decode_prompt(&mut self, tokens: &[LlamaToken], logits: bool) -> Result<i32, ApiError> {
        let mut logits_at = 0;
        let chunks = tokens.chunks(N_BATCH as usize);
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in tokens.chunks(N_BATCH as usize).enumerate() {
            logits_at = self.decode(chunk, logits && i == last)?;
        }
        Ok(logits_at)
    }

    /// Appends tokens after the cached ones (logits only for the last one when asked).
    fn decode(&mut self, tokens: &[LlamaToken], logits: bool) -> Result<i32, ApiError> {
        let internal = |e: &dyn std::fmt::Display| ApiError::Internal(format!("decode: {e}"));
        self.batch.clear();
        let start = self.cached.len();
        for (i, token) in tokens.iter().enumerate() {
            let pos = i32::try_from(start + i).map_err(|e| internal(&e))?;
            let want = logits && i + 1 == tokens.len();
            self.batch
                .add(*token, pos, &[0], want)
                .map_err(|e| internal(&e))?;
        }
        self.ctx.decode(&mut self.batch).map_err(|e| internal(&e))?;
        self.cached.extend_from_slice(tokens);
        Ok(self.batch.n_tokens() - 1)
    }
}

/// The sampler chain for a request: greedy at temperature 0, else penalties → top-p →
/// temperature → random draw.
fn sampler(request: &GenerationRequest, n_vocab: i32) -> LlamaSampler {
    let mut chain = Vec::new();
    if request.frequency_penalty != 0.0 || request.presence_penalty != 0.0 {
        chain.push(LlamaSampler::penalties(
            n_vocab,
            64,
            1.0,
            request.frequency_penalty,
            request.presence_penalty,
        ));
    }
    if request.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.push(LlamaSampler::top_p(request.top_p, 1));
        chain.push(LlamaSampler::temp(request.temperature));
        chain.push(LlamaSampler::dist(request.seed));
    }
    LlamaSampler::chain_simple(chain)
}
