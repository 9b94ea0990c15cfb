//! Turn-taking settings of a session, from its sealed configuration.

use mka1_token_service::SessionConfig;

/// Default end-of-turn silence (API.md section 4, `stt.silence_timeout_ms`).
pub const DEFAULT_SILENCE_TIMEOUT_MS: u32 = 500;
/// Default wait for any speech at all before prompting (DESIGN.md settings table).
pub const DEFAULT_INITIAL_SILENCE_TIMEOUT_MS: u32 = 15_000;
/// Voiced audio that confirms the user is speaking: it starts a turn, and while the agent
/// speaks it is a barge-in (coughs and "mm-hm" stay below it).
pub const BARGE_IN_SPEECH_MS: u32 = 300;
/// Silence after which the utterance so far is transcribed and the reply prepared, inside
/// the end-of-turn window (preemptive generation). 100 ms: the reply is ready ~130 ms
/// sooner than at 200 ms, and on the read speech of `samples/` no 100 ms pause inside a
/// turn was followed by more speech (at 50 ms, 5 a minute were: BENCHMARKS.md).
pub const DEFAULT_PAUSE_MS: u32 = 100;

/// How one session takes turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Silence after speech that ends the user's turn.
    pub silence_timeout_ms: u32,
    /// With no speech at all for this long the agent asks once whether the user is there;
    /// after as long again the session ends.
    pub initial_silence_timeout_ms: u32,
    /// Fixed language for recognition (`None`: the model's own, English for tiny.en).
    pub language: Option<String>,
    /// Prepare the reply while the user pauses, before the turn is confirmed.
    pub preemptive: bool,
    /// The pause that starts preemptive work.
    pub pause_ms: u32,
    /// Whisper threads per decode. 1 (default) keeps many sessions real-time on few
    /// cores (whisper.cpp's threads spin while they wait for each other, so oversubscribed
    /// cores collapse); 2 halves the end-of-turn decode when the machine is not busy
    /// (BENCHMARKS.md, "Voice agent").
    pub stt_threads: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            silence_timeout_ms: DEFAULT_SILENCE_TIMEOUT_MS,
            initial_silence_timeout_ms: DEFAULT_INITIAL_SILENCE_TIMEOUT_MS,
            language: None,
            preemptive: true,
            pause_ms: DEFAULT_PAUSE_MS,
            stt_threads: 1,
        }
    }
}

impl SessionSettings {
    /// The settings a token carries (the token service validated the ranges; they are
    /// clamped again here so a config from elsewhere cannot break turn-taking).
    pub fn from_config(config: &SessionConfig) -> Self {
        let stt = config.stt.unwrap_or_default();
        Self {
            silence_timeout_ms: stt
                .silence_timeout_ms
                .unwrap_or(DEFAULT_SILENCE_TIMEOUT_MS)
                .clamp(100, 5_000),
            initial_silence_timeout_ms: stt
                .initial_silence_timeout_ms
                .unwrap_or(DEFAULT_INITIAL_SILENCE_TIMEOUT_MS)
                .clamp(1_000, 30_000),
            language: config.language.clone(),
            ..Self::default()
        }
    }

    /// The pause that triggers preemptive work, kept inside the silence window.
    pub(crate) fn effective_pause_ms(&self) -> u32 {
        if self.preemptive {
            self.pause_ms
                .min(self.silence_timeout_ms.saturating_sub(50).max(32))
        } else {
            // At or above the silence window there is no separate pause.
            self.silence_timeout_ms
        }
    }
}
