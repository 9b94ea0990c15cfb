//! `mka1-local-llm`: the local Responses API provider as its own process.
//!
//! Loads the GGUF once, binds, prints exactly one line `listening on http://ADDR` on
//! stdout (the parent process reads it to learn the port) and logs to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mka1_local_llm::engine::DEFAULT_N_CTX;
use mka1_local_llm::{AppState, Engine, EngineConfig, LISTENING_PREFIX, default_threads, router};
use mka1_models::ModelsDir;
use mka1_models::catalog::paths;
use tracing_subscriber::EnvFilter;

/// Serve SmolLM2 over the Responses API.
#[derive(Debug, Parser)]
#[command(name = "mka1-local-llm", version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Models directory (default: ~/.cache/mka1-voice/models).
    #[arg(long, env = "MKA1_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// A GGUF to load instead of the provisioned SmolLM2.
    #[arg(long)]
    model: Option<PathBuf>,
    /// CPU threads (default: MKA1_LLM_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Context length in tokens.
    #[arg(long, default_value_t = DEFAULT_N_CTX)]
    ctx_size: u32,
    /// Exit when standard input closes: a parent that spawns this provider keeps the pipe
    /// open, so the provider goes away with it even when the parent is killed outright.
    #[arg(long)]
    exit_with_stdin: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                // llama.cpp reports every tensor it loads at info level.
                .unwrap_or_else(|_| EnvFilter::new("info,llama-cpp-2=warn")),
        )
        .init();
    let args = Args::parse();
    if args.exit_with_stdin {
        std::thread::spawn(|| {
            // Nothing is ever sent: reading only waits for the parent's end to close.
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            tracing::info!("the parent went away; exiting");
            std::process::exit(0);
        });
    }
    let model_path = match args.model {
        Some(path) => path,
        None => {
            let dir = match args.models_dir {
                Some(dir) => ModelsDir::new(dir),
                None => ModelsDir::from_env()?,
            };
            dir.path(paths::SMOLLM2_135M_INSTRUCT)
        }
    };
    let model_name = model_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let engine = Engine::start(EngineConfig {
        model_path,
        threads: args
            .threads
            .filter(|n| *n > 0)
            .unwrap_or_else(default_threads),
        n_ctx: args.ctx_size.max(256),
    })?;
    let state = Arc::new(AppState::new(engine, model_name));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args.listen, state))
}

async fn serve(listen: SocketAddr, state: Arc<AppState>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{LISTENING_PREFIX}{addr}")?;
        stdout.flush()?;
    }
    tracing::info!(%addr, "local Responses provider ready");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
