//! The JSON error body of every endpoint, and the one place that maps an error kind to
//! its HTTP status.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What went wrong, as far as the HTTP client is concerned. Each kind has exactly one
/// status, error `type` and default `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: malformed request or a parameter out of range.
    BadRequest,
    /// 401: missing or wrong API key.
    Unauthorized,
    /// 404: no such route or record (also for another caller's record).
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 413: the request body is over the endpoint's limit.
    PayloadTooLarge,
    /// 415: the body is not in a format the endpoint accepts.
    UnsupportedMediaType,
    /// 422: well-formed, but the content (e.g. audio) cannot be processed.
    Unprocessable,
    /// 429: overloaded; the client should retry after `Retry-After` seconds.
    Overloaded,
    /// 500: a bug or an unexpected failure on the server side.
    Internal,
    /// 503: a needed component is not available now; retry after `Retry-After` seconds.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error.type` field (the names OpenAI-style clients know).
    pub const fn error_type(self) -> &'static str {
        match self {
            Self::BadRequest
            | Self::MethodNotAllowed
            | Self::PayloadTooLarge
            | Self::UnsupportedMediaType
            | Self::Unprocessable => "invalid_request_error",
            Self::Unauthorized => "authentication_error",
            Self::NotFound => "not_found_error",
            Self::Overloaded => "rate_limit_error",
            Self::Internal => "server_error",
            Self::Unavailable => "service_unavailable_error",
        }
    }

    /// The `error.code` used when the error does not set a more specific one.
    pub const fn default_code(self) -> &'static str {
        match self {
            Self::BadRequest => "invalid_request",
            Self::Unauthorized => "invalid_api_key",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unprocessable => "unprocessable_entity",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal_error",
            Self::Unavailable => "service_unavailable",
        }
    }

    /// Whether the status tells the client to come back later (429, 503): those responses
    /// carry `Retry-After`, which the official SDKs honour.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Overloaded | Self::Unavailable)
    }
}

/// An error answered to an HTTP client as
/// `{"error": {"message": ..., "type": ..., "code": ...}}` with the kind's status.
///
/// Messages go to the client as they are: they must say what to fix and never contain a
/// secret. Handlers return `Result<_, ApiError>` and let [`IntoResponse`] do the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    code: Cow<'static, str>,
    param: Option<String>,
    retry_after_secs: Option<u32>,
}

/// Seconds a 429/503 asks the client to wait when the error does not say otherwise.
const DEFAULT_RETRY_AFTER_SECS: u32 = 1;

impl ApiError {
    /// An error of `kind` with the kind's default code.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: Cow::Borrowed(kind.default_code()),
            param: None,
            retry_after_secs: None,
        }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 413 with `message`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PayloadTooLarge, message)
    }

    /// 415 with `message`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedMediaType, message)
    }

    /// 422 with `message`.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, message)
    }

    /// 429 asking the client to retry after `retry_after_secs`.
    pub fn overloaded(message: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::new(ErrorKind::Overloaded, message).with_retry_after(retry_after_secs)
    }

    /// 500 with `message`. Say what failed, not how: the details belong in the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// 503 asking the client to retry after `retry_after_secs`.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::new(ErrorKind::Unavailable, message).with_retry_after(retry_after_secs)
    }

    /// Sets a more specific `error.code` (e.g. `token_too_large`).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = code.into();
        self
    }

    /// Names the offending parameter (`error.param`), e.g. `llm.temperature`.
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets `Retry-After` (only sent with 429 and 503).
    #[must_use]
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The kind (and so the status) of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `error.code`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The `error.param`, when set.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The JSON body as a value (what [`IntoResponse`] sends).
    pub fn body(&self) -> serde_json::Value {
        // Serializing a struct of strings cannot fail; `Null` keeps this total anyway.
        serde_json::to_value(ErrorBody {
            error: ErrorFields {
                message: &self.message,
                error_type: self.kind.error_type(),
                code: &self.code,
                param: self.param.as_deref(),
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'static str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = %self.code, message = %self.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), code = %self.code, message = %self.message, "request refused");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.kind.is_retryable() {
            let secs = self.retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind == ErrorKind::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Fallback for unknown routes: a JSON 404 instead of an empty body.
pub async fn not_found_fallback() -> ApiError {
    ApiError::not_found("No such endpoint.")
}

/// Fallback for a known route called with the wrong method: a JSON 405.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "This endpoint does not accept that HTTP method.",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_kind_has_its_status_and_type() {
        let table = [
            (ErrorKind::BadRequest, 400, "invalid_request_error"),
            (ErrorKind::Unauthorized, 401, "authentication_error"),
            (ErrorKind::NotFound, 404, "not_found_error"),
            (ErrorKind::MethodNotAllowed, 405, "invalid_request_error"),
            (ErrorKind::PayloadTooLarge, 413, "invalid_request_error"),
            (
                ErrorKind::UnsupportedMediaType,
                415,
                "invalid_request_error",
            ),
            (ErrorKind::Unprocessable, 422, "invalid_request_error"),
            (ErrorKind::Overloaded, 429, "rate_limit_error"),
            (ErrorKind::Internal, 500, "server_error"),
            (ErrorKind::Unavailable, 503, "service_unavailable_error"),
        ];
        for (kind, status, ty) in table {
            let response = ApiError::new(kind, "m").into_response();
            assert_eq!(response.status().as_u16(), status, "{kind:?}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{kind:?}"
            );
            assert_eq!(kind.error_type(), ty);
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                status == 429 || status == 503,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn body_has_message_type_code_and_param() {
        let e = ApiError::bad_request("`llm.temperature` must be a number between 0 and 2.")
            .with_code("invalid_value")
            .with_param("llm.temperature");
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {
                "message": "`llm.temperature` must be a number between 0 and 2.",
                "type": "invalid_request_error",
                "code": "invalid_value",
                "param": "llm.temperature",
            }})
        );
        let plain = ApiError::not_found("gone").body();
        assert!(plain["error"].get("param").is_none());
        assert_eq!(plain["error"]["code"], "not_found");
    }

    #[test]
    fn retry_after_is_sent_with_429_and_503() {
        let r = ApiError::overloaded("busy", 7).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        let r = ApiError::unavailable("model loading", 3).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        let r = ApiError::new(ErrorKind::Unavailable, "x").into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::unauthorized("no").into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
