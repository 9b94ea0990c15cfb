//! The JSON body of one Responses request.

use serde_json::{Map, Value, json};

/// The most metadata pairs the Responses API accepts.
pub const MAX_METADATA_PAIRS: usize = 16;
/// The metadata key (and value) that marks a request as coming from a voice session.
pub const VOICE_MODE_KEY: &str = "voice_mode";

/// What one request sends as `input`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The user's words (a turn's first request).
    UserText(String),
    /// Context items, then the user's words as a user message.
    UserTurn { context: Vec<Value>, text: String },
    /// Answers to the previous response's tool calls (a follow-up request).
    ToolOutputs(Vec<ToolOutput>),
}

/// The answer to one tool call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolOutput {
    /// `function_call_output` or `custom_tool_call_output`.
    pub item_type: &'static str,
    /// The call it answers.
    pub call_id: String,
    /// The text the model reads as the tool's result.
    pub output: String,
}

/// Builds the body: the session's `llm` config as given (fields this client does not
/// know are kept), with `input`, `stream: true`, `metadata.voice_mode` and the chaining
/// field set.
///
/// Chaining: when `llm` has a `conversation`, the conversation carries the context and
/// `previous_response_id` is never sent (the API rejects both together). Otherwise
/// `previous_response_id` (when given) replaces any in `llm`.
pub(crate) fn body(
    llm: &Map<String, Value>,
    input: &Input,
    previous_response_id: Option<&str>,
) -> Map<String, Value> {
    let mut body = llm.clone();
    body.insert(
        "input".to_owned(),
        match input {
            Input::UserText(text) => Value::String(text.clone()),
            Input::UserTurn { context, text } => Value::Array(
                context
                    .iter()
                    .cloned()
                    .chain([json!({"role": "user", "content": text})])
                    .collect(),
            ),
            Input::ToolOutputs(outputs) => Value::Array(
                outputs
                    .iter()
                    .map(|o| json!({"type": o.item_type, "call_id": o.call_id, "output": o.output}))
                    .collect(),
            ),
        },
    );
    body.insert("stream".to_owned(), Value::Bool(true));
    body.insert(
        "metadata".to_owned(),
        Value::Object(metadata(llm.get("metadata"))),
    );
    if has_conversation(llm) {
        body.remove("previous_response_id");
    } else if let Some(id) = previous_response_id {
        body.insert(
            "previous_response_id".to_owned(),
            Value::String(id.to_owned()),
        );
    }
    body
}

/// Whether the config chains through a `conversation` (a non-null one).
pub(crate) fn has_conversation(llm: &Map<String, Value>) -> bool {
    llm.get("conversation").is_some_and(|c| !c.is_null())
}

/// The caller's metadata plus `voice_mode = "true"`, within the API's 16 pairs.
fn metadata(caller: Option<&Value>) -> Map<String, Value> {
    let mut metadata = match caller {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Null) | None => Map::new(),
        Some(other) => {
            tracing::warn!(kind = %json_kind(other), "llm.metadata is not an object; replacing it");
            Map::new()
        }
    };
    metadata.remove(VOICE_MODE_KEY);
    if metadata.len() >= MAX_METADATA_PAIRS {
        // The token service admits at most 15 caller pairs, so this only happens with a
        // config from elsewhere. Dropping pairs beats failing every turn of the session.
        let keep = MAX_METADATA_PAIRS - 1;
        tracing::warn!(
            pairs = metadata.len(),
            keep,
            "llm.metadata has too many pairs for voice_mode; dropping the last ones"
        );
        let extra: Vec<String> = metadata.keys().skip(keep).cloned().collect();
        for key in extra {
            metadata.remove(&key);
        }
    }
    metadata.insert(VOICE_MODE_KEY.to_owned(), Value::String("true".to_owned()));
    metadata
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn llm(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn keeps_unknown_fields_and_sets_managed_ones() {
        let config = llm(json!({
            "model": "meetkai:functionary-pt",
            "instructions": "Be brief.",
            "x_future_field": {"a": [1, 2]},
            "metadata": {"team": "blue"},
            "stream": false,
            "input": "stale"
        }));
        let body = body(&config, &Input::UserText("hello".into()), Some("resp_1"));
        assert_eq!(
            Value::Object(body),
            json!({
                "model": "meetkai:functionary-pt",
                "instructions": "Be brief.",
                "x_future_field": {"a": [1, 2]},
                "metadata": {"team": "blue", "voice_mode": "true"},
                "stream": true,
                "input": "hello",
                "previous_response_id": "resp_1"
            })
        );
    }

    #[test]
    fn conversation_excludes_previous_response_id() {
        let config = llm(json!({
            "model": "m",
            "conversation": {"id": "conv_1"},
            "previous_response_id": "resp_0"
        }));
        let body = body(&config, &Input::UserText("hi".into()), Some("resp_1"));
        assert!(!body.contains_key("previous_response_id"));
        assert_eq!(body["conversation"], json!({"id": "conv_1"}));
    }

    #[test]
    fn configured_previous_response_id_is_kept_for_the_first_turn_and_replaced_later() {
        let config = llm(json!({"model": "m", "previous_response_id": "resp_0"}));
        let first = body(&config, &Input::UserText("hi".into()), None);
        assert_eq!(first["previous_response_id"], "resp_0");
        let later = body(&config, &Input::UserText("hi".into()), Some("resp_5"));
        assert_eq!(later["previous_response_id"], "resp_5");
    }

    #[test]
    fn context_items_come_before_the_user_message() {
        let config = Map::new();
        let note = json!({"role": "developer", "content": "They heard only: \"Paris\""});
        let input = Input::UserTurn {
            context: vec![note.clone()],
            text: "and Spain?".into(),
        };
        let body = body(&config, &input, Some("resp_2"));
        assert_eq!(
            body["input"],
            json!([note, {"role": "user", "content": "and Spain?"}])
        );
        assert_eq!(body["previous_response_id"], "resp_2");
    }

    #[test]
    fn tool_outputs_are_input_items() {
        let config = llm(json!({"model": "m"}));
        let input = Input::ToolOutputs(vec![ToolOutput {
            item_type: "function_call_output",
            call_id: "call_1".into(),
            output: "no".into(),
        }]);
        let body = body(&config, &input, Some("resp_1"));
        assert_eq!(
            body["input"],
            json!([{"type": "function_call_output", "call_id": "call_1", "output": "no"}])
        );
    }

    #[test]
    fn metadata_never_exceeds_sixteen_pairs() {
        let mut caller = Map::new();
        for i in 0..20 {
            caller.insert(format!("k{i:02}"), Value::String("v".into()));
        }
        let config = llm(json!({"model": "m", "metadata": caller}));
        let body = super::body(&config, &Input::UserText("x".into()), None);
        let metadata = body["metadata"].as_object().unwrap();
        assert_eq!(metadata.len(), MAX_METADATA_PAIRS);
        assert_eq!(metadata[VOICE_MODE_KEY], "true");
        // 15 caller pairs fit exactly, and a caller's own voice_mode is overridden.
        let mut caller = Map::new();
        for i in 0..15 {
            caller.insert(format!("k{i:02}"), Value::String("v".into()));
        }
        caller.insert(VOICE_MODE_KEY.into(), Value::String("false".into()));
        let config = llm(json!({"model": "m", "metadata": caller}));
        let body = super::body(&config, &Input::UserText("x".into()), None);
        let metadata = body["metadata"].as_object().unwrap();
        assert_eq!(metadata.len(), 16);
        assert_eq!(metadata[VOICE_MODE_KEY], "true");
        assert!(metadata.contains_key("k14"));
    }

    #[test]
    fn non_object_metadata_is_replaced() {
        for bad in [json!(null), json!("x"), json!([1])] {
            let config = llm(json!({"model": "m", "metadata": bad}));
            let body = body(&config, &Input::UserText("x".into()), None);
            assert_eq!(body["metadata"], json!({"voice_mode": "true"}));
        }
    }
}
