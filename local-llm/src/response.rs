//! The Response object and the streaming events, shaped as OpenAI's Responses API sends
//! them so that the official SDKs parse them.

use serde_json::{Value, json};

use crate::error::ApiError;

/// Lifecycle of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Generating.
    InProgress,
    /// The model finished its answer.
    Completed,
    /// `max_output_tokens` ran out first.
    Incomplete,
    /// The model failed.
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
        }
    }
}

/// Token counts of a finished response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens (instructions, history, new input, ChatML markers).
    pub input_tokens: usize,
    /// Prompt tokens whose KV state was reused from the previous generation.
    pub cached_tokens: usize,
    /// Generated tokens.
    pub output_tokens: usize,
}

/// What a response echoes of its request, fixed when it is created.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// `resp_...`
    pub id: String,
    /// `msg_...`, the id of the one output message.
    pub message_id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// As requested.
    pub model: String,
    /// As requested (`null` when absent).
    pub instructions: Option<String>,
    /// As requested.
    pub previous_response_id: Option<String>,
    /// As requested.
    pub conversation: Option<String>,
    /// As requested (or the default).
    pub max_output_tokens: u32,
    /// As used.
    pub temperature: f64,
    /// As used.
    pub top_p: f64,
    /// As requested (`null` when absent).
    pub metadata: Value,
    /// Whether the response is kept for chaining.
    pub store: bool,
}

impl ResponseMeta {
    /// The output message item. `text` None: the item was just added and has no part yet.
    pub fn message_item(&self, status: Status, text: Option<&str>) -> Value {
        let content = match text {
            Some(text) => vec![output_text_part(text)],
            None => Vec::new(),
        };
        json!({
            "id": self.message_id,
            "type": "message",
            "status": status.as_str(),
            "role": "assistant",
            "content": content,
        })
    }

    /// The full Response object. `text` None: no output yet.
    pub fn object(
        &self,
        status: Status,
        text: Option<&str>,
        usage: Option<Usage>,
        error: Option<&ApiError>,
    ) -> Value {
        let output = match text {
            Some(text) => vec![self.message_item(status, Some(text))],
            None => Vec::new(),
        };
        let usage = usage.map(|u| {
            json!({
                "input_tokens": u.input_tokens,
                "input_tokens_details": {"cached_tokens": u.cached_tokens},
                "output_tokens": u.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": u.input_tokens + u.output_tokens,
            })
        });
        let incomplete_details =
            (status == Status::Incomplete).then(|| json!({"reason": "max_output_tokens"}));
        let error = error
            .map(|e| json!({"code": e.code().unwrap_or("server_error"), "message": e.to_string()}));
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status.as_str(),
            "background": false,
            "error": error,
            "incomplete_details": incomplete_details,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": self.previous_response_id,
            "conversation": self.conversation.as_ref().map(|id| json!({"id": id})),
            "reasoning": {"effort": null, "summary": null},
            "store": self.store,
            "temperature": self.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": self.top_p,
            "truncation": "disabled",
            "usage": usage,
            "metadata": if self.metadata.is_null() { json!({}) } else { self.metadata.clone() },
        })
    }
}

/// An `output_text` content part.
pub fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// Numbers the events of one stream (`sequence_number`, from 0).
#[derive(Debug, Default)]
pub struct Sequencer {
    next: u64,
}

impl Sequencer {
    /// An event of `kind` with `fields` (an object) plus `type` and `sequence_number`.
    pub fn event(&mut self, kind: &'static str, fields: Value) -> (&'static str, Value) {
        let mut event = match fields {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        event.insert("type".into(), kind.into());
        event.insert("sequence_number".into(), self.next.into());
        self.next += 1;
        (kind, Value::Object(event))
    }
}
