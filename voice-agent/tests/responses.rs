//! The Responses client against a test double of the Responses API: a real HTTP server
//! (axum) on a loopback socket that the test drives live, event by event, in the shapes
//! OpenAI's Responses streaming sends (`event:` + `data:` lines, `sequence_number`,
//! `response.created` ... `response.completed`).
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt as _;
use mka1_voice_agent::responses::{
    ResponsesClient, ResponsesError, ResponsesTimeouts, TurnEvent, TurnRequest, TurnStream,
};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

/// Guards every wait of the test itself, so that a bug fails the test instead of hanging
/// it. Never an assertion about speed.
const GUARD: Duration = Duration::from_secs(20);

async fn guarded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("test guard: gave up waiting for {what}"),
    }
}

/// A request the double received, with the means to answer it.
struct Incoming {
    path: String,
    headers: HeaderMap,
    body: Value,
    reply: oneshot::Sender<Response>,
}

/// The test double of the Responses API: every request is handed to the test, which
/// answers it (a status, or an event stream it writes live).
struct ResponsesDouble {
    base_url: String,
    incoming: mpsc::Receiver<Incoming>,
}

impl ResponsesDouble {
    /// The double's routes, and the receiver of what they are asked.
    fn app() -> (Router, mpsc::Receiver<Incoming>) {
        let (tx, incoming) = mpsc::channel(8);
        let app = Router::new()
            .route("/api/v1/llm/responses", post(Self::handle))
            .with_state(tx);
        (app, incoming)
    }

    async fn start() -> Self {
        let (app, incoming) = Self::app();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url: format!("http://{addr}/api/v1/llm"),
            incoming,
        }
    }

    /// The double behind https: a certificate for 127.0.0.1 issued by a CA made for this
    /// run, whose certificate (PEM) is returned beside it.
    async fn start_tls() -> (Self, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "mka1-voice test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();

        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));

        let (app, incoming) = Self::app();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        let double = Self {
            base_url: format!("https://{addr}/api/v1/llm"),
            incoming,
        };
        (double, ca.pem())
    }

    async fn handle(
        State(tx): State<mpsc::Sender<Incoming>>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let (reply, answer) = oneshot::channel();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let incoming = Incoming {
            path: uri.path().to_owned(),
            headers,
            body,
            reply,
        };
        if tx.send(incoming).await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        // The test may also never answer (a slow upstream): then this waits until the
        // client gives up and the connection closes.
        answer
            .await
            .unwrap_or_else(|_| StatusCode::SERVICE_UNAVAILABLE.into_response())
    }

    async fn next_request(&mut self) -> Incoming {
        guarded("a request", self.incoming.recv())
            .await
            .expect("the double's server stopped")
    }

    fn client(&self) -> ResponsesClient {
        ResponsesClient::new(&self.base_url, ResponsesTimeouts::default()).unwrap()
    }
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Answers with an event stream the test writes through the returned sink.
    fn stream(self) -> (RequestSeen, EventSink) {
        let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let response = Response::builder()
            .header("content-type", "text/event-stream; charset=utf-8")
            .header("cache-control", "no-cache")
            .body(Body::from_stream(body))
            .unwrap();
        let seen = RequestSeen {
            path: self.path,
            headers: self.headers,
            body: self.body,
        };
        let _ = self.reply.send(response);
        (seen, EventSink { tx, sequence: 0 })
    }

    /// Answers with an error status and a JSON body.
    fn fail(self, status: StatusCode, body: Value) {
        let _ = self.reply.send((status, axum::Json(body)).into_response());
    }
}

/// What the double saw of a request it answered.
struct RequestSeen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

/// Writes the double's event stream.
struct EventSink {
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    sequence: u64,
}

impl EventSink {
    /// Writes raw bytes; false once the client is gone (its connection closed).
    async fn raw(&self, bytes: impl Into<Bytes>) -> bool {
        self.tx.send(Ok(bytes.into())).await.is_ok()
    }

    /// Writes one event the way OpenAI does: `event: <type>`, `data: <json>` with a
    /// `sequence_number`, blank line.
    async fn event(&mut self, mut data: Value) {
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let kind = data["type"].as_str().unwrap().to_owned();
        let frame = format!("event: {kind}\ndata: {data}\n\n");
        assert!(self.raw(frame).await, "client left early");
    }

    async fn created(&mut self, id: &str) {
        for kind in ["response.created", "response.in_progress"] {
            self.event(json!({"type": kind, "response": response(id, "in_progress", json!([]))}))
                .await;
        }
    }

    /// A message item opening (item added, content part added).
    async fn open_message(&mut self, item_id: &str, output_index: u64) {
        self.event(json!({
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        }))
        .await;
        self.event(json!({
            "type": "response.content_part.added",
            "item_id": item_id, "output_index": output_index, "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        }))
        .await;
    }

    async fn delta(&mut self, item_id: &str, output_index: u64, delta: &str) {
        self.event(json!({
            "type": "response.output_text.delta",
            "item_id": item_id, "output_index": output_index, "content_index": 0,
            "delta": delta, "logprobs": []
        }))
        .await;
    }

    /// A message item closing; returns the item as it appears in the response's output.
    async fn close_message(&mut self, item_id: &str, output_index: u64, text: &str) -> Value {
        self.event(json!({
            "type": "response.output_text.done",
            "item_id": item_id, "output_index": output_index, "content_index": 0,
            "text": text, "logprobs": []
        }))
        .await;
        let part = json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
        self.event(json!({
            "type": "response.content_part.done",
            "item_id": item_id, "output_index": output_index, "content_index": 0, "part": part
        }))
        .await;
        let item = json!({
            "id": item_id, "type": "message", "status": "completed",
            "content": [part], "role": "assistant"
        });
        self.event(json!({"type": "response.output_item.done", "output_index": output_index, "item": item}))
            .await;
        item
    }

    /// A whole message, streamed in the given pieces.
    async fn message(&mut self, item_id: &str, output_index: u64, pieces: &[&str]) -> Value {
        self.open_message(item_id, output_index).await;
        for piece in pieces {
            self.delta(item_id, output_index, piece).await;
        }
        self.close_message(item_id, output_index, &pieces.concat())
            .await
    }

    /// A function call item, its arguments streamed in two pieces.
    async fn function_call(&mut self, call_id: &str, name: &str, output_index: u64) -> Value {
        let item_id = format!("fc_{call_id}");
        let arguments = r#"{"city":"Paris"}"#;
        let mut item = json!({
            "id": item_id, "type": "function_call", "status": "in_progress",
            "arguments": "", "call_id": call_id, "name": name
        });
        self.event(json!({"type": "response.output_item.added", "output_index": output_index, "item": item}))
            .await;
        for piece in [r#"{"city":"#, r#""Paris"}"#] {
            self.event(json!({
                "type": "response.function_call_arguments.delta",
                "item_id": item_id, "output_index": output_index, "delta": piece
            }))
            .await;
        }
        self.event(json!({
            "type": "response.function_call_arguments.done",
            "item_id": item_id, "output_index": output_index, "arguments": arguments
        }))
        .await;
        item["status"] = json!("completed");
        item["arguments"] = json!(arguments);
        self.event(json!({"type": "response.output_item.done", "output_index": output_index, "item": item}))
            .await;
        item
    }

    async fn completed(&mut self, id: &str, output: Vec<Value>) {
        self.event(json!({"type": "response.completed", "response": response(id, "completed", json!(output))}))
            .await;
    }
}

/// A response object as the API streams it.
fn response(id: &str, status: &str, output: Value) -> Value {
    json!({
        "id": id, "object": "response", "created_at": 1_741_476_542, "status": status,
        "error": null, "incomplete_details": null, "instructions": null,
        "model": "meetkai:functionary-pt", "output": output, "parallel_tool_calls": true,
        "previous_response_id": null, "store": true, "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": null, "metadata": {}
    })
}

fn llm(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn turn_request(input: &str) -> TurnRequest {
    TurnRequest {
        llm: llm(json!({"model": "meetkai:functionary-pt", "instructions": "Be brief."})),
        input: input.to_owned(),
        context: Vec::new(),
        previous_response_id: None,
        api_key: "mk_test_key_0123456789".into(),
        on_behalf_of: None,
    }
}

/// Runs the turn in a task of its own (as the session does), reporting each event as
/// soon as the stream yields it.
fn spawn_turn(
    client: &ResponsesClient,
    request: TurnRequest,
) -> mpsc::UnboundedReceiver<TurnEvent> {
    let mut stream = client.turn(request);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<TurnEvent>) -> TurnEvent {
    guarded("a turn event", events.recv())
        .await
        .expect("the turn stream ended without a final event")
}

/// Every remaining event, checking the stream ends after its final one.
async fn rest(events: &mut mpsc::UnboundedReceiver<TurnEvent>) -> Vec<TurnEvent> {
    let mut all = Vec::new();
    while let Some(event) = guarded("the turn to end", events.recv()).await {
        all.push(event);
    }
    let finals = all
        .iter()
        .filter(|e| matches!(e, TurnEvent::Completed { .. } | TurnEvent::Failed(_)))
        .count();
    assert_eq!(finals, 1, "exactly one final event: {all:?}");
    assert!(
        matches!(
            all.last(),
            Some(TurnEvent::Completed { .. } | TurnEvent::Failed(_))
        ),
        "the final event is last: {all:?}"
    );
    all
}

fn failure(events: &[TurnEvent]) -> &ResponsesError {
    match events.last() {
        Some(TurnEvent::Failed(err)) => err,
        other => panic!("expected a failure, got {other:?} in {events:?}"),
    }
}

#[tokio::test]
async fn an_https_upstream_streams_when_its_ca_is_trusted() {
    let (mut double, ca_pem) = ResponsesDouble::start_tls().await;
    let client = ResponsesClient::with_extra_roots(
        &double.base_url,
        ResponsesTimeouts::default(),
        ca_pem.as_bytes(),
    )
    .unwrap();
    assert!(client.endpoint().starts_with("https://"));
    let mut events = spawn_turn(&client, turn_request("Hello?"));
    let (seen, mut sink) = double.next_request().await.stream();
    assert_eq!(seen.path, "/api/v1/llm/responses");
    assert_eq!(
        seen.headers["authorization"],
        "Bearer mk_test_key_0123456789"
    );
    sink.created("resp_1").await;
    sink.open_message("msg_1", 0).await;
    sink.delta("msg_1", 0, "Hi there.").await;
    assert_eq!(
        next_event(&mut events).await,
        TurnEvent::TextDelta("Hi there.".into())
    );
    let item = sink.close_message("msg_1", 0, "Hi there.").await;
    sink.completed("resp_1", vec![item]).await;
    assert_eq!(
        rest(&mut events).await,
        vec![TurnEvent::Completed {
            response_id: "resp_1".into(),
            text: "Hi there.".into()
        }]
    );
}

#[tokio::test]
async fn an_https_upstream_with_an_untrusted_certificate_fails_the_turn() {
    let (mut double, _ca_pem) = ResponsesDouble::start_tls().await;
    // The system's roots only: the run's CA is not among them.
    let client = ResponsesClient::new(&double.base_url, ResponsesTimeouts::default()).unwrap();
    let mut events = spawn_turn(&client, turn_request("Hello?"));
    let all = rest(&mut events).await;
    match failure(&all) {
        ResponsesError::Connect(why) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}")
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
    // Nothing reached the server.
    assert!(double.incoming.try_recv().is_err());
}

#[tokio::test]
async fn text_deltas_arrive_in_order_as_soon_as_sent() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Tell me a story."));
    let (seen, mut sink) = double.next_request().await.stream();
    assert_eq!(seen.path, "/api/v1/llm/responses");
    sink.created("resp_1").await;
    sink.open_message("msg_1", 0).await;
    let pieces = [
        "Once", " upon", " a", " time", ", a", " tiny", " robot", " sang", ".",
    ];
    for piece in pieces {
        sink.delta("msg_1", 0, piece).await;
        // The next piece is not even written until the client has surfaced this one:
        // the client streams, it does not wait for the whole answer.
        assert_eq!(
            next_event(&mut events).await,
            TurnEvent::TextDelta(piece.into())
        );
    }
    let item = sink.close_message("msg_1", 0, &pieces.concat()).await;
    sink.completed("resp_1", vec![item]).await;
    assert_eq!(
        rest(&mut events).await,
        vec![TurnEvent::Completed {
            response_id: "resp_1".into(),
            text: pieces.concat()
        }]
    );
}

#[tokio::test]
async fn request_body_and_headers_are_as_specified() {
    let mut double = ResponsesDouble::start().await;
    let mut request = turn_request("What time is it?");
    request.llm = llm(json!({
        "model": "meetkai:functionary-pt",
        "instructions": "Be brief.",
        "temperature": 0.4,
        "tools": [{"type": "web_search"}],
        "x_not_yet_known": {"kept": [1, 2, 3]},
        "metadata": {"team": "blue"}
    }));
    request.previous_response_id = Some("resp_prev".into());
    request.on_behalf_of = Some("user-42".into());
    let mut events = spawn_turn(&double.client(), request);
    let (seen, mut sink) = double.next_request().await.stream();
    assert_eq!(
        seen.body,
        json!({
            "model": "meetkai:functionary-pt",
            "instructions": "Be brief.",
            "temperature": 0.4,
            "tools": [{"type": "web_search"}],
            "x_not_yet_known": {"kept": [1, 2, 3]},
            "metadata": {"team": "blue", "voice_mode": "true"},
            "input": "What time is it?",
            "stream": true,
            "previous_response_id": "resp_prev"
        })
    );
    let header = |name: &str| seen.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(
        header("authorization"),
        Some("Bearer mk_test_key_0123456789")
    );
    assert_eq!(header("x-on-behalf-of"), Some("user-42"));
    assert_eq!(header("accept"), Some("text/event-stream"));
    assert_eq!(header("content-type"), Some("application/json"));
    sink.created("resp_2").await;
    let item = sink.message("msg_1", 0, &["Noon."]).await;
    sink.completed("resp_2", vec![item]).await;
    let all = rest(&mut events).await;
    assert!(
        matches!(all.last(), Some(TurnEvent::Completed { response_id, .. }) if response_id == "resp_2")
    );
}

#[tokio::test]
async fn no_end_user_header_without_one_and_metadata_is_created() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hi"));
    let incoming = double.next_request().await;
    assert_eq!(incoming.header("x-on-behalf-of"), None);
    assert_eq!(incoming.body["metadata"], json!({"voice_mode": "true"}));
    assert!(incoming.body.get("previous_response_id").is_none());
    incoming.fail(
        StatusCode::BAD_REQUEST,
        json!({"error": {"message": "stop here"}}),
    );
    let all = rest(&mut events).await;
    assert!(matches!(
        failure(&all),
        ResponsesError::Status { status: 400, .. }
    ));
}

#[tokio::test]
async fn conversation_is_never_sent_with_previous_response_id() {
    let mut double = ResponsesDouble::start().await;
    let mut request = turn_request("Call the tool");
    request.llm = llm(json!({
        "model": "meetkai:functionary-pt",
        "conversation": {"id": "conv_7"},
        "previous_response_id": "resp_configured",
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    }));
    request.previous_response_id = Some("resp_prev".into());
    let mut events = spawn_turn(&double.client(), request);

    let (seen, mut sink) = double.next_request().await.stream();
    assert_eq!(seen.body["conversation"], json!({"id": "conv_7"}));
    assert!(
        seen.body.get("previous_response_id").is_none(),
        "{}",
        seen.body
    );
    sink.created("resp_1").await;
    let call = sink.function_call("call_1", "lookup", 0).await;
    sink.completed("resp_1", vec![call]).await;

    // The follow-up chains through the conversation too.
    let (seen, mut sink) = double.next_request().await.stream();
    assert_eq!(seen.body["conversation"], json!({"id": "conv_7"}));
    assert!(
        seen.body.get("previous_response_id").is_none(),
        "{}",
        seen.body
    );
    assert_eq!(seen.body["input"][0]["call_id"], "call_1");
    sink.created("resp_2").await;
    let item = sink.message("msg_2", 0, &["I can't look that up."]).await;
    sink.completed("resp_2", vec![item]).await;
    let all = rest(&mut events).await;
    assert_eq!(
        all.last(),
        Some(&TurnEvent::Completed {
            response_id: "resp_2".into(),
            text: "I can't look that up.".into()
        })
    );
}

#[tokio::test]
async fn function_calls_are_declined_in_a_chained_follow_up() {
    let mut double = ResponsesDouble::start().await;
    let mut request = turn_request("What's the weather in Paris?");
    request.previous_response_id = Some("resp_0".into());
    request.on_behalf_of = Some("user-9".into());
    let mut events = spawn_turn(&double.client(), request);

    let (first, mut sink) = double.next_request().await.stream();
    assert_eq!(first.body["input"], "What's the weather in Paris?");
    sink.created("resp_1").await;
    let message = sink.message("msg_1", 0, &["Let me", " check."]).await;
    let call_a = sink.function_call("call_a", "get_weather", 1).await;
    let call_b = sink.function_call("call_b", "get_time", 2).await;
    sink.completed("resp_1", vec![message, call_a, call_b])
        .await;

    let (follow_up, mut sink) = double.next_request().await.stream();
    assert_eq!(follow_up.body["previous_response_id"], "resp_1");
    assert_eq!(follow_up.body["stream"], true);
    assert_eq!(follow_up.body["metadata"]["voice_mode"], "true");
    assert_eq!(follow_up.body["model"], "meetkai:functionary-pt");
    assert_eq!(
        follow_up
            .headers
            .get("x-on-behalf-of")
            .and_then(|v| v.to_str().ok()),
        Some("user-9")
    );
    let outputs = follow_up.body["input"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "one output per call: {outputs:?}");
    for (output, (call_id, tool)) in outputs
        .iter()
        .zip([("call_a", "get_weather"), ("call_b", "get_time")])
    {
        assert_eq!(output["type"], "function_call_output");
        assert_eq!(output["call_id"], call_id);
        let text = output["output"].as_str().unwrap();
        assert!(text.contains(tool) && text.contains("cannot"), "{text}");
    }
    sink.created("resp_2").await;
    let message = sink
        .message("msg_2", 0, &["I can't", " check the weather", " here."])
        .await;
    sink.completed("resp_2", vec![message]).await;

    let all = rest(&mut events).await;
    let deltas: String = all
        .iter()
        .filter_map(|e| match e {
            TurnEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, "Let me check. I can't check the weather here.");
    assert_eq!(
        all.last(),
        Some(&TurnEvent::Completed {
            response_id: "resp_2".into(),
            text: deltas.clone()
        })
    );
}

#[tokio::test]
async fn tool_rounds_are_bounded() {
    let mut double = ResponsesDouble::start().await;
    let client = double.client().with_max_tool_rounds(1);
    let mut events = spawn_turn(&client, turn_request("Loop forever"));
    for round in 1..=2 {
        let (_, mut sink) = double.next_request().await.stream();
        let id = format!("resp_{round}");
        sink.created(&id).await;
        let call = sink
            .function_call(&format!("call_{round}"), "again", 0)
            .await;
        sink.completed(&id, vec![call]).await;
    }
    let all = rest(&mut events).await;
    assert_eq!(
        failure(&all),
        &ResponsesError::TooManyToolRounds { rounds: 1 }
    );
}

#[tokio::test]
async fn upstream_error_status_fails_with_its_message() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    double.next_request().await.fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": {"message": "The model is overloaded", "type": "server_error", "code": "overloaded"}}),
    );
    let all = rest(&mut events).await;
    assert_eq!(
        failure(&all),
        &ResponsesError::Status {
            status: 500,
            code: Some("overloaded".into()),
            message: "The model is overloaded".into()
        }
    );
}

#[tokio::test]
async fn stream_cut_midway_fails() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    sink.open_message("msg_1", 0).await;
    sink.delta("msg_1", 0, "Hel").await;
    assert_eq!(
        next_event(&mut events).await,
        TurnEvent::TextDelta("Hel".into())
    );
    // Half an event, then the connection ends.
    assert!(
        sink.raw("event: response.output_text.delta\ndata: {\"type\":\"response.out")
            .await
    );
    drop(sink);
    let all = rest(&mut events).await;
    assert_eq!(failure(&all), &ResponsesError::EndedEarly);
}

#[tokio::test]
async fn error_event_fails_with_its_message() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    sink.event(json!({"type": "error", "code": "rate_limit_exceeded", "message": "Too many requests", "param": null}))
        .await;
    let all = rest(&mut events).await;
    assert_eq!(
        failure(&all),
        &ResponsesError::Upstream {
            code: Some("rate_limit_exceeded".into()),
            message: "Too many requests".into()
        }
    );
}

#[tokio::test]
async fn response_failed_fails_with_its_error() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    let mut failed = response("resp_1", "failed", json!([]));
    failed["error"] = json!({"code": "server_error", "message": "The model crashed"});
    sink.event(json!({"type": "response.failed", "response": failed}))
        .await;
    let all = rest(&mut events).await;
    assert_eq!(
        failure(&all),
        &ResponsesError::ResponseFailed {
            code: Some("server_error".into()),
            message: "The model crashed".into()
        }
    );
}

#[tokio::test]
async fn malformed_known_event_fails() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    assert!(
        sink.raw("event: response.output_text.delta\ndata: {\"delta\": \n\n")
            .await
    );
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::MalformedEvent { event_type, .. } if event_type == "response.output_text.delta"),
        "{all:?}"
    );
}

#[tokio::test]
async fn crlf_comments_unknown_events_and_done_are_tolerated() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let (_, sink) = double.next_request().await.stream();
    let created = json!({"type": "response.created", "sequence_number": 0, "response": response("resp_1", "in_progress", json!([]))});
    let completed = json!({"type": "response.completed", "sequence_number": 9, "response": response("resp_1", "completed", json!([]))});
    let wire = format!(
        "\u{FEFF}: hello\r\nevent: response.created\r\ndata: {created}\r\n\r\n\
         event: response.future_thing\r\ndata: {{\"type\":\"response.future_thing\",\"x\":1}}\r\n\r\n\
         event: response.output_text.delta\r\ndata: {{\"type\":\"response.output_text.delta\",\r\n\
         data: \"item_id\":\"msg_1\",\"content_index\":0,\"delta\":\"Grüß \"}}\r\n\r\n"
    );
    // Split inside the UTF-8 of "ü" and inside a CRLF.
    let bytes = wire.into_bytes();
    let cut = bytes.windows(2).position(|w| w == "ü".as_bytes()).unwrap() + 1;
    assert!(sink.raw(bytes[..cut].to_vec()).await);
    assert!(sink.raw(bytes[cut..].to_vec()).await);
    assert_eq!(
        next_event(&mut events).await,
        TurnEvent::TextDelta("Grüß ".into())
    );
    let tail = format!(
        "data: {{\"type\":\"response.output_text.done\",\"item_id\":\"msg_1\",\"content_index\":0,\"text\":\"Grüß Gott\"}}\r\n\r\n\
         event: response.completed\r\ndata: {completed}\r\n\r\ndata: [DONE]\r\n\r\n"
    );
    assert!(sink.raw(tail).await);
    let all = rest(&mut events).await;
    // The part's text not streamed as deltas is completed from `output_text.done`.
    assert_eq!(
        all,
        vec![
            TurnEvent::TextDelta("Gott".into()),
            TurnEvent::Completed {
                response_id: "resp_1".into(),
                text: "Grüß Gott".into()
            }
        ]
    );
}

#[tokio::test]
async fn oversize_event_fails_without_buffering_it() {
    let mut double = ResponsesDouble::start().await;
    let client = double.client().with_max_event_bytes(4096);
    let mut events = spawn_turn(&client, turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    // One line of 8 KiB that has not ended: a client without a bound would wait for
    // the rest (and fail on the idle timeout instead).
    let line = format!(
        "event: response.output_text.delta\ndata: {}",
        "x".repeat(8192)
    );
    assert!(sink.raw(line).await);
    let all = rest(&mut events).await;
    assert_eq!(
        failure(&all),
        &ResponsesError::EventTooLarge { limit: 4096 }
    );
}

#[tokio::test]
async fn no_answer_within_the_first_event_timeout_fails() {
    let mut double = ResponsesDouble::start().await;
    let timeouts = ResponsesTimeouts {
        first_event: Duration::from_millis(300),
        ..ResponsesTimeouts::default()
    };
    let client = ResponsesClient::new(&double.base_url, timeouts).unwrap();
    let mut events = spawn_turn(&client, turn_request("Hello"));
    // Headers never come.
    let _held = double.next_request().await;
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::FirstEventTimeout(_)),
        "{all:?}"
    );

    // Headers come, but no event after them.
    let mut events = spawn_turn(&client, turn_request("Hello"));
    let (_, sink) = double.next_request().await.stream();
    assert!(sink.raw(": still thinking\n\n").await);
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::FirstEventTimeout(_)),
        "{all:?}"
    );
}

#[tokio::test]
async fn silence_between_events_fails_with_an_idle_timeout() {
    let mut double = ResponsesDouble::start().await;
    let timeouts = ResponsesTimeouts {
        idle: Duration::from_millis(300),
        ..ResponsesTimeouts::default()
    };
    let client = ResponsesClient::new(&double.base_url, timeouts).unwrap();
    let mut events = spawn_turn(&client, turn_request("Hello"));
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    sink.open_message("msg_1", 0).await;
    sink.delta("msg_1", 0, "Hm").await;
    assert_eq!(
        next_event(&mut events).await,
        TurnEvent::TextDelta("Hm".into())
    );
    // Only keep-alive comments from now on: no progress, so the idle timeout still
    // applies. Keep sending until the client hangs up.
    let pinger = tokio::spawn(async move {
        while sink.raw(": keep-alive\n\n").await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::IdleTimeout(_)),
        "{all:?}"
    );
    assert!(failure(&all).is_timeout());
    // The client closed the connection when it gave up.
    guarded("the pinger to notice", pinger).await.unwrap();
}

#[tokio::test]
async fn unreachable_server_fails_with_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = ResponsesClient::new(
        &format!("http://{addr}/api/v1/llm"),
        ResponsesTimeouts::default(),
    )
    .unwrap();
    let mut events = spawn_turn(&client, turn_request("Hello"));
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::Connect(_)),
        "{all:?}"
    );
}

#[tokio::test]
async fn a_non_stream_answer_fails() {
    let mut double = ResponsesDouble::start().await;
    let mut events = spawn_turn(&double.client(), turn_request("Hello"));
    let incoming = double.next_request().await;
    let _ = incoming.reply.send(
        (
            StatusCode::OK,
            axum::Json(response("resp_1", "completed", json!([]))),
        )
            .into_response(),
    );
    let all = rest(&mut events).await;
    assert!(
        matches!(failure(&all), ResponsesError::NotAnEventStream(_)),
        "{all:?}"
    );
}

#[tokio::test]
async fn dropping_the_turn_stream_cancels_the_upstream_request() {
    let mut double = ResponsesDouble::start().await;
    let client = double.client();
    let mut stream: TurnStream = client.turn(turn_request("Tell me everything."));
    // Nothing is sent until the stream is polled: poll it in the background while the
    // double answers, then take it back.
    let (first_tx, first_rx) = oneshot::channel();
    let reader = tokio::spawn(async move {
        let first = stream.next().await;
        let _ = first_tx.send(first);
        stream
    });
    let (_, mut sink) = double.next_request().await.stream();
    sink.created("resp_1").await;
    sink.open_message("msg_1", 0).await;
    sink.delta("msg_1", 0, "Well,").await;
    let first = guarded("the first delta", first_rx).await.unwrap();
    assert_eq!(first, Some(TurnEvent::TextDelta("Well,".into())));
    let stream = guarded("the reader", reader).await.unwrap();
    // Barge-in: the session drops the turn.
    drop(stream);
    // The upstream sees its response body closed: writes start failing once the client's
    // connection is gone (the guard bounds the wait, it measures nothing).
    guarded("the client to hang up", async {
        while sink.raw(": more is coming\n\n").await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
