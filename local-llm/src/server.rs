//! The HTTP surface: `POST /responses` (also at MKA1's `/api/v1/llm/responses`) and
//! `GET /healthz`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::chat::{ChatMessage, DEFAULT_INSTRUCTIONS, Role};
use crate::engine::{Engine, Event, FinishReason, GenerationRequest, Task};
use crate::error::ApiError;
use crate::request::CreateRequest;
use crate::response::{ResponseMeta, Sequencer, Status, Usage, output_text_part};
use crate::store::{DEFAULT_CAPACITY, Node, Store};

/// Largest request body accepted. A voice turn is a sentence; even a long pasted
/// document would not fit the model's context.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    engine: Engine,
    store: Mutex<Store>,
    model_name: String,
}

impl AppState {
    /// State around a started engine; `model_name` is reported by `/healthz`.
    pub fn new(engine: Engine, model_name: impl Into<String>) -> Self {
        Self {
            engine,
            store: Mutex::new(Store::new(DEFAULT_CAPACITY)),
            model_name: model_name.into(),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // The store holds plain data and no invariant spans a panic: keep serving.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The provider's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/responses", post(create_response))
        .route("/v1/responses", post(create_response))
        .route("/api/v1/llm/responses", post(create_response))
        .route("/responses/prefill", post(prefill))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn healthz(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let stats = app.engine.stats();
    axum::Json(json!({
        "status": "ok",
        "model": app.model_name,
        "n_ctx": app.engine.n_ctx(),
        "generations": {
            "completed": stats.completed.load(Ordering::Relaxed),
            "incomplete": stats.incomplete.load(Ordering::Relaxed),
            "cancelled": stats.cancelled.load(Ordering::Relaxed),
            "failed": stats.failed.load(Ordering::Relaxed),
            "queued": stats.queued.load(Ordering::SeqCst),
        },
        "prefills": {
            "run": stats.prefilled.load(Ordering::Relaxed),
            "skipped": stats.prefills_skipped.load(Ordering::Relaxed),
        },
    }))
}

async fn create_response(
    State(app): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match respond(app, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Everything a finished response needs to be recorded for chaining.
struct Turn {
    app: Arc<AppState>,
    parent: Option<Arc<Node>>,
    input: Vec<ChatMessage>,
    meta: ResponseMeta,
}

impl Turn {
    /// Stores the conversation including this answer, before the client hears that the
    /// response is done: it may chain to it the moment it does.
    fn save(self, text: &str) {
        let mut turns = self.input;
        turns.push(ChatMessage::new(Role::Assistant, text));
        let node = Node::new(self.parent, turns);
        let id = self.meta.store.then_some(self.meta.id.as_str());
        self.app
            .store()
            .save(id, self.meta.conversation.as_deref(), node);
    }
}

/// The request body, parsed.
fn parse(body: Result<Bytes, BytesRejection>) -> Result<CreateRequest, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::InvalidRequest {
                message: rejection.body_text(),
                param: None,
            }
        }
    })?;
    CreateRequest::parse(&body)
}

/// The turn `request` continues (from `previous_response_id` or its conversation) and the
/// whole conversation the model reads: the system turn, that history, the new input.
fn conversation(
    app: &AppState,
    request: &CreateRequest,
) -> Result<(Option<Arc<Node>>, Vec<ChatMessage>), ApiError> {
    let parent = {
        let mut store = app.store();
        match (&request.previous_response_id, &request.conversation) {
            (Some(id), _) => Some(
                store
                    .response(id)
                    .ok_or_else(|| ApiError::PreviousResponseNotFound(id.clone()))?,
            ),
            (None, Some(conversation)) => store.conversation(conversation),
            (None, None) => None,
        }
    };
    let instructions = request
        .instructions
        .clone()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_INSTRUCTIONS.to_owned());
    let mut messages = vec![ChatMessage::new(Role::System, instructions)];
    if let Some(parent) = &parent {
        messages.extend(parent.history());
    }
    messages.extend(request.input.iter().cloned());
    Ok((parent, messages))
}

fn generation(
    request: &CreateRequest,
    messages: Vec<ChatMessage>,
    task: Task,
) -> GenerationRequest {
    GenerationRequest {
        messages,
        max_output_tokens: request.max_output_tokens,
        temperature: request.temperature as f32,
        top_p: request.top_p as f32,
        frequency_penalty: request.frequency_penalty as f32,
        presence_penalty: request.presence_penalty as f32,
        seed: uuid::Uuid::new_v4().as_u128() as u32,
        task,
    }
}

/// `POST /responses/prefill`: a Responses request body whose last input is a user turn
/// still being spoken. Its prompt is evaluated up to the end of that text and nothing is
/// generated or stored, so that the real request (the same conversation, the user's
/// final words) finds most of its prompt cached. Local to the provider: `serve` does not
/// expose it. Answers `{"object":"prefill","status":"completed"|"skipped",
/// "prompt_tokens","cached_tokens"}`; skipped when an answer was waiting, which always
/// goes first.
async fn prefill(
    State(app): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = parse(body)?;
    let (_, messages) = conversation(&app, &request)?;
    let mut events = app
        .engine
        .submit(generation(&request, messages, Task::Prefill))?;
    let (mut prompt_tokens, mut cached_tokens) = (0, 0);
    loop {
        match events.recv().await {
            Some(Event::Started {
                prompt_tokens: p,
                cached_tokens: c,
                ..
            }) => (prompt_tokens, cached_tokens) = (p, c),
            Some(Event::Finished { .. }) => break,
            Some(Event::Skipped) => {
                return Ok(
                    axum::Json(json!({"object": "prefill", "status": "skipped"})).into_response(),
                );
            }
            Some(Event::Failed(e)) => return Err(e),
            Some(Event::Delta(_)) => {}
            None => return Err(ApiError::Internal("the generation thread stopped".into())),
        }
    }
    Ok(axum::Json(json!({
        "object": "prefill",
        "status": "completed",
        "prompt_tokens": prompt_tokens,
        "cached_tokens": cached_tokens,
    }))
    .into_response())
}

async fn respond(
    app: Arc<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = parse(body)?;
    let (parent, messages) = conversation(&app, &request)?;
    let mut events = app
        .engine
        .submit(generation(&request, messages, Task::Generate))?;
    // Wait until the prompt is built, so that a prompt that cannot fit is a plain 400
    // rather than an error inside a 200 stream.
    let mut usage = match events.recv().await {
        Some(Event::Started {
            prompt_tokens,
            cached_tokens,
            ..
        }) => Usage {
            input_tokens: prompt_tokens,
            cached_tokens,
            output_tokens: 0,
        },
        Some(Event::Failed(e)) => return Err(e),
        _ => {
            return Err(ApiError::Internal(
                "generation ended before it began".into(),
            ));
        }
    };
    let meta = ResponseMeta {
        id: format!("resp_{}", uuid::Uuid::new_v4().simple()),
        message_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: request.model.clone(),
        instructions: request.instructions.clone(),
        previous_response_id: request.previous_response_id.clone(),
        conversation: request.conversation.clone(),
        max_output_tokens: request.max_output_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        metadata: request.metadata.clone(),
        store: request.store,
    };
    let turn = Turn {
        app,
        parent,
        input: request.input,
        meta,
    };
    if request.stream {
        return Ok(stream(turn, events, usage));
    }

    let mut text = String::new();
    let reason = loop {
        match events.recv().await {
            Some(Event::Delta(delta)) => text.push_str(&delta),
            Some(Event::Finished {
                output_tokens,
                reason,
            }) => {
                usage.output_tokens = output_tokens;
                break reason;
            }
            Some(Event::Started { .. } | Event::Skipped) => {}
            Some(Event::Failed(e)) => return Err(e),
            None => return Err(ApiError::Internal("the generation thread stopped".into())),
        }
    };
    let status = status_of(reason);
    let object = turn.meta.object(status, Some(&text), Some(usage), None);
    turn.save(&text);
    Ok(axum::Json(object).into_response())
}

fn status_of(reason: FinishReason) -> Status {
    match reason {
        FinishReason::Stop => Status::Completed,
        FinishReason::Length => Status::Incomplete,
    }
}

/// The SSE reply. A task turns engine events into SSE events; when the client goes away
/// the body (and its receiver) is dropped, the task's next send fails, it drops the
/// engine's receiver, and the generation thread stops before its next token.
fn stream(turn: Turn, events: mpsc::Receiver<Event>, usage: Usage) -> Response {
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(stream_events(turn, events, usage, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Sse::new(body).into_response()
}

/// Sends one event; false when the client is gone.
async fn send(tx: &mpsc::Sender<SseEvent>, (kind, data): (&'static str, Value)) -> bool {
    tx.send(SseEvent::default().event(kind).data(data.to_string()))
        .await
        .is_ok()
}

async fn stream_events(
    turn: Turn,
    mut events: mpsc::Receiver<Event>,
    mut usage: Usage,
    tx: mpsc::Sender<SseEvent>,
) {
    let meta = &turn.meta;
    let mut seq = Sequencer::default();
    let item_id = meta.message_id.clone();
    let in_progress = meta.object(Status::InProgress, None, None, None);
    let opening = [
        seq.event("response.created", json!({"response": in_progress})),
        seq.event("response.in_progress", json!({"response": in_progress})),
        seq.event(
            "response.output_item.added",
            json!({"output_index": 0, "item": meta.message_item(Status::InProgress, None)}),
        ),
        seq.event(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": output_text_part("")}),
        ),
    ];
    for event in opening {
        if !send(&tx, event).await {
            return;
        }
    }
    let mut text = String::new();
    let reason = loop {
        let event = match events.recv().await {
            Some(Event::Delta(delta)) => {
                let event = seq.event(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta, "logprobs": []}),
                );
                text.push_str(&delta);
                event
            }
            Some(Event::Finished {
                output_tokens,
                reason,
            }) => {
                usage.output_tokens = output_tokens;
                break reason;
            }
            Some(Event::Started { .. } | Event::Skipped) => continue,
            Some(Event::Failed(e)) => {
                let failed = meta.object(Status::Failed, Some(&text), None, Some(&e));
                send(
                    &tx,
                    seq.event("response.failed", json!({"response": failed})),
                )
                .await;
                return;
            }
            None => {
                let e = ApiError::Internal("the generation thread stopped".into());
                let failed = meta.object(Status::Failed, Some(&text), None, Some(&e));
                send(
                    &tx,
                    seq.event("response.failed", json!({"response": failed})),
                )
                .await;
                return;
            }
        };
        if !send(&tx, event).await {
            return;
        }
    };
    let status = status_of(reason);
    let closing = [
        seq.event(
            "response.output_text.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        ),
        seq.event(
            "response.content_part.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": output_text_part(&text)}),
        ),
        seq.event(
            "response.output_item.done",
            json!({"output_index": 0, "item": meta.message_item(status, Some(&text))}),
        ),
    ];
    for event in closing {
        if !send(&tx, event).await {
            return;
        }
    }
    let kind = match status {
        Status::Incomplete => "response.incomplete",
        _ => "response.completed",
    };
    let last = seq.event(
        kind,
        json!({"response": meta.object(status, Some(&text), Some(usage), None)}),
    );
    turn.save(&text);
    send(&tx, last).await;
}
