//! The body of `POST /api/v1/llm/speech/livekit/token`, validated as shared/API.md
//! section 4 says.

use serde_json::{Map, Value};

use crate::sealed::SttSettings;

/// Responses API fields the voice agent sets itself each turn.
pub const AGENT_MANAGED_FIELDS: [&str; 5] = ["input", "stream", "store", "background", "webhooks"];
/// Metadata pairs a caller may set: the Responses API accepts 16 and the agent adds
/// `voice_mode`.
pub const MAX_CALLER_METADATA_PAIRS: usize = 15;
/// Longest metadata key, in characters (Responses API limit).
pub const MAX_METADATA_KEY_CHARS: usize = 64;
/// Longest metadata value, in characters (Responses API limit).
pub const MAX_METADATA_VALUE_CHARS: usize = 512;
/// The languages the agent can speak (TTS), so the only ones a session may fix.
pub const TTS_LANGUAGES: [&str; 22] = [
    "en", "zh", "hi", "es", "ar", "bn", "pt", "ru", "ja", "pa", "de", "ko", "fr", "tr", "it", "th",
    "pl", "nl", "id", "vi", "ur", "uk",
];
/// Tool types a voice session may use (`web_search*` covers the web search variants).
pub const TOOL_TYPES: [&str; 12] = [
    "function",
    "custom",
    "mcp",
    "file_search",
    "web_search*",
    "code_interpreter",
    "image_generation",
    "local_shell",
    "shell",
    "agent",
    "history",
    "sleep",
];

/// A validated token request.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    /// The Responses API configuration, every field kept as sent.
    pub llm: Map<String, Value>,
    /// Turn-taking settings.
    pub stt: Option<SttSettings>,
    /// Fixed session language.
    pub language: Option<String>,
}

/// A rule of the request that the body breaks: answered as 400 `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ValidationError {
    /// What is wrong and how to fix it.
    pub message: String,
    /// The offending field (`llm.temperature`), when there is one.
    pub param: Option<String>,
    /// A machine-readable code (`missing_required_parameter`, `invalid_value`, ...).
    pub code: &'static str,
}

impl ValidationError {
    fn new(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.into()),
            code,
        }
    }
}

const MISSING: &str = "missing_required_parameter";
const INVALID_TYPE: &str = "invalid_type";
const INVALID_VALUE: &str = "invalid_value";
const UNSUPPORTED_PARAMETER: &str = "unsupported_parameter";
const UNSUPPORTED_TOOL: &str = "unsupported_tool";

impl TokenRequest {
    /// Validates a JSON body. `null` counts as absent everywhere, as in the Responses API.
    pub fn from_json(body: Value) -> Result<Self, ValidationError> {
        let Value::Object(mut body) = body else {
            return Err(ValidationError {
                message: "The request body must be a JSON object.".into(),
                param: None,
                code: INVALID_TYPE,
            });
        };
        let llm = match body.remove("llm") {
            None | Some(Value::Null) => {
                return Err(ValidationError::new(MISSING, "llm", "`llm` is required."));
            }
            Some(Value::Object(llm)) => llm,
            Some(_) => {
                return Err(ValidationError::new(
                    INVALID_TYPE,
                    "llm",
                    "`llm` must be an object.",
                ));
            }
        };
        validate_llm(&llm)?;
        let stt = match body.remove("stt") {
            None | Some(Value::Null) => None,
            Some(Value::Object(stt)) => Some(validate_stt(&stt)?),
            Some(_) => {
                return Err(ValidationError::new(
                    INVALID_TYPE,
                    "stt",
                    "`stt` must be an object.",
                ));
            }
        };
        let language = match body.remove("language") {
            None | Some(Value::Null) => None,
            Some(value) => Some(validate_language(&value)?),
        };
        Ok(Self { llm, stt, language })
    }
}

fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn validate_llm(llm: &Map<String, Value>) -> Result<(), ValidationError> {
    match present(llm, "model") {
        None => {
            return Err(ValidationError::new(
                MISSING,
                "llm.model",
                "`llm.model` is required.",
            ));
        }
        Some(Value::String(m)) if !m.trim().is_empty() => {}
        Some(_) => {
            return Err(ValidationError::new(
                INVALID_VALUE,
                "llm.model",
                "`llm.model` must be a non-empty string.",
            ));
        }
    }
    for field in AGENT_MANAGED_FIELDS {
        if present(llm, field).is_some() {
            return Err(ValidationError::new(
                UNSUPPORTED_PARAMETER,
                format!("llm.{field}"),
                format!("`llm.{field}` is managed by the voice agent and cannot be set."),
            ));
        }
    }
    check_integer(llm, "llm", "max_tool_calls", 1, 300)?;
    check_number(llm, "llm.temperature", "temperature", 0.0, 2.0)?;
    check_number(llm, "llm.top_p", "top_p", 0.0, 1.0)?;
    if let Some(metadata) = present(llm, "metadata") {
        validate_metadata(metadata)?;
    }
    if let Some(tools) = present(llm, "tools") {
        validate_tools(tools)?;
    }
    Ok(())
}

fn check_integer(
    map: &Map<String, Value>,
    prefix: &str,
    field: &str,
    min: i64,
    max: i64,
) -> Result<Option<u32>, ValidationError> {
    let Some(value) = present(map, field) else {
        return Ok(None);
    };
    match value.as_i64().filter(|n| (min..=max).contains(n)) {
        // The ranges of this API all fit in u32.
        Some(n) => Ok(u32::try_from(n).ok()),
        None => Err(ValidationError::new(
            INVALID_VALUE,
            format!("{prefix}.{field}"),
            format!("`{prefix}.{field}` must be an integer from {min} to {max}."),
        )),
    }
}

fn check_number(
    map: &Map<String, Value>,
    param: &str,
    field: &str,
    min: f64,
    max: f64,
) -> Result<(), ValidationError> {
    let Some(value) = present(map, field) else {
        return Ok(());
    };
    match value.as_f64() {
        Some(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(ValidationError::new(
            INVALID_VALUE,
            param,
            format!("`{param}` must be a number from {min} to {max}."),
        )),
    }
}

fn validate_metadata(metadata: &Value) -> Result<(), ValidationError> {
    let Value::Object(pairs) = metadata else {
        return Err(ValidationError::new(
            INVALID_TYPE,
            "llm.metadata",
            "`llm.metadata` must be an object of string values.",
        ));
    };
    if pairs.len() > MAX_CALLER_METADATA_PAIRS {
        return Err(ValidationError::new(
            INVALID_VALUE,
            "llm.metadata",
            format!(
                "`llm.metadata` has {} pairs; at most {MAX_CALLER_METADATA_PAIRS} are allowed, \
                 because the voice agent adds `voice_mode` and the Responses API accepts 16.",
                pairs.len()
            ),
        ));
    }
    for (key, value) in pairs {
        if key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(ValidationError::new(
                INVALID_VALUE,
                "llm.metadata",
                format!("`llm.metadata` keys must be at most {MAX_METADATA_KEY_CHARS} characters."),
            ));
        }
        let param = format!("llm.metadata.{key}");
        match value {
            Value::String(s) if s.chars().count() <= MAX_METADATA_VALUE_CHARS => {}
            Value::String(_) => {
                return Err(ValidationError::new(
                    INVALID_VALUE,
                    param.clone(),
                    format!("`{param}` must be at most {MAX_METADATA_VALUE_CHARS} characters."),
                ));
            }
            _ => {
                return Err(ValidationError::new(
                    INVALID_TYPE,
                    param.clone(),
                    format!("`{param}` must be a string."),
                ));
            }
        }
    }
    Ok(())
}

fn validate_tools(tools: &Value) -> Result<(), ValidationError> {
    let Value::Array(tools) = tools else {
        return Err(ValidationError::new(
            INVALID_TYPE,
            "llm.tools",
            "`llm.tools` must be an array.",
        ));
    };
    for (i, tool) in tools.iter().enumerate() {
        let Some(tool_type) = tool.get("type").and_then(Value::as_str) else {
            return Err(ValidationError::new(
                INVALID_TYPE,
                format!("llm.tools[{i}]"),
                format!("`llm.tools[{i}]` must be an object with a string `type`."),
            ));
        };
        let param = format!("llm.tools[{i}].type");
        if tool_type == "computer_use_preview" {
            return Err(ValidationError::new(
                UNSUPPORTED_TOOL,
                param,
                "Tool type `computer_use_preview` is not supported in voice sessions.",
            ));
        }
        let known = TOOL_TYPES.iter().any(|t| match t.strip_suffix('*') {
            Some(prefix) => tool_type.starts_with(prefix),
            None => tool_type == *t,
        });
        if !known {
            let shown: String = tool_type.chars().take(64).collect();
            return Err(ValidationError::new(
                UNSUPPORTED_TOOL,
                param,
                format!(
                    "Tool type `{shown}` is not supported; use one of: {}.",
                    TOOL_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn validate_stt(stt: &Map<String, Value>) -> Result<SttSettings, ValidationError> {
    Ok(SttSettings {
        silence_timeout_ms: check_integer(stt, "stt", "silence_timeout_ms", 100, 5000)?,
        initial_silence_timeout_ms: check_integer(
            stt,
            "stt",
            "initial_silence_timeout_ms",
            1000,
            30_000,
        )?,
    })
}

fn validate_language(value: &Value) -> Result<String, ValidationError> {
    match value.as_str() {
        Some(lang) if TTS_LANGUAGES.contains(&lang) => Ok(lang.to_owned()),
        Some("auto") => Err(ValidationError::new(
            INVALID_VALUE,
            "language",
            "`language` cannot be `auto`: omit it to let the agent detect the language.",
        )),
        _ => Err(ValidationError::new(
            INVALID_VALUE,
            "language",
            format!(
                "`language` must be one of {} (or omitted to auto-detect).",
                TTS_LANGUAGES.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn err(body: Value) -> (String, Option<String>, &'static str) {
        let e = TokenRequest::from_json(body).unwrap_err();
        (e.message, e.param, e.code)
    }

    #[test]
    fn a_full_sdk_body_is_accepted_and_kept() {
        let llm = json!({
            "model": "auto", "instructions": "hi", "conversation": null, "parallel_tool_calls": true,
            "max_tool_calls": 64, "truncation": "auto", "service_tier": "auto",
            "temperature": 2, "top_p": 0.0, "reasoning": {"effort": "low"},
            "tools": [{"type": "function", "name": "f"}, {"type": "web_search_preview"}, {"type": "sleep"}],
            "metadata": {"a": "b"}, "brand_new_field": [1, {"x": null}],
        });
        let r = TokenRequest::from_json(json!({
            "llm": llm, "stt": {"silence_timeout_ms": 100, "initial_silence_timeout_ms": 30000},
            "language": "uk", "ignored_top_level": 1,
        }))
        .unwrap();
        assert_eq!(Value::Object(r.llm), llm);
        assert_eq!(
            r.stt,
            Some(SttSettings {
                silence_timeout_ms: Some(100),
                initial_silence_timeout_ms: Some(30000)
            })
        );
        assert_eq!(r.language.as_deref(), Some("uk"));
    }

    #[test]
    fn required_fields() {
        assert_eq!(err(json!([])).0, "The request body must be a JSON object.");
        assert_eq!(
            err(json!({})),
            ("`llm` is required.".into(), Some("llm".into()), MISSING)
        );
        assert_eq!(err(json!({"llm": "gpt"})).0, "`llm` must be an object.");
        assert_eq!(err(json!({"llm": {}})).0, "`llm.model` is required.");
        assert_eq!(
            err(json!({"llm": {"model": ""}})).0,
            "`llm.model` must be a non-empty string."
        );
        assert_eq!(
            err(json!({"llm": {"model": 3}})).0,
            "`llm.model` must be a non-empty string."
        );
    }
}
