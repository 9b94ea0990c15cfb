//! The voice agent's client of the Responses API (API.md section 6).
//!
//! One user turn is one streamed `POST {base}/responses`: the session's `llm` config plus
//! the user's words, `stream: true` and `metadata.voice_mode = "true"`, chained to the
//! previous turn. The reply's text arrives as [`TurnEvent::TextDelta`]s as fast as the
//! model writes it, so speech synthesis can start on the first clause.
//!
//! The agent runs no tools: when the model calls a function, the client answers every
//! call with an output saying the tool is not available in a voice conversation, in a
//! follow-up request chained to that response, and keeps streaming the follow-up's text
//! (a bounded number of rounds). That keeps the upstream conversation valid (a response
//! with unanswered calls cannot be chained to) and lets the model tell the user.
//!
//! Every failure (connection, HTTP status, timeout, a broken or malformed stream, an
//! upstream error) ends the stream with one [`TurnEvent::Failed`]; nothing panics and
//! nothing waits forever. Dropping a [`TurnStream`] closes the HTTP request, which
//! cancels the generation upstream (barge-in).

mod error;
mod events;
mod prefill;
mod request;
pub mod sse;
mod turn;

use std::sync::Arc;
use std::time::Duration;

use mka1_http_api::SecretString;
use serde_json::{Map, Value};

pub use error::ResponsesError;
pub use prefill::Prefilled;
pub use request::{MAX_METADATA_PAIRS, VOICE_MODE_KEY};
pub use turn::TurnStream;

/// The default bound on follow-up rounds answering tool calls within one turn.
pub const DEFAULT_MAX_TOOL_ROUNDS: u32 = 3;

/// How long the client waits at each stage of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsesTimeouts {
    /// To establish the connection (TCP and TLS).
    pub connect: Duration,
    /// From sending a request to its first event (the model's time to start).
    pub first_event: Duration,
    /// The longest silence between two events of a stream (comments do not count:
    /// a server that only sends keep-alives is not making progress).
    pub idle: Duration,
}

impl Default for ResponsesTimeouts {
    /// 10 s to connect, 15 s to the first event, 15 s between events: far beyond a
    /// healthy model's latency, short enough that a caller is not left in silence.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_event: Duration::from_secs(15),
            idle: Duration::from_secs(15),
        }
    }
}

/// One user turn to send.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// The session's Responses request body (`SessionConfig::llm`), sent as given.
    pub llm: Map<String, Value>,
    /// What the user said.
    pub input: String,
    /// Input items sent before the user's words, for context the chain lacks (an
    /// unanswered question, what the user heard of an interrupted answer). Empty: `input`
    /// is sent as a plain string.
    pub context: Vec<Value>,
    /// The response of the previous turn, to chain to (ignored when `llm` has a
    /// `conversation`, which chains by itself; `None` keeps any `previous_response_id`
    /// of `llm`).
    pub previous_response_id: Option<String>,
    /// The caller's API key (`Authorization: Bearer`).
    pub api_key: SecretString,
    /// The end user the session runs for (`X-On-Behalf-Of`).
    pub on_behalf_of: Option<String>,
}

/// What a turn's stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// More of the answer's text, in order.
    TextDelta(String),
    /// The turn is over: chain the next turn to `response_id`. `text` is the whole
    /// answer (every `TextDelta` of the turn, concatenated). Last event of the stream.
    Completed {
        /// The final response's id (the follow-up's, when tools were called).
        response_id: String,
        /// The answer's text.
        text: String,
    },
    /// The turn failed. Last event of the stream.
    Failed(ResponsesError),
}

/// A client of the Responses API. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct ResponsesClient {
    http: reqwest::Client,
    endpoint: Arc<reqwest::Url>,
    timeouts: ResponsesTimeouts,
    max_tool_rounds: u32,
    max_event_bytes: usize,
    /// The local provider's prefill endpoint, when prefills are sent.
    prefill: Option<Arc<reqwest::Url>>,
}

impl ResponsesClient {
    /// A client for the API under `base_url` (for example
    /// `https://api.example.com/api/v1/llm`, or `http://127.0.0.1:8080/api/v1/llm`);
    /// requests go to `{base_url}/responses`. An `https` server's certificate is checked
    /// against the system's trusted roots.
    pub fn new(base_url: &str, timeouts: ResponsesTimeouts) -> Result<Self, ResponsesError> {
        Self::build(base_url, timeouts, Vec::new())
    }

    /// Like [`ResponsesClient::new`], also trusting the CA certificates of `pem` (one or
    /// more PEM blocks): for an upstream behind a private CA.
    pub fn with_extra_roots(
        base_url: &str,
        timeouts: ResponsesTimeouts,
        pem: &[u8],
    ) -> Result<Self, ResponsesError> {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|err| ResponsesError::Certificates(turn::describe(&err)))?;
        if roots.is_empty() {
            return Err(ResponsesError::Certificates(
                "no PEM certificate found".to_owned(),
            ));
        }
        Self::build(base_url, timeouts, roots)
    }

    fn build(
        base_url: &str,
        timeouts: ResponsesTimeouts,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, ResponsesError> {
        let endpoint = endpoint(base_url)?;
        let builder = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .user_agent(concat!("mka1-voice-agent/", env!("CARGO_PKG_VERSION")));
        // Loading the system's roots fails where none are installed; a plain-http client
        // never meets a certificate, so it does without them (the local LLM keeps working
        // on a machine without ca-certificates).
        let builder = if endpoint.scheme() == "https" {
            builder.tls_certs_merge(extra_roots)
        } else {
            builder.tls_certs_only(extra_roots)
        };
        let http = builder
            // The API does not redirect; following one would resend the caller's key to
            // wherever it points (and could turn https into http).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ResponsesError::Client(turn::describe(&err)))?;
        Ok(Self {
            http,
            endpoint: Arc::new(endpoint),
            timeouts,
            max_tool_rounds: DEFAULT_MAX_TOOL_ROUNDS,
            max_event_bytes: sse::DEFAULT_MAX_EVENT_BYTES,
            prefill: None,
        })
    }

    /// Sets how many follow-up rounds may answer tool calls in one turn (default 3).
    pub fn with_max_tool_rounds(mut self, rounds: u32) -> Self {
        self.max_tool_rounds = rounds;
        self
    }

    /// Sets the bound on one streamed event (default 1 MiB).
    pub fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// The URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> ResponsesTimeouts {
        self.timeouts
    }

    /// Runs one agent turn, streamed. Nothing is sent until the stream is first polled;
    /// dropping the stream aborts the request (and so the generation upstream).
    pub fn turn(&self, request: TurnRequest) -> TurnStream {
        TurnStream::new(self.clone(), request)
    }
}

/// `{base}/responses`, from an absolute `http`/`https` base URL.
fn endpoint(base_url: &str) -> Result<reqwest::Url, ResponsesError> {
    let invalid = |reason: &str| ResponsesError::InvalidBaseUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(&format!("{}/responses", base_url.trim_end_matches('/')))
        .map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn endpoint_appends_responses() {
        for base in [
            "http://127.0.0.1:8080/api/v1/llm",
            "http://127.0.0.1:8080/api/v1/llm/",
        ] {
            assert_eq!(
                endpoint(base).unwrap().as_str(),
                "http://127.0.0.1:8080/api/v1/llm/responses"
            );
        }
        assert_eq!(
            endpoint("https://api.example.com/api/v1/llm")
                .unwrap()
                .as_str(),
            "https://api.example.com/api/v1/llm/responses"
        );
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        let timeouts = ResponsesTimeouts::default();
        for pem in [
            &b""[..],
            b"not a certificate",
            b"-----BEGIN CERTIFICATE-----\nzz\n",
        ] {
            assert!(
                matches!(
                    ResponsesClient::with_extra_roots("https://x", timeouts, pem),
                    Err(ResponsesError::Certificates(_))
                ),
                "{pem:?}"
            );
        }
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for base in [
            "",
            "127.0.0.1:8080",
            "ftp://x/y",
            "http://x/y?a=1",
            "not a url",
        ] {
            assert!(
                matches!(endpoint(base), Err(ResponsesError::InvalidBaseUrl { .. })),
                "{base}"
            );
        }
    }
}
