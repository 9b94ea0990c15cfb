//! What can go wrong in one agent turn.

use std::time::Duration;

/// Why a turn failed. Every failure of a turn ends its stream with one
/// [`TurnEvent::Failed`](super::TurnEvent::Failed) carrying one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponsesError {
    /// The base URL is not an absolute `http`/`https` URL.
    #[error("invalid Responses base URL `{url}`: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the Responses HTTP client: {0}")]
    Client(String),
    /// Extra trusted roots given for the upstream are not PEM certificates.
    #[error("the Responses API's extra CA certificates are not usable: {0}")]
    Certificates(String),
    /// The API key or the end-user id cannot be sent as an HTTP header.
    #[error("the {header} header value is not valid in HTTP")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
    },
    /// The request body could not be encoded.
    #[error("cannot encode the Responses request: {0}")]
    Encode(String),
    /// No connection to the Responses server (refused, DNS, TLS).
    #[error("cannot connect to the Responses API: {0}")]
    Connect(String),
    /// The connection was not established within the connect timeout.
    #[error("connecting to the Responses API timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The server answered with an error status.
    #[error("the Responses API answered {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The upstream `error.code`, when the body had one.
        code: Option<String>,
        /// The upstream `error.message` (or the start of the body when it was not JSON).
        message: String,
    },
    /// The server answered 200 with something other than an event stream.
    #[error("the Responses API answered with `{0}` instead of an event stream")]
    NotAnEventStream(String),
    /// No event arrived within this long after the request was sent.
    #[error("no event from the Responses API within {0:?} of the request")]
    FirstEventTimeout(Duration),
    /// The stream went silent for this long between two events.
    #[error("the Responses API stream went silent for {0:?}")]
    IdleTimeout(Duration),
    /// The connection broke while the response was streaming.
    #[error("the Responses API stream broke: {0}")]
    Transport(String),
    /// The stream ended before `response.completed`.
    #[error("the Responses API stream ended before the response completed")]
    EndedEarly,
    /// The stream sent an `error` event.
    #[error("the Responses API reported an error: {message}")]
    Upstream {
        /// The error's code, when it had one.
        code: Option<String>,
        /// The error's message.
        message: String,
    },
    /// The response ended with `response.failed`.
    #[error("the response failed: {message}")]
    ResponseFailed {
        /// The response's `error.code`, when it had one.
        code: Option<String>,
        /// The response's `error.message`.
        message: String,
    },
    /// An event of a type this client relies on could not be understood.
    #[error("malformed `{event_type}` event from the Responses API: {reason}")]
    MalformedEvent {
        /// The event's type.
        event_type: String,
        /// What was wrong with it.
        reason: String,
    },
    /// One event was larger than the bound on event size.
    #[error("a Responses API event exceeded {limit} bytes")]
    EventTooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The model kept calling tools for more follow-up rounds than allowed.
    #[error("the model still called tools after {rounds} follow-up rounds")]
    TooManyToolRounds {
        /// The bound that was reached.
        rounds: u32,
    },
    /// The model called a client-side tool whose result this agent cannot even decline
    /// in the form the API expects (for example `local_shell_call`).
    #[error("the model called a `{item_type}` tool, which the voice agent cannot answer")]
    UnsupportedToolCall {
        /// The output item's type.
        item_type: String,
    },
}

impl ResponsesError {
    /// Whether this is one of the timeouts (connect, first event, idle).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout(_) | Self::FirstEventTimeout(_) | Self::IdleTimeout(_)
        )
    }
}
