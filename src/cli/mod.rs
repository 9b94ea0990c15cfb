//! One module per subcommand.

pub mod local_llm;
pub mod models;
pub mod say;
pub mod serve;
pub mod token_service;
pub mod transcribe;
pub mod voice;
