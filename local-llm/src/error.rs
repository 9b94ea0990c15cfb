//! Every way a request can fail, and the one place that maps it to an HTTP status and an
//! OpenAI-style JSON error body (`{"error": {"message", "type", "param", "code"}}`), so
//! that the official SDKs raise their usual typed exceptions.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client is told to wait when every generation slot is taken. One short
/// spoken answer takes well under a second here, so a retry after one second usually
/// finds the queue drained.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A failed request, typed by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a field has the wrong shape or an out-of-range value.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, for a person.
        message: String,
        /// The offending field, when there is one.
        param: Option<&'static str>,
    },
    /// `previous_response_id` names a response this server does not hold (never made,
    /// made with `store: false`, or evicted from the bounded store).
    #[error("Previous response with id '{0}' not found.")]
    PreviousResponseNotFound(String),
    /// The prompt alone (instructions plus the newest input) does not fit the context.
    #[error(
        "The input is {prompt_tokens} tokens, more than the {limit} tokens this model's context leaves for it."
    )]
    ContextLengthExceeded {
        /// Tokens the shortest possible prompt needs.
        prompt_tokens: usize,
        /// Tokens available for the prompt.
        limit: usize,
    },
    /// The body is larger than the server accepts.
    #[error("The request body is larger than {limit} bytes.")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The generation queue is full.
    #[error("The local model is busy with other requests; retry shortly.")]
    Busy,
    /// No route at this path.
    #[error("No route for {0}.")]
    NotFound(String),
    /// The model failed (llama.cpp decode error) or the generation thread is gone.
    #[error("The local model failed: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 for a field that has the wrong shape or value.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param),
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::ContextLengthExceeded { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::PreviousResponseNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Busy => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. }
            | Self::PreviousResponseNotFound(_)
            | Self::ContextLengthExceeded { .. }
            | Self::PayloadTooLarge { .. }
            | Self::NotFound(_) => "invalid_request_error",
            Self::Busy => "rate_limit_error",
            Self::Internal(_) => "server_error",
        }
    }

    /// OpenAI's `error.code`, a stable identifier a program can branch on.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest { .. } => None,
            Self::PreviousResponseNotFound(_) => Some("previous_response_not_found"),
            Self::ContextLengthExceeded { .. } => Some("context_length_exceeded"),
            Self::PayloadTooLarge { .. } => Some("request_too_large"),
            Self::Busy => Some("rate_limit_exceeded"),
            Self::NotFound(_) => Some("not_found"),
            Self::Internal(_) => Some("server_error"),
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest { param, .. } => *param,
            Self::PreviousResponseNotFound(_) => Some("previous_response_id"),
            Self::ContextLengthExceeded { .. } => Some("input"),
            _ => None,
        }
    }

    /// The JSON `error` object, also used as the payload of a streamed `error` event.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "message": self.to_string(),
            "type": self.kind(),
            "param": self.param(),
            "code": self.code(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let mut response =
            (self.status(), axum::Json(json!({ "error": self.body() }))).into_response();
        if matches!(self, Self::Busy) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
