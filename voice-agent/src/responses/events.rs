//! The Responses streaming events this client acts on, decoded from SSE events.
//!
//! Only the types that drive a voice turn are decoded (API.md section 6). Other types
//! (`response.in_progress`, content parts, reasoning, hosted tool progress, ...) and
//! unknown future types are skipped. An event of a type decoded here that does not have
//! the fields this client needs is an error: acting on half an event would say or chain
//! the wrong thing.

use serde::Deserialize;
use serde_json::Value;

use super::ResponsesError;
use super::sse::SseEvent;

/// One decoded streaming event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEvent {
    /// `response.created`: the id of the response being streamed.
    Created { response_id: String },
    /// `response.output_text.delta` (or `response.refusal.delta`: a refusal is spoken
    /// like any other answer).
    TextDelta { part: TextPart, delta: String },
    /// `response.output_text.done` (or `response.refusal.done`): the part's whole text.
    TextDone { part: TextPart, text: String },
    /// `response.output_item.added`.
    ItemAdded(OutputItem),
    /// `response.output_item.done`.
    ItemDone(OutputItem),
    /// `response.function_call_arguments.delta`.
    ArgumentsDelta { item_id: String, delta: String },
    /// `response.function_call_arguments.done`.
    ArgumentsDone { item_id: String, arguments: String },
    /// `response.completed`.
    Completed(ResponseBody),
    /// `response.incomplete`: it ended early (token limit, content filter).
    Incomplete(ResponseBody),
    /// `response.failed`.
    Failed(ResponseBody),
    /// `error`.
    Error {
        code: Option<String>,
        message: String,
    },
    /// Any other type, or a `[DONE]` sentinel.
    Ignored,
}

/// Which text part a text event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TextPart {
    pub item_id: String,
    pub content_index: u64,
}

/// The fields of a response object this client uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ResponseBody {
    pub id: String,
    #[serde(default)]
    pub output: Vec<OutputItem>,
    #[serde(default)]
    pub error: Option<ApiError>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
}

/// An `error` object (in `response.failed`, or nested in an `error` event).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Why a response is incomplete.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct IncompleteDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

/// An output item, as far as this client cares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum OutputItem {
    /// A call of a function tool: the client must answer it.
    #[serde(rename = "function_call")]
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        arguments: Option<String>,
    },
    /// A call of a custom (free-form input) tool: the client must answer it.
    #[serde(rename = "custom_tool_call")]
    CustomToolCall {
        call_id: String,
        name: String,
        #[serde(default)]
        id: Option<String>,
    },
    /// Client-side tools whose outputs have shapes of their own, which this client
    /// does not send.
    #[serde(rename = "local_shell_call")]
    LocalShellCall,
    /// See [`OutputItem::LocalShellCall`].
    #[serde(rename = "shell_call")]
    ShellCall,
    /// See [`OutputItem::LocalShellCall`].
    #[serde(rename = "computer_call")]
    ComputerCall,
    /// See [`OutputItem::LocalShellCall`].
    #[serde(rename = "apply_patch_call")]
    ApplyPatchCall,
    /// Messages, reasoning, hosted tool calls (run upstream): nothing to answer.
    #[serde(other)]
    Other,
}

impl OutputItem {
    /// The item's type when it is a client-side call this client cannot answer.
    pub fn unanswerable_call(&self) -> Option<&'static str> {
        match self {
            Self::LocalShellCall => Some("local_shell_call"),
            Self::ShellCall => Some("shell_call"),
            Self::ComputerCall => Some("computer_call"),
            Self::ApplyPatchCall => Some("apply_patch_call"),
            _ => None,
        }
    }
}

/// The wire shapes of the decoded types.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Wire {
    #[serde(rename = "response.created")]
    Created { response: CreatedResponse },
    #[serde(
        rename = "response.output_text.delta",
        alias = "response.refusal.delta"
    )]
    TextDelta {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        delta: String,
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        #[serde(default)]
        text: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        #[serde(default)]
        refusal: String,
    },
    #[serde(rename = "response.output_item.added")]
    ItemAdded { item: OutputItem },
    #[serde(rename = "response.output_item.done")]
    ItemDone { item: OutputItem },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta { item_id: String, delta: String },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: String,
        #[serde(default)]
        arguments: String,
    },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseBody },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseBody },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseBody },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        code: Option<Value>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<ApiError>,
    },
}

/// `response.created` needs only the id.
#[derive(Deserialize)]
struct CreatedResponse {
    id: String,
}

/// The event types decoded into [`Wire`].
const DECODED: &[&str] = &[
    "response.created",
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

/// An error's `code`, which the API sends as a string (sometimes a number or null).
pub(crate) fn code_text(code: Option<&Value>) -> Option<String> {
    match code? {
        Value::Null => None,
        Value::String(code) => Some(code.clone()),
        other => Some(other.to_string()),
    }
}

impl ApiError {
    /// `(code, message)`, with a fallback message.
    pub fn parts(&self, fallback: &str) -> (Option<String>, String) {
        let message = self
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| fallback.to_owned());
        (code_text(self.code.as_ref()), message)
    }
}

/// Decodes one SSE event.
pub(crate) fn decode(sse: &SseEvent) -> Result<StreamEvent, ResponsesError> {
    let data = sse.data.trim();
    // The API sends no `[DONE]`, but OpenAI-compatible proxies sometimes do.
    if data == "[DONE]" {
        return Ok(StreamEvent::Ignored);
    }
    let named_type = sse.event.as_deref();
    let mut value: Value = match serde_json::from_str(data) {
        Ok(value) => value,
        Err(err) => {
            return match named_type {
                Some(name) if DECODED.contains(&name) => Err(ResponsesError::MalformedEvent {
                    event_type: name.to_owned(),
                    reason: format!("data is not JSON: {err}"),
                }),
                // Not a type this client acts on: nothing depends on it.
                _ => {
                    tracing::debug!(event = ?named_type, "skipping a non-JSON event");
                    Ok(StreamEvent::Ignored)
                }
            };
        }
    };
    // `type` in the data is authoritative; the `event:` line stands in when it is absent.
    if let (Value::Object(map), Some(name)) = (&mut value, named_type) {
        map.entry("type")
            .or_insert_with(|| Value::String(name.to_owned()));
    }
    let Some(event_type) = value.get("type").and_then(Value::as_str) else {
        tracing::debug!(event = ?named_type, "skipping an event without a type");
        return Ok(StreamEvent::Ignored);
    };
    if !DECODED.contains(&event_type) {
        return Ok(StreamEvent::Ignored);
    }
    let event_type = event_type.to_owned();
    let wire: Wire =
        serde_json::from_value(value).map_err(|err| ResponsesError::MalformedEvent {
            event_type,
            reason: err.to_string(),
        })?;
    Ok(match wire {
        Wire::Created { response } => StreamEvent::Created {
            response_id: response.id,
        },
        Wire::TextDelta {
            item_id,
            content_index,
            delta,
        } => StreamEvent::TextDelta {
            part: TextPart {
                item_id,
                content_index,
            },
            delta,
        },
        Wire::TextDone {
            item_id,
            content_index,
            text,
        }
        | Wire::RefusalDone {
            item_id,
            content_index,
            refusal: text,
        } => StreamEvent::TextDone {
            part: TextPart {
                item_id,
                content_index,
            },
            text,
        },
        Wire::ItemAdded { item } => StreamEvent::ItemAdded(item),
        Wire::ItemDone { item } => StreamEvent::ItemDone(item),
        Wire::ArgumentsDelta { item_id, delta } => StreamEvent::ArgumentsDelta { item_id, delta },
        Wire::ArgumentsDone { item_id, arguments } => {
            StreamEvent::ArgumentsDone { item_id, arguments }
        }
        Wire::Completed { response } => StreamEvent::Completed(response),
        Wire::Incomplete { response } => StreamEvent::Incomplete(response),
        Wire::Failed { response } => StreamEvent::Failed(response),
        Wire::Error {
            code,
            message,
            error,
        } => {
            // OpenAI puts `code`/`message` at the top level; some servers nest them.
            let (nested_code, nested_message) = error
                .map(|e| (code_text(e.code.as_ref()), e.message))
                .unwrap_or_default();
            StreamEvent::Error {
                code: code_text(code.as_ref()).or(nested_code),
                message: message
                    .or(nested_message)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "unspecified error".to_owned()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sse(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn openai_text_delta() {
        let event = decode(&sse(
            Some("response.output_text.delta"),
            r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel","logprobs":[]}"#,
        ))
        .unwrap();
        assert_eq!(
            event,
            StreamEvent::TextDelta {
                part: TextPart {
                    item_id: "msg_1".into(),
                    content_index: 0
                },
                delta: "Hel".into()
            }
        );
    }

    #[test]
    fn function_call_item() {
        let event = decode(&sse(
            Some("response.output_item.done"),
            r#"{"type":"response.output_item.done","sequence_number":9,"output_index":0,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"call_1","name":"get_weather"}}"#,
        ))
        .unwrap();
        let StreamEvent::ItemDone(item) = event else {
            panic!("{event:?}")
        };
        assert!(
            matches!(&item, OutputItem::FunctionCall { call_id, name, .. } if call_id == "call_1" && name == "get_weather"),
            "{item:?}"
        );
    }

    #[test]
    fn hosted_and_message_items_need_no_answer() {
        for item in [
            r#"{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}"#,
            r#"{"id":"ws_1","type":"web_search_call","status":"completed"}"#,
            r#"{"id":"x","type":"some_future_item"}"#,
        ] {
            let data = format!(r#"{{"type":"response.output_item.added","item":{item}}}"#);
            let event = decode(&sse(None, &data)).unwrap();
            assert_eq!(event, StreamEvent::ItemAdded(OutputItem::Other), "{item}");
        }
        let data = r#"{"type":"response.output_item.done","item":{"type":"local_shell_call","call_id":"c"}}"#;
        assert_eq!(
            decode(&sse(None, data)).unwrap(),
            StreamEvent::ItemDone(OutputItem::LocalShellCall)
        );
    }

    #[test]
    fn error_event_top_level_and_nested() {
        let top = decode(&sse(
            Some("error"),
            r#"{"type":"error","code":"rate_limit_exceeded","message":"Slow down","param":null,"sequence_number":1}"#,
        ))
        .unwrap();
        assert_eq!(
            top,
            StreamEvent::Error {
                code: Some("rate_limit_exceeded".into()),
                message: "Slow down".into()
            }
        );
        let nested = decode(&sse(
            Some("error"),
            r#"{"error":{"code":"server_error","message":"Boom"}}"#,
        ))
        .unwrap();
        assert_eq!(
            nested,
            StreamEvent::Error {
                code: Some("server_error".into()),
                message: "Boom".into()
            }
        );
    }

    #[test]
    fn failed_response_carries_its_error() {
        let event = decode(&sse(
            None,
            r#"{"type":"response.failed","response":{"id":"resp_1","status":"failed","output":[],"error":{"code":"server_error","message":"The model crashed"}}}"#,
        ))
        .unwrap();
        let StreamEvent::Failed(response) = event else {
            panic!("{event:?}")
        };
        let error = response.error.unwrap();
        assert_eq!(
            error.parts("x"),
            (Some("server_error".into()), "The model crashed".into())
        );
    }

    #[test]
    fn unknown_types_done_and_garbage_on_unknown_types_are_skipped() {
        for (event, data) in [
            (
                Some("response.in_progress"),
                r#"{"type":"response.in_progress","response":{}}"#,
            ),
            (None, "[DONE]"),
            (None, " [DONE] "),
            (Some("keepalive"), "not json"),
            (None, "not json"),
            (None, r#"{"no_type":true}"#),
            (None, "[1,2]"),
        ] {
            assert_eq!(
                decode(&sse(event, data)).unwrap(),
                StreamEvent::Ignored,
                "{data}"
            );
        }
    }

    #[test]
    fn known_types_with_bad_data_are_errors() {
        for (event, data) in [
            (Some("response.output_text.delta"), "{not json"),
            (
                None,
                r#"{"type":"response.output_text.delta","item_id":"m"}"#,
            ),
            (None, r#"{"type":"response.created","response":{}}"#),
            (None, r#"{"type":"response.completed"}"#),
            (
                None,
                r#"{"type":"response.output_item.done","item":{"type":"function_call","name":"f"}}"#,
            ),
            (
                None,
                r#"{"type":"response.output_text.delta","item_id":"m","delta":5}"#,
            ),
        ] {
            let err = decode(&sse(event, data)).unwrap_err();
            assert!(
                matches!(err, ResponsesError::MalformedEvent { .. }),
                "{data}: {err:?}"
            );
        }
    }

    #[test]
    fn event_name_stands_in_for_a_missing_type() {
        let event = decode(&sse(
            Some("response.created"),
            r#"{"response":{"id":"resp_9"}}"#,
        ))
        .unwrap();
        assert_eq!(
            event,
            StreamEvent::Created {
                response_id: "resp_9".into()
            }
        );
    }
}
