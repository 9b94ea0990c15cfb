//! One agent turn as a stream: requests, SSE decoding, tool-call follow-ups, timeouts.

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FusedStream, Stream, StreamExt as _};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use super::events::{self, OutputItem, ResponseBody, StreamEvent, TextPart};
use super::request::{self, Input, ToolOutput};
use super::sse::{SseError, SseEvent, SseParser};
use super::{ResponsesClient, ResponsesError, TurnEvent, TurnRequest};

/// The header that names the end user.
const ON_BEHALF_OF: &str = "x-on-behalf-of";
/// How much of a completed response's trailing body is drained to reuse its connection.
const DRAIN_BYTES: usize = 64 * 1024;
/// How long that drain may take.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// How much of an error body is read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The events of one turn: [`TurnEvent::TextDelta`]s, then one
/// [`TurnEvent::Completed`] or [`TurnEvent::Failed`], then the end.
///
/// Dropping it closes the HTTP connection of the request in flight, which cancels the
/// generation upstream.
pub struct TurnStream {
    inner: Pin<Box<dyn FusedStream<Item = TurnEvent> + Send>>,
}

impl fmt::Debug for TurnStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnStream")
            .field("terminated", &self.inner.is_terminated())
            .finish()
    }
}

impl TurnStream {
    pub(super) fn new(client: ResponsesClient, request: TurnRequest) -> Self {
        let turn = Turn::new(client, request);
        // The stream owns the whole turn: it runs only while polled, and dropping it
        // drops the response body and with it the connection.
        let stream = futures_util::stream::unfold(turn, |mut turn| async move {
            let event = turn.next_event().await?;
            Some((event, turn))
        })
        .fuse();
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for TurnStream {
    type Item = TurnEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TurnEvent>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl FusedStream for TurnStream {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

/// The turn's state between events.
struct Turn {
    client: ResponsesClient,
    request: TurnRequest,
    /// The next request to send, if any.
    next: Option<(Input, Option<String>)>,
    /// The request streaming now.
    round: Option<Round>,
    /// Follow-up rounds sent so far.
    follow_ups: u32,
    /// Every text delta given out so far.
    text: String,
    /// A later round's text must not run into an earlier round's.
    separate_next_text: bool,
    /// Events decided but not yet given out.
    queue: VecDeque<TurnEvent>,
    /// The turn has given out its last event.
    finished: bool,
}

/// One streaming response.
struct Round {
    response: reqwest::Response,
    parser: SseParser,
    /// SSE events parsed but not yet handled.
    pending: VecDeque<SseEvent>,
    /// `response.created`'s id.
    response_id: Option<String>,
    /// Tool calls to answer, by call id (added and done both report them).
    calls: Vec<(String, ToolOutput)>,
    /// A client-side call this client cannot answer.
    unanswerable: Option<&'static str>,
    /// Text given out per part, to complete it from `output_text.done` if deltas were
    /// missing.
    parts: HashMap<TextPart, String>,
    /// Time spent waiting since the last event (or since the request, before one).
    waited: Duration,
    /// An event has arrived: the idle timeout applies from now on.
    seen_event: bool,
}

/// How a round ended.
struct RoundEnd {
    response_id: String,
}

impl Turn {
    fn new(client: ResponsesClient, mut request: TurnRequest) -> Self {
        let text = std::mem::take(&mut request.input);
        let input = if request.context.is_empty() {
            Input::UserText(text)
        } else {
            Input::UserTurn {
                context: std::mem::take(&mut request.context),
                text,
            }
        };
        let previous = request.previous_response_id.clone();
        Self {
            client,
            request,
            next: Some((input, previous)),
            round: None,
            follow_ups: 0,
            text: String::new(),
            separate_next_text: false,
            queue: VecDeque::new(),
            finished: false,
        }
    }

    async fn next_event(&mut self) -> Option<TurnEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            let step = match self.round.as_mut() {
                None => match self.next.take() {
                    Some((input, previous)) => match self.send(&input, previous.as_deref()).await {
                        Ok(round) => {
                            self.round = Some(round);
                            Ok(None)
                        }
                        Err(err) => Err(err),
                    },
                    None => {
                        self.finished = true;
                        return None;
                    }
                },
                Some(round) => match round.pending.pop_front() {
                    Some(sse) => self.handle(&sse),
                    None => read_more(round, self.client.timeouts, self.client.max_event_bytes)
                        .await
                        .map(|()| None),
                },
            };
            match step {
                Ok(None) => {}
                Ok(Some(end)) => self.end_round(end),
                Err(err) => return Some(self.fail(err)),
            }
        }
    }

    /// Ends the turn with a failure; the connection (if any) closes here.
    fn fail(&mut self, err: ResponsesError) -> TurnEvent {
        tracing::warn!(error = %err, "Responses turn failed");
        self.round = None;
        self.next = None;
        self.queue.clear();
        self.finished = true;
        TurnEvent::Failed(err)
    }

    /// Sends one request and checks that an event stream is coming back.
    async fn send(
        &self,
        input: &Input,
        previous_response_id: Option<&str>,
    ) -> Result<Round, ResponsesError> {
        let body = request::body(&self.request.llm, input, previous_response_id);
        let body = serde_json::to_vec(&body).map_err(|e| ResponsesError::Encode(e.to_string()))?;
        let headers = headers(&self.request)?;
        let timeouts = self.client.timeouts;
        tracing::debug!(
            endpoint = %self.client.endpoint,
            follow_up = self.follow_ups,
            bytes = body.len(),
            "sending Responses request"
        );
        let started = Instant::now();
        let sent = self
            .client
            .http
            .post(self.client.endpoint.as_ref().clone())
            .headers(headers)
            .body(body)
            .send();
        let response = match tokio::time::timeout(timeouts.first_event, sent).await {
            Err(_elapsed) => return Err(ResponsesError::FirstEventTimeout(timeouts.first_event)),
            Ok(Err(err)) => return Err(send_error(&err, timeouts)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(response, timeouts.idle).await);
        }
        if let Some(content_type) = response.headers().get(CONTENT_TYPE) {
            let content_type = String::from_utf8_lossy(content_type.as_bytes()).to_lowercase();
            if !content_type.trim_start().starts_with("text/event-stream") {
                return Err(ResponsesError::NotAnEventStream(content_type));
            }
        }
        Ok(Round {
            response,
            parser: SseParser::new(self.client.max_event_bytes),
            pending: VecDeque::new(),
            response_id: None,
            calls: Vec::new(),
            unanswerable: None,
            parts: HashMap::new(),
            waited: started.elapsed(),
            seen_event: false,
        })
    }

    /// Acts on one SSE event of the current round.
    fn handle(&mut self, sse: &SseEvent) -> Result<Option<RoundEnd>, ResponsesError> {
        let event = events::decode(sse)?;
        let Some(round) = self.round.as_mut() else {
            return Ok(None);
        };
        round.waited = Duration::ZERO;
        round.seen_event = true;
        match event {
            StreamEvent::Created { response_id } => round.response_id = Some(response_id),
            StreamEvent::TextDelta { part, delta } => {
                round.parts.entry(part).or_default().push_str(&delta);
                self.give_text(delta);
            }
            StreamEvent::TextDone { part, text } => {
                // Some servers send a part's text only whole: say what was not streamed.
                let streamed = round.parts.entry(part).or_default();
                let rest = text.strip_prefix(streamed.as_str()).unwrap_or_default();
                if !rest.is_empty() {
                    let rest = rest.to_owned();
                    streamed.push_str(&rest);
                    self.give_text(rest);
                }
            }
            StreamEvent::ItemAdded(item) | StreamEvent::ItemDone(item) => {
                round.note_item(&item);
            }
            StreamEvent::ArgumentsDelta { .. } => {}
            StreamEvent::ArgumentsDone { item_id, arguments } => {
                tracing::debug!(%item_id, bytes = arguments.len(), "tool call arguments complete");
            }
            StreamEvent::Completed(response) => return Ok(Some(round.finish(response))),
            StreamEvent::Incomplete(response) => {
                // Cut short (max_output_tokens, content filter): what was said stands and
                // the response can be chained to, so the turn goes on as if completed.
                let reason = response
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.reason.clone())
                    .unwrap_or_default();
                tracing::info!(response_id = %response.id, %reason, "response incomplete");
                return Ok(Some(round.finish(response)));
            }
            StreamEvent::Failed(response) => {
                let (code, message) = response
                    .error
                    .map(|e| e.parts("the response failed"))
                    .unwrap_or_else(|| (None, "the response failed".to_owned()));
                return Err(ResponsesError::ResponseFailed { code, message });
            }
            StreamEvent::Error { code, message } => {
                return Err(ResponsesError::Upstream { code, message });
            }
            StreamEvent::Ignored => {}
        }
        Ok(None)
    }

    fn give_text(&mut self, delta: String) {
        if delta.is_empty() {
            return;
        }
        if std::mem::take(&mut self.separate_next_text)
            && !self.text.ends_with(char::is_whitespace)
            && !delta.starts_with(char::is_whitespace)
        {
            self.text.push(' ');
            self.queue.push_back(TurnEvent::TextDelta(" ".to_owned()));
        }
        self.text.push_str(&delta);
        self.queue.push_back(TurnEvent::TextDelta(delta));
    }

    /// A response ended: complete the turn, or answer its tool calls in a follow-up.
    fn end_round(&mut self, end: RoundEnd) {
        let Some(round) = self.round.take() else {
            return;
        };
        release(round.response);
        if let Some(item_type) = round.unanswerable {
            let event = self.fail(ResponsesError::UnsupportedToolCall {
                item_type: item_type.to_owned(),
            });
            self.queue.push_back(event);
            return;
        }
        if round.calls.is_empty() {
            self.finished = true;
            self.queue.push_back(TurnEvent::Completed {
                response_id: end.response_id,
                text: self.text.clone(),
            });
            return;
        }
        if self.follow_ups >= self.client.max_tool_rounds {
            let event = self.fail(ResponsesError::TooManyToolRounds {
                rounds: self.client.max_tool_rounds,
            });
            self.queue.push_back(event);
            return;
        }
        self.follow_ups += 1;
        self.separate_next_text = !self.text.is_empty();
        let outputs = round.calls.into_iter().map(|(_, output)| output).collect();
        self.next = Some((Input::ToolOutputs(outputs), Some(end.response_id)));
    }
}

impl Round {
    /// Records a tool call to answer (once per call id).
    fn note_item(&mut self, item: &OutputItem) {
        if let Some(item_type) = item.unanswerable_call() {
            self.unanswerable = Some(item_type);
            return;
        }
        let (call_id, name, output_type) = match item {
            OutputItem::FunctionCall { call_id, name, .. } => {
                (call_id, name, "function_call_output")
            }
            OutputItem::CustomToolCall { call_id, name, .. } => {
                (call_id, name, "custom_tool_call_output")
            }
            _ => return,
        };
        if self.calls.iter().any(|(id, _)| id == call_id) {
            return;
        }
        tracing::info!(tool = %name, %call_id, "declining a tool call the voice agent cannot run");
        self.calls.push((
            call_id.clone(),
            ToolOutput {
                item_type: output_type,
                call_id: call_id.clone(),
                output: declined(name),
            },
        ));
    }

    /// The response is complete: its output lists every call, even ones whose item
    /// events were not streamed.
    fn finish(&mut self, response: ResponseBody) -> RoundEnd {
        for item in &response.output {
            self.note_item(item);
        }
        if let Some(created) = &self.response_id
            && *created != response.id
        {
            tracing::warn!(%created, completed = %response.id, "response id changed mid-stream");
        }
        RoundEnd {
            response_id: response.id,
        }
    }
}

/// Reads what is left of a completed response's body (normally just the end of the
/// chunked body) in the background, so that its connection goes back to the pool and the
/// next turn skips the TCP and TLS handshakes. Bounded in bytes and time; the turn does
/// not wait for it.
fn release(mut response: reqwest::Response) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let drain = async {
            let mut left = DRAIN_BYTES;
            while let Ok(Some(chunk)) = response.chunk().await {
                left = left.saturating_sub(chunk.len());
                if left == 0 {
                    break;
                }
            }
        };
        // Past the bound the connection is simply closed, as if dropped at once.
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    });
}

/// What the model reads as the result of a tool the agent cannot run.
fn declined(name: &str) -> String {
    format!(
        "The voice agent cannot run the tool `{name}`: tools are not available in this \
         voice conversation. Tell the user briefly, and help without it if you can."
    )
}

/// Reads the next chunk of the round's body into its parser, within the timeouts.
async fn read_more(
    round: &mut Round,
    timeouts: super::ResponsesTimeouts,
    max_event_bytes: usize,
) -> Result<(), ResponsesError> {
    let (limit, timeout_error): (Duration, fn(Duration) -> ResponsesError) = if round.seen_event {
        (timeouts.idle, ResponsesError::IdleTimeout)
    } else {
        (timeouts.first_event, ResponsesError::FirstEventTimeout)
    };
    // Only time spent waiting here counts: while the consumer is busy (this stream is
    // not polled), the silence is not the server's.
    let remaining = limit.saturating_sub(round.waited);
    let started = Instant::now();
    let chunk = tokio::time::timeout(remaining, round.response.chunk()).await;
    round.waited += started.elapsed();
    match chunk {
        Err(_elapsed) => Err(timeout_error(limit)),
        Ok(Err(err)) => Err(ResponsesError::Transport(describe(&err))),
        // The stream ended without completing the response (the round ends on
        // `response.completed`, before reading further).
        Ok(Ok(None)) => Err(ResponsesError::EndedEarly),
        Ok(Ok(Some(bytes))) => {
            let mut parsed = Vec::new();
            round
                .parser
                .feed(&bytes, &mut parsed)
                .map_err(|err| match err {
                    SseError::EventTooLarge { .. } => ResponsesError::EventTooLarge {
                        limit: max_event_bytes,
                    },
                })?;
            round.pending.extend(parsed);
            Ok(())
        }
    }
}

/// The request headers: bearer key, end user, and the stream we expect.
pub(super) fn headers(request: &TurnRequest) -> Result<HeaderMap, ResponsesError> {
    let mut headers = HeaderMap::new();
    let mut bearer = HeaderValue::try_from(format!("Bearer {}", request.api_key.expose()))
        .map_err(|_| ResponsesError::InvalidHeader {
            header: "Authorization",
        })?;
    bearer.set_sensitive(true);
    headers.insert(AUTHORIZATION, bearer);
    if let Some(user) = &request.on_behalf_of {
        let value =
            HeaderValue::try_from(user.as_str()).map_err(|_| ResponsesError::InvalidHeader {
                header: "X-On-Behalf-Of",
            })?;
        headers.insert(ON_BEHALF_OF, value);
    }
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}

/// Classifies a failure to get a response. The first-event timeout wraps `send` from
/// outside, so a timeout reqwest reports itself is the connect timeout.
fn send_error(err: &reqwest::Error, timeouts: super::ResponsesTimeouts) -> ResponsesError {
    if err.is_timeout() {
        ResponsesError::ConnectTimeout(timeouts.connect)
    } else if err.is_connect() {
        ResponsesError::Connect(describe(err))
    } else {
        ResponsesError::Transport(describe(err))
    }
}

/// An error status, with the upstream message when the body has one.
async fn status_error(mut response: reqwest::Response, wait: Duration) -> ResponsesError {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let read = async {
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
    };
    // A body that never arrives must not hold the turn: the status alone is enough.
    let _ = tokio::time::timeout(wait, read).await;
    let (code, message) = error_message(&body);
    ResponsesError::Status {
        status,
        code,
        message: message.unwrap_or_else(|| {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_owned()
        }),
    }
}

/// `(code, message)` from an error body: `{"error": {"message", "code"}}` (the API's
/// shape), `{"message"}`, or else the start of the text.
fn error_message(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        let message = match error {
            Value::String(message) => Some(message.clone()),
            _ => error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        if message.is_some() {
            return (events::code_text(error.get("code")), message);
        }
    }
    let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
    let text = text.trim();
    (None, (!text.is_empty()).then(|| text.to_owned()))
}

/// An error with its causes (reqwest's own message omits them).
pub(super) fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_bodies() {
        assert_eq!(
            error_message(br#"{"error":{"message":"Model overloaded","type":"server_error","code":"overloaded"}}"#),
            (Some("overloaded".into()), Some("Model overloaded".into()))
        );
        assert_eq!(
            error_message(br#"{"message":"bad key"}"#),
            (None, Some("bad key".into()))
        );
        assert_eq!(
            error_message(br#"{"error":"plain"}"#),
            (None, Some("plain".into()))
        );
        assert_eq!(
            error_message(b"<html>502 Bad Gateway</html>"),
            (None, Some("<html>502 Bad Gateway</html>".into()))
        );
        assert_eq!(error_message(b""), (None, None));
        let long = "é".repeat(1000);
        let (_, message) = error_message(long.as_bytes());
        assert_eq!(message.map(|m| m.chars().count()), Some(300));
    }

    #[test]
    fn headers_reject_values_http_cannot_carry() {
        let request = |key: &str, user: Option<&str>| TurnRequest {
            llm: serde_json::Map::new(),
            input: String::new(),
            context: Vec::new(),
            previous_response_id: None,
            api_key: key.into(),
            on_behalf_of: user.map(str::to_owned),
        };
        assert!(headers(&request("key", Some("user-1"))).is_ok());
        assert!(matches!(
            headers(&request("key\nX-Evil: 1", None)),
            Err(ResponsesError::InvalidHeader {
                header: "Authorization"
            })
        ));
        assert!(matches!(
            headers(&request("key", Some("a\r\nb"))),
            Err(ResponsesError::InvalidHeader {
                header: "X-On-Behalf-Of"
            })
        ));
    }
}
