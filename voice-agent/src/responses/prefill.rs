//! Prefill: the local provider's prompt evaluated while the user is still speaking.
//!
//! The local provider (`mka1-local-llm`) spends most of an answer's first token on
//! evaluating the new turn's prompt, ~10 ms a token on one core (BENCHMARKS.md, "Where the
//! local LLM's first token goes"). Its `POST /responses/prefill` takes the body a turn
//! would send, with the words heard so far, and evaluates that prompt without answering;
//! the turn's own request then finds all but the last words and the closing markers
//! cached. Only the local provider has the endpoint, and only it is sent prefills: a
//! paid upstream would bill every one as a request.

use std::time::Duration;

use serde_json::Value;

use super::request::{self, Input};
use super::turn::{describe, headers};
use super::{ResponsesClient, ResponsesError, TurnRequest};

/// What the provider said of one prefill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefilled {
    /// The prompt was evaluated: `prompt_tokens`, of which `cached_tokens` were cached
    /// before.
    Completed {
        /// Tokens of the prompt up to the end of the words sent.
        prompt_tokens: u64,
        /// Of those, already cached.
        cached_tokens: u64,
    },
    /// An answer was waiting, and went first.
    Skipped,
}

impl ResponsesClient {
    /// Sends prefills (the words of a turn still being spoken) to
    /// `{base_url}/responses/prefill`: for the local provider only.
    pub fn with_prefill(mut self) -> Self {
        let mut url = (*self.endpoint).clone();
        url.set_path(&format!("{}/prefill", url.path()));
        self.prefill = Some(std::sync::Arc::new(url));
        self
    }

    /// Whether this client sends prefills.
    pub fn prefills(&self) -> bool {
        self.prefill.is_some()
    }

    /// Asks the provider to evaluate the prompt `request` would send, with the words
    /// heard so far as its `input`. `Ok(None)` when this client sends no prefills.
    /// Dropping the future abandons the request (the provider finishes the evaluation it
    /// started, a few tens of ms).
    pub async fn prefill(
        &self,
        request: &TurnRequest,
    ) -> Result<Option<Prefilled>, ResponsesError> {
        let Some(url) = &self.prefill else {
            return Ok(None);
        };
        let input = if request.context.is_empty() {
            Input::UserText(request.input.clone())
        } else {
            Input::UserTurn {
                context: request.context.clone(),
                text: request.input.clone(),
            }
        };
        let body = request::body(
            &request.llm,
            &input,
            request.previous_response_id.as_deref(),
        );
        let body = serde_json::to_vec(&body).map_err(|e| ResponsesError::Encode(e.to_string()))?;
        let sent = self
            .http
            .post(url.as_ref().clone())
            .headers(headers(request)?)
            .body(body)
            .send();
        let wait = self.timeouts.first_event;
        let response = tokio::time::timeout(wait, sent)
            .await
            .map_err(|_| ResponsesError::FirstEventTimeout(wait))?
            .map_err(|e| ResponsesError::Transport(describe(&e)))?;
        let status = response.status();
        let answer = tokio::time::timeout(Duration::from_secs(5), response.json::<Value>())
            .await
            .map_err(|_| ResponsesError::FirstEventTimeout(wait))?
            .map_err(|e| ResponsesError::Transport(describe(&e)))?;
        if !status.is_success() {
            return Err(ResponsesError::Status {
                status: status.as_u16(),
                code: None,
                message: answer["error"]["message"]
                    .as_str()
                    .unwrap_or("prefill refused")
                    .to_owned(),
            });
        }
        Ok(Some(match answer["status"].as_str() {
            Some("skipped") => Prefilled::Skipped,
            _ => Prefilled::Completed {
                prompt_tokens: answer["prompt_tokens"].as_u64().unwrap_or(0),
                cached_tokens: answer["cached_tokens"].as_u64().unwrap_or(0),
            },
        }))
    }
}
