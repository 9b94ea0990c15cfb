//! One module per subcommand.

pub mod models;
pub mod serve;
pub mod transcribe;
