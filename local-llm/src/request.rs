//! Parsing a `POST /responses` body into what the provider acts on.
//!
//! The body is read as a JSON value and checked field by field (rather than derived with
//! serde) so that every rejection names the field, as OpenAI's errors do. Fields the
//! provider cannot act on (`tools`, `tool_choice`, `reasoning`, `text`, ...) are accepted
//! and ignored: the voice agent forwards a whole session config, and SmolLM2-135M cannot
//! call tools anyway.

use serde_json::{Map, Value};

use crate::chat::{ChatMessage, Role};
use crate::error::ApiError;

/// Output budget when the request names none: a spoken answer is a sentence or two.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 256;
/// Sampling temperature when the request names none. SmolLM2's model card samples at
/// 0.2; OpenAI's default of 1.0 makes a 135M model ramble.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;
/// Nucleus sampling mass when the request names none (SmolLM2's model card: 0.9).
pub const DEFAULT_TOP_P: f64 = 0.9;
/// Longest accepted id (`previous_response_id`, conversation id).
const MAX_ID_LEN: usize = 256;

/// A validated `POST /responses` request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// Echoed back; any model name is served by the one local model.
    pub model: String,
    /// New turns, in order.
    pub input: Vec<ChatMessage>,
    /// The system prompt for this turn only (OpenAI does not carry it along a chain).
    pub instructions: Option<String>,
    /// The response this one continues.
    pub previous_response_id: Option<String>,
    /// The named conversation this response is appended to.
    pub conversation: Option<String>,
    /// Upper bound on generated tokens.
    pub max_output_tokens: u32,
    /// Sampling temperature (0 = greedy). Kept as given (f64) so that it is echoed
    /// exactly; the sampler takes it as f32.
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Penalty on tokens by how often they already appeared (-2..2, 0: off).
    pub frequency_penalty: f64,
    /// Penalty on tokens that already appeared at all (-2..2, 0: off).
    pub presence_penalty: f64,
    /// Answer as Server-Sent Events.
    pub stream: bool,
    /// Keep the response so that a later one can chain to it.
    pub store: bool,
    /// Echoed back (`null` when absent).
    pub metadata: Value,
}

impl CreateRequest {
    /// Parses and validates a request body.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest {
            message: format!("The request body is not valid JSON: {e}"),
            param: None,
        })?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidRequest {
                message: "The request body must be a JSON object.".into(),
                param: None,
            });
        };
        let field = |name: &str| fields.get(name).filter(|v| !v.is_null());

        let model = match field("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "model",
                    "'model' must be a non-empty string.",
                ));
            }
            None => {
                return Err(ApiError::invalid(
                    "model",
                    "Missing required parameter: 'model'.",
                ));
            }
        };
        let input = match field("input") {
            Some(v) => parse_input(v)?,
            None => Vec::new(),
        };
        let instructions = optional_string(field("instructions"), "instructions")?;
        let previous_response_id =
            optional_id(field("previous_response_id"), "previous_response_id")?;
        let conversation = match field("conversation") {
            None => None,
            Some(Value::Object(c)) => optional_id(c.get("id"), "conversation")?,
            Some(v) => optional_id(Some(v), "conversation")?,
        };
        if previous_response_id.is_some() && conversation.is_some() {
            return Err(ApiError::invalid(
                "conversation",
                "'previous_response_id' and 'conversation' cannot be used together.",
            ));
        }
        if input.is_empty() && previous_response_id.is_none() && conversation.is_none() {
            return Err(ApiError::invalid(
                "input",
                "Missing required parameter: 'input'.",
            ));
        }
        let max_output_tokens = match field("max_output_tokens") {
            None => DEFAULT_MAX_OUTPUT_TOKENS,
            Some(v) => v
                .as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "max_output_tokens",
                        "'max_output_tokens' must be a positive integer.",
                    )
                })?,
        };
        let temperature = number_in(field("temperature"), "temperature", 0.0, 2.0)?
            .unwrap_or(DEFAULT_TEMPERATURE);
        let top_p = number_in(field("top_p"), "top_p", 0.0, 1.0)?.unwrap_or(DEFAULT_TOP_P);
        let frequency_penalty =
            number_in(field("frequency_penalty"), "frequency_penalty", -2.0, 2.0)?.unwrap_or(0.0);
        let presence_penalty =
            number_in(field("presence_penalty"), "presence_penalty", -2.0, 2.0)?.unwrap_or(0.0);
        let stream = optional_bool(field("stream"), "stream")?.unwrap_or(false);
        let store = optional_bool(field("store"), "store")?.unwrap_or(true);
        let metadata = match field("metadata") {
            None => Value::Null,
            Some(Value::Object(m)) if m.values().all(Value::is_string) => Value::Object(m.clone()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "metadata",
                    "'metadata' must be an object whose values are strings.",
                ));
            }
        };
        Ok(Self {
            model,
            input,
            instructions,
            previous_response_id,
            conversation,
            max_output_tokens,
            temperature,
            top_p,
            frequency_penalty,
            presence_penalty,
            stream,
            store,
            metadata,
        })
    }
}

fn optional_string(v: Option<&Value>, param: &'static str) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(
            param,
            format!("'{param}' must be a string."),
        )),
    }
}

fn optional_id(v: Option<&Value>, param: &'static str) -> Result<Option<String>, ApiError> {
    match optional_string(v, param)? {
        Some(id) if id.is_empty() || id.len() > MAX_ID_LEN => Err(ApiError::invalid(
            param,
            format!("'{param}' must be a non-empty id of at most {MAX_ID_LEN} characters."),
        )),
        other => Ok(other),
    }
}

fn optional_bool(v: Option<&Value>, param: &'static str) -> Result<Option<bool>, ApiError> {
    match v {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            param,
            format!("'{param}' must be a boolean."),
        )),
    }
}

fn number_in(
    v: Option<&Value>,
    param: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ApiError> {
    match v {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
            _ => Err(ApiError::invalid(
                param,
                format!("'{param}' must be a number between {min} and {max}."),
            )),
        },
    }
}

/// `input`: a string (one user turn) or a list of items.
fn parse_input(v: &Value) -> Result<Vec<ChatMessage>, ApiError> {
    match v {
        Value::String(text) => Ok(vec![ChatMessage::new(Role::User, clean(text))]),
        Value::Array(items) => items.iter().map(parse_item).collect(),
        _ => Err(ApiError::invalid(
            "input",
            "'input' must be a string or an array of items.",
        )),
    }
}

/// One input item: a message (`{role, content}`, with or without `type: "message"`), a
/// `function_call` the assistant made earlier, or a `function_call_output`.
fn parse_item(item: &Value) -> Result<ChatMessage, ApiError> {
    let Value::Object(item) = item else {
        return Err(ApiError::invalid(
            "input",
            "Each input item must be an object.",
        ));
    };
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => parse_message(item),
        "function_call_output" => {
            let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => content_text(parts)?,
                _ => {
                    return Err(ApiError::invalid(
                        "input",
                        "A 'function_call_output' item needs a string 'output'.",
                    ));
                }
            };
            Ok(ChatMessage::new(
                Role::Tool,
                clean(&format!("Result of call {call_id}: {output}")),
            ))
        }
        "function_call" => {
            let name = item.get("name").and_then(Value::as_str).unwrap_or("");
            let arguments = item
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            Ok(ChatMessage::new(
                Role::Assistant,
                clean(&format!("(called {name} with {arguments})")),
            ))
        }
        other => Err(ApiError::invalid(
            "input",
            format!("Input items of type '{other}' are not supported by the local model."),
        )),
    }
}

fn parse_message(item: &Map<String, Value>) -> Result<ChatMessage, ApiError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system" | "developer") => Role::System,
        Some(other) => {
            return Err(ApiError::invalid(
                "input",
                format!("Unknown message role '{other}'."),
            ));
        }
        None => return Err(ApiError::invalid("input", "A message item needs a 'role'.")),
    };
    let content = match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => content_text(parts)?,
        _ => {
            return Err(ApiError::invalid(
                "input",
                "A message's 'content' must be a string or an array of text parts.",
            ));
        }
    };
    Ok(ChatMessage::new(role, clean(&content)))
}

/// Concatenated text of `input_text` / `output_text` parts; other modalities are refused
/// rather than silently dropped, so the caller knows the model never saw them.
fn content_text(parts: &[Value]) -> Result<String, ApiError> {
    let mut text = String::new();
    for part in parts {
        let kind = part.get("type").and_then(Value::as_str);
        match (kind, part.get("text")) {
            (Some("input_text" | "output_text" | "text"), Some(Value::String(t))) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(t);
            }
            (Some("refusal"), _) => {}
            (Some(other), _) if !other.ends_with("_text") && other != "text" => {
                return Err(ApiError::invalid(
                    "input",
                    format!(
                        "Content parts of type '{other}' are not supported by the local model."
                    ),
                ));
            }
            _ => {
                return Err(ApiError::invalid(
                    "input",
                    "Each content part needs a 'type' and a string 'text'.",
                ));
            }
        }
    }
    Ok(text)
}

/// NUL bytes cannot reach llama.cpp's C strings and mean nothing in speech: drop them.
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: Value) -> Result<CreateRequest, ApiError> {
        CreateRequest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn string_input_is_one_user_turn_with_defaults() {
        let r = parse(serde_json::json!({"model": "m", "input": "hi"})).unwrap();
        assert_eq!(r.input, vec![ChatMessage::new(Role::User, "hi")]);
        assert_eq!(r.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS);
        assert!(!r.stream);
        assert!(r.store);
        assert_eq!(r.metadata, Value::Null);
    }

    #[test]
    fn message_items_and_tool_outputs() {
        let r = parse(serde_json::json!({
            "model": "m",
            "conversation": {"id": "conv_1"},
            "input": [
                {"role": "developer", "content": "be brief"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"}
            ]
        }))
        .unwrap();
        assert_eq!(r.conversation.as_deref(), Some("conv_1"));
        assert_eq!(r.input[0], ChatMessage::new(Role::System, "be brief"));
        assert_eq!(r.input[1], ChatMessage::new(Role::User, "a\nb"));
        assert_eq!(r.input[2].role, Role::Assistant);
        assert_eq!(
            r.input[3],
            ChatMessage::new(Role::Tool, "Result of call c1: 42")
        );
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (serde_json::json!({"input": "x"}), "model"),
            (serde_json::json!({"model": "m"}), "input"),
            (serde_json::json!({"model": "m", "input": 3}), "input"),
            (
                serde_json::json!({"model": "m", "input": "x", "temperature": 3}),
                "temperature",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "top_p": -1}),
                "top_p",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "max_output_tokens": 0}),
                "max_output_tokens",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "stream": "yes"}),
                "stream",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "metadata": {"a": 1}}),
                "metadata",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
                "input",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
                "input",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "previous_response_id": "a", "conversation": "b"}),
                "conversation",
            ),
        ];
        for (body, param) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert_eq!(err.body()["param"], param, "{body}: {err}");
        }
        let err = CreateRequest::parse(b"{not json").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn nul_bytes_are_dropped() {
        let r = parse(serde_json::json!({"model": "m", "input": "a\u{0}b"})).unwrap();
        assert_eq!(r.input[0].content, "ab");
    }
}
