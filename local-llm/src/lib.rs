//! The local Responses API provider of mka1-voice: SmolLM2-135M-Instruct (GGUF) over
//! llama.cpp, served over HTTP as the subset of OpenAI's Responses API that the voice
//! agent uses (`POST /responses`, streaming or not, chained with `previous_response_id`
//! or a `conversation`).
//!
//! It is a separate process (`mka1-local-llm`) because llama.cpp and whisper.cpp bundle
//! two copies of ggml that cannot be linked into one binary; `mka1-voice serve` spawns it
//! and proxies to it.

pub mod chat;
pub mod engine;
pub mod error;
pub mod request;
pub mod response;
pub mod server;
pub mod store;
pub mod utf8;

pub use engine::{Engine, EngineConfig, EngineError};
pub use error::ApiError;
pub use server::{AppState, router};

/// The line printed on stdout once the server listens; the parent reads the URL after it.
pub const LISTENING_PREFIX: &str = "listening on http://";

/// Threads for llama.cpp: `MKA1_LLM_THREADS`, else every available core.
pub fn default_threads() -> usize {
    std::env::var("MKA1_LLM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
