//! What a session tells its peer: transcripts, the agent's words as spoken, its state and
//! per-turn latency. Sent as JSON text (one event per data-channel message).

use serde::Serialize;

/// What the agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Waiting for the user.
    Listening,
    /// The user's turn ended; the reply is being prepared.
    Thinking,
    /// Agent audio is playing.
    Speaking,
}

/// Latency of one turn, in milliseconds. A stage that did not happen is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TurnMetrics {
    /// The silence window the configuration asks for (`stt.silence_timeout_ms`).
    pub silence_timeout_ms: u32,
    /// Last voiced sample of the user → the turn was confirmed (end-of-utterance delay).
    pub end_of_utterance_ms: Option<f64>,
    /// Turn confirmed by the VAD → final transcript available (0 when the pause decode
    /// already had it).
    pub stt_final_ms: Option<f64>,
    /// Request sent → first text delta of the reply.
    pub llm_first_token_ms: Option<f64>,
    /// First text given to the synthesizer → its first audio.
    pub tts_first_audio_ms: Option<f64>,
    /// Last voiced sample of the user → first agent audio frame sent (end to end).
    pub end_to_end_ms: Option<f64>,
    /// `end_to_end_ms - silence_timeout_ms`: the wait beyond the silence asked for.
    pub response_overhead_ms: Option<f64>,
    /// Whether the reply was prepared during the user's pause (preemptive generation).
    pub preemptive: bool,
}

/// Told what sessions do, for the server's metrics (`/metrics`). Called on the session's
/// task, so an implementation must be quick and must not block.
pub trait SessionObserver: Send + Sync {
    /// A turn was answered: its first agent audio frame went out.
    fn turn_answered(&self, metrics: &TurnMetrics);
    /// The user talked over a reply and it was cut off.
    fn barge_in(&self);
}

/// One event of the session's event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The user's utterance so far.
    UserPartial {
        /// Text heard so far.
        text: String,
    },
    /// The user's finished utterance (or typed text).
    UserFinal {
        /// The transcript.
        text: String,
    },
    /// Agent text, sent as its audio starts playing.
    AgentText {
        /// The words of the clause now playing.
        text: String,
    },
    /// The agent's turn ended; `text` is what was actually played (cut at a barge-in).
    AgentTurn {
        /// What the user heard.
        text: String,
        /// Whether the user cut the agent off.
        interrupted: bool,
    },
    /// The agent's state changed.
    State {
        /// The new state.
        state: AgentState,
    },
    /// Latency of the turn that just started playing.
    TurnMetrics(TurnMetrics),
    /// Something went wrong; the session carries on.
    Error {
        /// What happened.
        message: String,
    },
}

impl AgentEvent {
    /// The event as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; an empty object is a safe fallback.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json() {
        let e = AgentEvent::State {
            state: AgentState::Speaking,
        };
        assert_eq!(e.to_json(), r#"{"type":"state","state":"speaking"}"#);
        let m = AgentEvent::TurnMetrics(TurnMetrics {
            silence_timeout_ms: 500,
            end_to_end_ms: Some(540.0),
            ..TurnMetrics::default()
        });
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["type"], "turn_metrics");
        assert_eq!(v["end_to_end_ms"], 540.0);
        assert_eq!(v["silence_timeout_ms"], 500);
    }
}
