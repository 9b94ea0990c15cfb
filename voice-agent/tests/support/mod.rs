//! What the session tests share: the real models, a TEST DOUBLE of the Responses API
//! (deterministic answers, faithful SSE event shapes), and a simulated caller that talks
//! into a session at real-time pace and listens to what comes back.
#![allow(clippy::unwrap_used, clippy::type_complexity, dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use mka1_http_api::SecretString;
use mka1_media::opus::FRAME_SAMPLES;
use mka1_media::{OpusDecoder, OpusEncoder, SileroVad, resample};
use mka1_models::ModelsDir;
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};
use mka1_token_service::{ResponsesCredentials, SessionConfig, SttSettings};
use mka1_tts::{JOE, PiperVoice};
use mka1_voice_agent::session::{AgentResources, SessionObserver, TurnMetrics};
use mka1_voice_agent::transport::{MediaLink, TransportEnd};
use mka1_voice_agent::{ResponsesClient, ResponsesTimeouts};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Models, loaded once per test binary.
pub struct Models {
    /// The agent's speech recognition (tiny.en, as `serve` runs it).
    pub whisper: Arc<WhisperModel>,
    pub vad: SileroVad,
    pub voice: Arc<PiperVoice>,
}

pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = ModelsDir::from_env().unwrap();
        Models {
            whisper: Arc::new(
                WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(&dir)).unwrap(),
            ),
            vad: SileroVad::from_env().unwrap(),
            voice: Arc::new(PiperVoice::from_env(&JOE).unwrap()),
        }
    })
}

/// What the sessions told their observer (the server feeds its `/metrics` from it).
#[derive(Debug, Default)]
pub struct Observed {
    pub turns: Mutex<Vec<TurnMetrics>>,
    pub barge_ins: std::sync::atomic::AtomicUsize,
}

impl SessionObserver for Observed {
    fn turn_answered(&self, metrics: &TurnMetrics) {
        self.turns.lock().unwrap().push(*metrics);
    }

    fn barge_in(&self) {
        self.barge_ins
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The agent's shared resources, answering from `responses_base`.
pub fn resources(responses_base: &str) -> Arc<AgentResources> {
    observed_resources(responses_base).0
}

/// [`resources`], with an observer that records what it is told.
pub fn observed_resources(responses_base: &str) -> (Arc<AgentResources>, Arc<Observed>) {
    resources_with(responses_base, None)
}

/// [`observed_resources`], with the sessions' decodes sharing `stt_budget` (`None`: each
/// uses its `stt_threads`).
pub fn resources_with(
    responses_base: &str,
    stt_budget: Option<Arc<mka1_stt::streaming::DecodeBudget>>,
) -> (Arc<AgentResources>, Arc<Observed>) {
    let observed = Arc::new(Observed::default());
    let m = models();
    let resources = Arc::new(AgentResources {
        stt_model: Arc::clone(&m.whisper),
        vad: m.vad.clone(),
        voice: Arc::clone(&m.voice),
        responses: ResponsesClient::new(
            responses_base,
            ResponsesTimeouts {
                connect: Duration::from_secs(5),
                first_event: Duration::from_secs(5),
                idle: Duration::from_secs(5),
            },
        )
        .unwrap(),
        observer: Some(Arc::clone(&observed) as Arc<dyn SessionObserver>),
        stt_budget,
    });
    (resources, observed)
}

/// A session configuration as the token service would seal it.
pub fn session_config(silence_timeout_ms: u32) -> SessionConfig {
    let mut llm = serde_json::Map::new();
    llm.insert("model".into(), json!("double-model"));
    llm.insert("instructions".into(), json!("Answer briefly."));
    SessionConfig {
        llm,
        stt: Some(SttSettings {
            silence_timeout_ms: Some(silence_timeout_ms),
            initial_silence_timeout_ms: Some(30_000),
        }),
        language: None,
        on_behalf_of: Some("user-42".into()),
        credentials: ResponsesCredentials {
            api_key: SecretString::new("caller-key"),
        },
        room: "room-1".into(),
        issued_at: 0,
    }
}

/// The user's words in a request's `input`: the string itself, or the last user message.
pub fn user_text(input: &Value) -> String {
    match input {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|i| i["role"] == "user")
            .and_then(|i| i["content"].as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// How the double answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Streams this text in word-sized deltas, `gap` apart, then completes.
    Text { text: String, gap: Duration },
    /// Streams this text, then the connection is cut without `response.completed`.
    CutAfter { text: String },
    /// HTTP 500 with an OpenAI-style JSON error.
    ServerError,
}

impl Answer {
    pub fn text(text: &str) -> Self {
        Self::Text {
            text: text.into(),
            gap: Duration::from_millis(5),
        }
    }
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    pub headers: HeaderMap,
    /// Set when the client went away before the stream ended (the request was cancelled).
    pub cancelled: Arc<std::sync::atomic::AtomicBool>,
}

/// TEST DOUBLE of the Responses API (`POST /responses`): answers from a script of rules
/// `(keyword, answers)`: the first rule whose keyword is in the last user message (any
/// case; `""` matches all) gives its next answer (its last one repeats). Response ids are
/// `resp_1`, `resp_2`, ... in request order.
#[derive(Clone, Default)]
pub struct ResponsesDouble {
    script: Arc<Mutex<Vec<(&'static str, Vec<Answer>)>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ResponsesDouble {
    pub fn new(script: Vec<(&'static str, Vec<Answer>)>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script)),
            seen: Arc::default(),
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Serves on 127.0.0.1 and returns the base URL (`.../v1`).
    pub async fn serve(&self) -> String {
        let app = Router::new()
            .route("/v1/responses", post(respond))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v1")
    }
}

/// Marks its request cancelled when the body stream is dropped before its end.
struct CancelGuard {
    flag: Arc<std::sync::atomic::AtomicBool>,
    finished: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

async fn respond(
    State(double): State<ResponsesDouble>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let number = {
        let mut seen = double.seen.lock().unwrap();
        seen.push(Seen {
            body: body.clone(),
            headers,
            cancelled: Arc::clone(&cancelled),
        });
        seen.len()
    };
    let said = user_text(&body["input"]).to_lowercase();
    let answer = {
        let mut script = double.script.lock().unwrap();
        script
            .iter_mut()
            .find(|(keyword, _)| said.contains(keyword))
            .and_then(|(_, answers)| {
                if answers.len() > 1 {
                    Some(answers.remove(0))
                } else {
                    answers.first().cloned()
                }
            })
            .unwrap_or_else(|| Answer::text("Okay."))
    };
    let id = format!("resp_{number}");
    let (text, gap, complete) = match answer {
        Answer::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": {"message": "the double failed on purpose", "type": "server_error"}})),
            )
                .into_response();
        }
        Answer::Text { text, gap } => (text, gap, true),
        Answer::CutAfter { text } => (text, Duration::from_millis(5), false),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut guard = CancelGuard {
            flag: cancelled,
            finished: false,
        };
        let mut seq = 0;
        let mut event = |kind: &str, mut data: Value| {
            data["type"] = json!(kind);
            data["sequence_number"] = json!(seq);
            seq += 1;
            Ok(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")))
        };
        let response =
            json!({"id": id, "object": "response", "status": "in_progress", "output": []});
        if tx
            .send(event("response.created", json!({"response": response})))
            .await
            .is_err()
        {
            return;
        }
        let item = format!("msg_{id}");
        let _ = tx
            .send(event(
                "response.output_item.added",
                json!({"output_index": 0, "item": {"id": item, "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
            ))
            .await;
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        for word in words {
            tokio::time::sleep(gap).await;
            let delta =
                json!({"item_id": item, "output_index": 0, "content_index": 0, "delta": word});
            if tx
                .send(event("response.output_text.delta", delta))
                .await
                .is_err()
            {
                return;
            }
        }
        if !complete {
            guard.finished = true;
            return;
        }
        let _ = tx
            .send(event(
                "response.output_text.done",
                json!({"item_id": item, "output_index": 0, "content_index": 0, "text": text}),
            ))
            .await;
        let done = json!({"id": id, "object": "response", "status": "completed", "output": [
            {"id": item, "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": text, "annotations": []}]}]});
        if tx
            .send(event("response.completed", json!({"response": done})))
            .await
            .is_ok()
        {
            guard.finished = true;
        }
        // Wait for the client to close before dropping (a cancelled request is seen by
        // the send failing above).
        tx.closed().await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// The agent's voice saying `text`, at 48 kHz.
pub fn speech_48k(text: &str) -> Vec<f32> {
    let audio = models().voice.synthesize(text).unwrap();
    resample(&audio, mka1_tts::SAMPLE_RATE, 48_000).unwrap()
}

/// `audio` without its leading and trailing silence, so its last sample is its last voiced
/// one.
pub fn voiced(audio: &[f32]) -> Vec<f32> {
    let start = audio.iter().position(|s| s.abs() > 0.02).unwrap_or(0);
    let end = audio
        .iter()
        .rposition(|s| s.abs() > 0.02)
        .map_or(0, |i| i + 1);
    audio[start.min(end)..end].to_vec()
}

/// What the simulated caller heard and saw.
#[derive(Debug, Default)]
pub struct Heard {
    /// Received Opus packets, decoded (48 kHz), with their arrival.
    pub audio: Vec<(Instant, Vec<f32>)>,
    /// Events from the session, with their arrival.
    pub events: Vec<(Instant, Value)>,
}

impl Heard {
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|(_, e)| e["type"] == kind)
            .map(|(_, e)| e)
            .collect()
    }

    /// Everything received, transcribed.
    pub fn transcript(&self) -> String {
        let all: Vec<f32> = self
            .audio
            .iter()
            .flat_map(|(_, a)| a.iter().copied())
            .collect();
        transcribe_48k(&all)
    }
}

/// The caller's ear: a larger, different Whisper (base), so a check of what the caller
/// heard tests the agent's audio rather than tiny.en's slips on a synthetic voice. Loaded
/// on first use: the benchmarks never transcribe.
fn ear() -> &'static WhisperModel {
    static EAR: OnceLock<WhisperModel> = OnceLock::new();
    EAR.get_or_init(|| {
        let dir = ModelsDir::from_env().unwrap();
        WhisperModel::load(ModelId::Base, &ModelId::Base.ggml_path(&dir)).unwrap()
    })
}

/// What the caller's ear makes of 48 kHz audio.
pub fn transcribe_48k(audio: &[f32]) -> String {
    let pcm = resample(audio, 48_000, 16_000).unwrap();
    ear()
        .transcribe(
            &pcm,
            &TranscribeOptions {
                language: Some("en".into()),
                ..TranscribeOptions::default()
            },
        )
        .unwrap()
        .text
}

/// A caller on the other end of a [`MediaLink`]: a microphone that sends one 20 ms Opus
/// packet every 20 ms (queued speech, else silence), and an ear that records the
/// agent's packets and events.
pub struct Caller {
    speech: mpsc::UnboundedSender<(Vec<f32>, Option<tokio::sync::oneshot::Sender<Instant>>)>,
    pub heard: Arc<Mutex<Heard>>,
    stop: tokio_util::sync::CancellationToken,
    /// Typed messages to the session (its data channel).
    pub text: mka1_voice_agent::transport::DroppingSender<String>,
    /// The microphone's queue into the session (its drop count shows a session that
    /// does not keep up).
    pub mic: mka1_voice_agent::transport::DroppingSender<Bytes>,
}

impl Caller {
    /// Starts the microphone and the ear on `end`.
    pub fn start(end: TransportEnd) -> Self {
        let TransportEnd {
            audio_in,
            mut audio_out,
            data_in,
            mut data_out,
            closed,
        } = end;
        let heard = Arc::new(Mutex::new(Heard::default()));
        let (speech, mut queue) =
            mpsc::unbounded_channel::<(Vec<f32>, Option<tokio::sync::oneshot::Sender<Instant>>)>();
        let stop = closed.clone();
        let mic = audio_in.clone();
        tokio::spawn(async move {
            let mut encoder = OpusEncoder::new().unwrap();
            let mut out = vec![0u8; 1500];
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut current: Option<(
                Vec<f32>,
                usize,
                Option<tokio::sync::oneshot::Sender<Instant>>,
            )> = None;
            loop {
                tokio::select! {
                    () = closed.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if current.is_none() {
                    current = queue.try_recv().ok().map(|(a, done)| (a, 0, done));
                }
                let mut frame = vec![0.0f32; FRAME_SAMPLES];
                if let Some((audio, pos, _)) = current.as_mut() {
                    let n = (audio.len() - *pos).min(FRAME_SAMPLES);
                    frame[..n].copy_from_slice(&audio[*pos..*pos + n]);
                    *pos += n;
                }
                let len = encoder.encode_frame(&frame, &mut out).unwrap();
                audio_in.push(Bytes::copy_from_slice(&out[..len]));
                if current.as_ref().is_some_and(|(a, pos, _)| *pos >= a.len())
                    && let Some((_, _, Some(done))) = current.take()
                {
                    let _ = done.send(Instant::now());
                }
            }
        });
        let ear = Arc::clone(&heard);
        tokio::spawn(async move {
            let mut decoder = OpusDecoder::new().unwrap();
            let mut pcm = vec![0.0f32; 5760];
            loop {
                tokio::select! {
                    packet = audio_out.recv() => {
                        let Some(packet) = packet else { break };
                        let n = decoder.decode(&packet, &mut pcm).unwrap();
                        ear.lock().unwrap().audio.push((Instant::now(), pcm[..n].to_vec()));
                    }
                    event = data_out.recv() => {
                        let Some(event) = event else { break };
                        let value: Value = serde_json::from_str(&event).unwrap();
                        ear.lock().unwrap().events.push((Instant::now(), value));
                    }
                }
            }
        });
        Self {
            speech,
            heard,
            stop,
            text: data_in,
            mic,
        }
    }

    /// Queues `audio` (48 kHz) to be spoken; the receiver gets the instant its last
    /// sample was sent.
    pub fn say(&self, audio: Vec<f32>) -> tokio::sync::oneshot::Receiver<Instant> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.speech.send((audio, Some(tx))).unwrap();
        rx
    }

    /// Waits until an event matching `pred` has arrived (or `limit` passes) and returns
    /// it. Events are kept; the search starts after `skip` matching ones.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self
                .heard
                .lock()
                .unwrap()
                .events
                .iter()
                .map(|(_, e)| e)
                .find(|e| pred(e))
                .cloned()
            {
                return Some(found);
            }
            if Instant::now() > deadline {
                let heard = self.heard.lock().unwrap();
                eprintln!(
                    "no matching event; {} audio packets; events: {:?}",
                    heard.audio.len(),
                    heard
                        .events
                        .iter()
                        .map(|(_, e)| e.to_string())
                        .collect::<Vec<_>>()
                );
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Hangs up.
    pub fn hang_up(&self) {
        self.stop.cancel();
    }
}

/// Held by each session test for its whole run. A session runs real-time STT, TTS and
/// Opus on this 2-core machine; several at once starve each other, and what a test
/// checks (a pause decoded in time to start a preemptive reply, the agent's words heard
/// back) would then depend on the machine's load rather than on the session.
pub async fn one_session_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

/// A session on an in-process link (no network transport), and its caller.
pub fn start_session(
    resources: Arc<AgentResources>,
    config: SessionConfig,
    settings: mka1_voice_agent::session::SessionSettings,
) -> (Caller, tokio::task::JoinHandle<()>) {
    let (link, end) = MediaLink::pair();
    let caller = Caller::start(end);
    let task = tokio::spawn(async move {
        mka1_voice_agent::session::run_session(resources, config, settings, link)
            .await
            .unwrap();
    });
    (caller, task)
}

/// Questions the benchmarks ask in turn (spoken by the project's voice).
pub const QUESTIONS: [&str; 4] = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What color is the sky on a clear day?",
    "Name a fruit that is yellow.",
];

/// The value after `name` on the command line, parsed (the benchmarks' flags).
pub fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// The `p` quantile (0..=1, nearest rank) of `values`, sorting them; NaN when empty.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[rank.min(values.len() - 1)]
}
