//! One voice session: the user's audio in, the agent's audio out, turn by turn.
//!
//! ```text
//! Opus in ─► streaming STT (VAD + whisper, own thread) ─► turn-taking ─► Reply:
//!            Responses stream ─► synthesizer (own thread) ─► Opus clauses ─► Playout ─► Opus out
//! ```
//! The session task only routes: every stage that computes runs on a thread of its own or
//! in `spawn_blocking`, joined by bounded queues. Turn-taking (see [`Session::on_stt`]):
//! - a pause in the user's speech starts the reply at once (preemptive generation); if
//!   the user resumes, that reply is dropped, which cancels its upstream request;
//! - the turn is confirmed when the silence reaches `silence_timeout_ms`: the reply
//!   prepared during the pause plays if it answers the same words, else a new one starts;
//! - confirmed speech while the agent speaks (≥ [`BARGE_IN_SPEECH_MS`] of voice) stops
//!   the agent's audio before the next 20 ms frame, cancels its reply, and only what was
//!   played counts as the agent's turn.

pub mod events;
pub mod settings;

mod clock;
mod encode;
mod playout;
mod reply;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mka1_media::SileroVad;
use mka1_media::opus::packet_samples;
use mka1_stt::WhisperModel;
use mka1_stt::streaming::{
    self, AudioEncoding, AudioSender, ChannelCapacity, DecodeBudget, EncodedAudio, EventReceiver,
    StreamConfig, StreamEvent, StreamingTranscriber,
};
use mka1_token_service::SessionConfig;
use mka1_tts::PiperVoice;
use serde_json::{Value, json};
use tokio::time::sleep_until;

pub use events::{AgentEvent, AgentState, SessionObserver, TurnMetrics};
pub use settings::{BARGE_IN_SPEECH_MS, SessionSettings};

use crate::responses::{ResponsesClient, TurnRequest};
use crate::transport::MediaLink;
use clock::InputClock;
use playout::Playout;
use reply::{Reply, ReplyEvent};

/// Asked once when the user has said nothing for `initial_silence_timeout_ms`.
const STILL_THERE: &str = "Are you still there?";

/// What every session of a process shares: models are loaded once.
pub struct AgentResources {
    /// The recognizer's model.
    pub stt_model: Arc<WhisperModel>,
    /// Voice activity detection (each session gets its own state on it).
    pub vad: SileroVad,
    /// The agent's voice.
    pub voice: Arc<PiperVoice>,
    /// Where replies come from.
    pub responses: ResponsesClient,
    /// Told of every turn and barge-in (the server's metrics); `None` to tell no one.
    pub observer: Option<Arc<dyn SessionObserver>>,
    /// Whisper threads shared by every session's decodes: a decode alone gets them all,
    /// one beside others gets one. `None`: each decode uses
    /// [`SessionSettings::stt_threads`].
    pub stt_budget: Option<Arc<DecodeBudget>>,
}

impl std::fmt::Debug for AgentResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentResources")
            .field("stt_model", &self.stt_model.id())
            .finish_non_exhaustive()
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The recognizer could not start.
    #[error("streaming recognition could not start: {0}")]
    Stt(#[from] streaming::StreamError),
    /// The recognizer's input decoder could not start.
    #[error("the audio input decoder could not start: {0}")]
    Input(#[from] streaming::InputError),
}

/// Runs one session until the peer goes away (or stays silent through the initial
/// silence timeout twice).
pub async fn run_session(
    resources: Arc<AgentResources>,
    config: SessionConfig,
    settings: SessionSettings,
    link: MediaLink,
) -> Result<(), SessionError> {
    let language = settings.language.clone().or_else(|| {
        // An English-only model knows one language; a multilingual one detects it.
        (!resources.stt_model.id().is_multilingual()).then(|| "en".to_owned())
    });
    let mut stream_config = StreamConfig::default()
        .with_silence_ms(settings.silence_timeout_ms)
        .with_pause_ms(settings.effective_pause_ms())
        .with_min_speech_ms(BARGE_IN_SPEECH_MS)
        .with_transcribe(mka1_stt::TranscribeOptions {
            language,
            threads: Some(settings.stt_threads.max(1)),
            // The reply waits for the pause decode: its median counts most.
            tight_first: true,
            ..mka1_stt::TranscribeOptions::default()
        });
    if let Some(budget) = &resources.stt_budget {
        stream_config = stream_config.with_budget(Arc::clone(budget));
    }
    let transcriber = StreamingTranscriber::new(
        Arc::clone(&resources.stt_model),
        &resources.vad,
        stream_config,
    );
    let (stt_in, stt_events) = streaming::spawn(
        transcriber,
        EncodedAudio::new(AudioEncoding::Opus)?,
        ChannelCapacity::default(),
    )?;
    let MediaLink {
        audio_in,
        audio_out,
        data_in,
        data_out,
        closed,
    } = link;
    let mut session = Session {
        resources,
        config,
        settings,
        previous_response_id: None,
        carry: Vec::new(),
        reply: None,
        playout: Playout::default(),
        clock: InputClock::default(),
        state: AgentState::Listening,
        heard_user: false,
        prompted: false,
        prefill: None,
        started: Instant::now(),
        audio_out,
        data_out,
    };
    session.previous_response_id = session
        .config
        .llm
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    session.emit(AgentEvent::State {
        state: AgentState::Listening,
    });
    session
        .run(audio_in, data_in, stt_in, stt_events, closed)
        .await;
    Ok(())
}

/// The reply being prepared or played, and what its turn measured.
struct ActiveReply {
    reply: Reply,
    /// The user's turn is confirmed: its audio may play.
    committed: bool,
    /// Started during a pause, before the turn was confirmed.
    preemptive: bool,
    /// Input items it sent (carried context + the user's message).
    input: Vec<Value>,
    /// Clauses ready while the reply was not yet committed.
    held: Vec<(String, Vec<Bytes>)>,
    response_id: Option<String>,
    /// Every clause has been delivered.
    audio_done: bool,
    timing: TurnTiming,
}

/// Instants of one turn, for [`TurnMetrics`].
#[derive(Debug, Default, Clone, Copy)]
struct TurnTiming {
    /// The user's last voiced audio arrived.
    last_voiced: Option<Instant>,
    /// The silence window ran out there (the VAD's decision point).
    decision: Option<Instant>,
    /// The final transcript reached the session (turn confirmed).
    confirmed: Option<Instant>,
    first_text: Option<Instant>,
    first_audio: Option<Instant>,
}

struct Session {
    resources: Arc<AgentResources>,
    config: SessionConfig,
    settings: SessionSettings,
    /// The chain of the conversation upstream.
    previous_response_id: Option<String>,
    /// Context the next request must carry that the chain lacks (an unanswered user
    /// message, the part of a reply the user heard before cutting in).
    carry: Vec<Value>,
    reply: Option<ActiveReply>,
    playout: Playout,
    clock: InputClock,
    state: AgentState,
    /// The user has spoken (or typed) at least once.
    heard_user: bool,
    /// The "still there?" prompt was said.
    prompted: bool,
    /// The prefill of the turn being spoken, while in flight (one at a time).
    prefill: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
    audio_out: tokio::sync::mpsc::Sender<Bytes>,
    data_out: tokio::sync::mpsc::Sender<String>,
}

impl Session {
    async fn run(
        &mut self,
        mut audio_in: tokio::sync::mpsc::Receiver<Bytes>,
        mut data_in: tokio::sync::mpsc::Receiver<String>,
        stt_in: AudioSender<Vec<u8>>,
        mut stt_events: EventReceiver,
        closed: tokio_util::sync::CancellationToken,
    ) {
        let initial = Duration::from_millis(u64::from(self.settings.initial_silence_timeout_ms));
        let mut text_open = true;
        loop {
            let due = self
                .reply
                .as_ref()
                .filter(|r| r.committed)
                .and_then(|_| self.playout.due(Instant::now()));
            let silence_deadline = (!self.heard_user).then(|| {
                let after = if self.prompted { 2 * initial } else { initial };
                self.started + after
            });
            tokio::select! {
                biased;
                () = closed.cancelled() => break,
                // Pacing first: a due frame never waits behind other work.
                () = sleep_until_opt(due) => self.send_frame().await,
                packet = audio_in.recv() => {
                    let Some(packet) = packet else { break };
                    if let Ok(samples) = packet_samples(&packet) {
                        self.clock.record(samples, Instant::now());
                    }
                    if stt_in.send(packet.to_vec()).await.is_err() {
                        tracing::warn!("the recognizer stopped; ending the session");
                        break;
                    }
                }
                event = stt_events.recv() => match event {
                    Some(Ok(event)) => self.on_stt(event),
                    Some(Err(error)) => tracing::warn!(%error, "streaming recognition error"),
                    None => break,
                },
                event = next_reply_event(&mut self.reply) => self.on_reply(event),
                message = data_in.recv(), if text_open => match message {
                    Some(message) => self.on_message(&message),
                    // No more typed input (an audio-only peer); the call goes on.
                    None => text_open = false,
                },
                () = sleep_until_opt(silence_deadline) => {
                    if self.prompted {
                        tracing::info!("no speech from the user; ending the session");
                        break;
                    }
                    self.prompted = true;
                    self.say(STILL_THERE);
                }
            }
        }
        let _ = stt_in.finish();
        self.reply = None;
        self.stop_prefill();
    }

    /// A recognizer event: transcripts to the peer, and the turn-taking decisions.
    fn on_stt(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::SpeechStarted { .. } => {
                self.heard_user = true;
                // Confirmed speech while a confirmed reply is thinking or speaking: the
                // user is taking the floor.
                if self.reply.as_ref().is_some_and(|r| r.committed) {
                    self.barge_in();
                }
            }
            StreamEvent::Partial { text } => {
                self.prefill(&text);
                self.emit(AgentEvent::UserPartial { text });
            }
            StreamEvent::Pause { at_ms, text }
                if self.settings.preemptive
                    && !self.reply.as_ref().is_some_and(|r| r.committed) =>
            {
                let timing = TurnTiming {
                    last_voiced: self.clock.arrival_of(at_ms),
                    ..TurnTiming::default()
                };
                self.start_reply(text, false, timing);
            }
            // The pause was not the end: what was prepared for it is stale.
            StreamEvent::Resumed { .. } if self.reply.as_ref().is_some_and(|r| !r.committed) => {
                self.reply = None;
            }
            StreamEvent::Final { text, end_ms, .. } => {
                self.heard_user = true;
                self.emit(AgentEvent::UserFinal { text: text.clone() });
                let now = Instant::now();
                let silence = u64::from(self.settings.silence_timeout_ms);
                let last_voiced = self.clock.arrival_of(end_ms);
                let decision = self.clock.arrival_of(end_ms + silence);
                let prepared = self
                    .reply
                    .as_mut()
                    .filter(|r| !r.committed && r.reply.user_text == text);
                if let Some(active) = prepared {
                    active.timing.last_voiced = last_voiced.or(active.timing.last_voiced);
                    active.timing.decision = decision;
                    active.timing.confirmed = Some(now);
                    self.commit();
                } else {
                    let timing = TurnTiming {
                        last_voiced,
                        decision,
                        confirmed: Some(now),
                        ..TurnTiming::default()
                    };
                    self.start_reply(text, true, timing);
                }
            }
            // An utterance with no words (a noise) leaves nothing to answer.
            StreamEvent::SpeechStopped { .. }
                if self.reply.as_ref().is_some_and(|r| !r.committed) =>
            {
                self.reply = None;
            }
            _ => {}
        }
    }

    /// A message from the peer's data channel: `{"type":"text","text":...}` is a typed
    /// user turn; anything else is ignored (and logged).
    fn on_message(&mut self, message: &str) {
        let text = serde_json::from_str::<Value>(message).ok().and_then(|v| {
            (v["type"] == "text")
                .then(|| v["text"].as_str().map(str::trim).map(str::to_owned))
                .flatten()
        });
        match text {
            Some(text) if !text.is_empty() => {
                self.heard_user = true;
                if self.reply.as_ref().is_some_and(|r| r.committed) {
                    self.barge_in();
                }
                self.emit(AgentEvent::UserFinal { text: text.clone() });
                let timing = TurnTiming {
                    confirmed: Some(Instant::now()),
                    ..TurnTiming::default()
                };
                self.start_reply(text, true, timing);
            }
            _ => tracing::debug!(len = message.len(), "ignored data channel message"),
        }
    }

    /// The request that answers `text` now.
    fn turn_request(&self, text: String) -> TurnRequest {
        TurnRequest {
            llm: self.config.llm.clone(),
            context: self.carry.clone(),
            input: text,
            previous_response_id: self.previous_response_id.clone(),
            api_key: self.config.credentials.api_key.clone(),
            on_behalf_of: self.config.on_behalf_of.clone(),
        }
    }

    /// Has the provider evaluate the turn's prompt with the words heard so far, when it
    /// takes prefills (the local LLM) and the agent is only listening; skipped while the
    /// previous prefill is still in flight.
    fn prefill(&mut self, heard: &str) {
        let busy = self.prefill.as_ref().is_some_and(|p| !p.is_finished());
        if !self.resources.responses.prefills()
            || busy
            || self.reply.is_some()
            || heard.trim().is_empty()
        {
            return;
        }
        let client = self.resources.responses.clone();
        let request = self.turn_request(heard.to_owned());
        self.prefill = Some(tokio::spawn(async move {
            match client.prefill(&request).await {
                Ok(outcome) => tracing::debug!(?outcome, "prefilled"),
                Err(error) => tracing::debug!(%error, "prefill failed"),
            }
        }));
    }

    /// Abandons a prefill in flight: the turn's own request goes now.
    fn stop_prefill(&mut self) {
        if let Some(prefill) = self.prefill.take() {
            prefill.abort();
        }
    }

    /// Starts answering `text`; a reply not yet committed is replaced.
    fn start_reply(&mut self, text: String, committed: bool, timing: TurnTiming) {
        self.reply = None;
        self.stop_prefill();
        let mut input = self.carry.clone();
        input.push(json!({"role": "user", "content": text}));
        let request = self.turn_request(text.clone());
        let started = Reply::start(
            Some((&self.resources.responses, request)),
            None,
            text,
            Arc::clone(&self.resources.voice),
        );
        match started {
            Ok(reply) => {
                self.reply = Some(ActiveReply {
                    reply,
                    committed: false,
                    preemptive: !committed,
                    input,
                    held: Vec::new(),
                    response_id: None,
                    audio_done: false,
                    timing,
                });
                if committed {
                    self.commit();
                }
            }
            Err(error) => {
                tracing::error!(%error, "could not start the synthesizer");
                self.emit(AgentEvent::Error {
                    message: format!("could not start speaking: {error}"),
                });
            }
        }
    }

    /// Says a fixed text (no upstream request), as a turn of its own.
    fn say(&mut self, text: &str) {
        self.reply = None;
        match Reply::start(
            None,
            Some(text),
            String::new(),
            Arc::clone(&self.resources.voice),
        ) {
            Ok(reply) => {
                self.reply = Some(ActiveReply {
                    reply,
                    committed: false,
                    preemptive: false,
                    input: Vec::new(),
                    held: Vec::new(),
                    response_id: None,
                    audio_done: false,
                    timing: TurnTiming::default(),
                });
                self.commit();
            }
            Err(error) => tracing::error!(%error, "could not start the synthesizer"),
        }
    }

    /// The user's turn is confirmed: the reply may play.
    fn commit(&mut self) {
        let Some(active) = self.reply.as_mut() else {
            return;
        };
        active.committed = true;
        // Its input now answers for the carried context.
        self.carry.clear();
        for (text, packets) in active.held.drain(..) {
            self.playout.push_clause(text, packets);
        }
        self.set_state(AgentState::Thinking);
        self.finish_if_done();
    }

    fn on_reply(&mut self, event: Option<ReplyEvent>) {
        let Some(active) = self.reply.as_mut() else {
            return;
        };
        match event {
            Some(ReplyEvent::FirstText { at }) => active.timing.first_text = Some(at),
            Some(ReplyEvent::Clause { text, packets, at }) => {
                active.timing.first_audio.get_or_insert(at);
                if active.committed {
                    self.playout.push_clause(text, packets);
                } else {
                    active.held.push((text, packets));
                }
            }
            Some(ReplyEvent::Completed { response_id }) => active.response_id = Some(response_id),
            Some(ReplyEvent::Failed { message }) => {
                self.emit(AgentEvent::Error {
                    message: format!("the answer failed: {message}"),
                });
            }
            Some(ReplyEvent::AudioFailed { message }) => {
                active.audio_done = true;
                self.emit(AgentEvent::Error {
                    message: format!("speech synthesis failed: {message}"),
                });
            }
            Some(ReplyEvent::Done) | None => active.audio_done = true,
        }
        self.finish_if_done();
    }

    /// Sends the frame that is due.
    async fn send_frame(&mut self) {
        let Some(out) = self.playout.pop(Instant::now()) else {
            return;
        };
        if self.audio_out.send(out.packet).await.is_err() {
            return;
        }
        if out.first_of_reply {
            self.set_state(AgentState::Speaking);
            self.report_metrics();
        }
        if let Some(text) = out.starts_clause {
            self.emit(AgentEvent::AgentText { text });
        }
        self.finish_if_done();
    }

    /// A committed reply whose audio is all delivered and sent ends the agent's turn.
    fn finish_if_done(&mut self) {
        let done = self
            .reply
            .as_ref()
            .is_some_and(|r| r.committed && r.audio_done && r.held.is_empty());
        if !done || self.playout.has_audio() {
            return;
        }
        let played = self.playout.clear();
        if let Some(active) = self.reply.take() {
            if let Some(id) = active.response_id {
                self.previous_response_id = Some(id);
            } else if !active.input.is_empty() {
                // The answer never completed upstream: keep the question (and what was
                // said of the answer) for the next request.
                self.carry = active.input;
                if !played.is_empty() {
                    self.carry
                        .push(json!({"role": "assistant", "content": played.clone()}));
                }
            }
        }
        if !played.is_empty() {
            self.emit(AgentEvent::AgentTurn {
                text: played,
                interrupted: false,
            });
        }
        self.set_state(AgentState::Listening);
    }

    /// The user cut in: stop the audio now, cancel the reply, keep what was heard.
    fn barge_in(&mut self) {
        let played = self.playout.clear();
        let Some(active) = self.reply.take() else {
            return;
        };
        tracing::debug!(heard = %played, "barge-in");
        if let Some(observer) = &self.resources.observer {
            observer.barge_in();
        }
        match active.response_id {
            // The whole answer is in the chain upstream; tell the model what was heard.
            Some(id) => {
                self.previous_response_id = Some(id);
                self.carry.push(json!({
                    "role": "developer",
                    "content": format!(
                        "The user interrupted your last answer; they heard only: \"{played}\""
                    ),
                }));
            }
            // The answer never completed upstream: the chain lacks the question, so carry
            // it, with the part of the answer that was heard.
            None => {
                self.carry = active.input;
                if !played.is_empty() {
                    self.carry
                        .push(json!({"role": "assistant", "content": played.clone()}));
                }
            }
        }
        // Cut off before a word was played: the agent had no turn.
        if !played.is_empty() {
            self.emit(AgentEvent::AgentTurn {
                text: played,
                interrupted: true,
            });
        }
        self.set_state(AgentState::Listening);
    }

    fn report_metrics(&mut self) {
        let Some(active) = self.reply.as_ref() else {
            return;
        };
        let now = Instant::now();
        let t = active.timing;
        let ms = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_secs_f64() * 1e3),
            _ => None,
        };
        let end_to_end = ms(t.last_voiced, Some(now));
        let silence = self.settings.silence_timeout_ms;
        let metrics = TurnMetrics {
            silence_timeout_ms: silence,
            end_of_utterance_ms: ms(t.last_voiced, t.confirmed),
            stt_final_ms: ms(t.decision, t.confirmed),
            llm_first_token_ms: ms(Some(active.reply.requested_at), t.first_text),
            tts_first_audio_ms: ms(t.first_text, t.first_audio),
            end_to_end_ms: end_to_end,
            response_overhead_ms: end_to_end.map(|e| e - f64::from(silence)),
            preemptive: active.preemptive,
        };
        tracing::info!(?metrics, "turn");
        if let Some(observer) = &self.resources.observer {
            observer.turn_answered(&metrics);
        }
        self.emit(AgentEvent::TurnMetrics(metrics));
    }

    fn set_state(&mut self, state: AgentState) {
        if self.state != state {
            self.state = state;
            self.emit(AgentEvent::State { state });
        }
    }

    /// Sends an event to the peer; a peer that does not keep up loses events, never audio.
    fn emit(&self, event: AgentEvent) {
        if self.data_out.try_send(event.to_json()).is_err() {
            tracing::debug!("event dropped: the peer's event queue is full");
        }
    }
}

async fn next_reply_event(reply: &mut Option<ActiveReply>) -> Option<ReplyEvent> {
    match reply {
        // Stop reading a finished reply; its state is settled by `finish_if_done`.
        Some(active) if !active.audio_done => active.reply.next().await,
        _ => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
