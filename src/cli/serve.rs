//! `mka1-voice serve`: the HTTP server. It offers `/healthz` and the token service
//! (`POST /api/v1/llm/speech/livekit/token`); the speech API and voice agent mount their
//! routers here as they land.

use std::net::SocketAddr;

use anyhow::Context;
use axum::{Json, Router, routing::get};
use mka1_http_api::{ApiKeys, DataDir, KeySource};
use mka1_token_service::{MissingConfigKeys, TokenServiceConfig, TokenServiceState};

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MKA1_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// The unauthenticated routes every server has (health).
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Runs the server until Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = DataDir::from_env()?;
    let api_keys = load_api_keys(&data_dir)?;
    // Here the agent runs in the same process, so a key generated into the data
    // directory is enough for sealing (DESIGN.md); the standalone service refuses.
    let token_config = TokenServiceConfig::from_env(MissingConfigKeys::GenerateIn(&data_dir))
        .context("token service settings")?;
    serve(args.listen, move |address| {
        // Without LIVEKIT_URL, clients are sent to this server itself (direct WebRTC):
        // the URL is built from the request's Host, with the bound address as fallback.
        let state = TokenServiceState::new(token_config, api_keys, address);
        router().merge(mka1_token_service::router(state))
    })
}

/// Binds `listen`, builds the app for the bound address, and serves it until Ctrl-C.
/// Unknown routes and wrong methods answer with the API's JSON errors.
pub fn serve(listen: SocketAddr, app: impl FnOnce(SocketAddr) -> Router) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let app = app(address)
            .fallback(mka1_http_api::not_found_fallback)
            .method_not_allowed_fallback(mka1_http_api::method_not_allowed_fallback);
        tracing::info!(%address, "serving");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("shutting down");
            })
            .await
            .context("server error")
    })
}

/// Loads the API keys (DESIGN.md settings). A key generated on this first run is printed
/// once, on stdout and not in the log; later runs reuse it silently.
pub fn load_api_keys(data_dir: &DataDir) -> anyhow::Result<ApiKeys> {
    let (keys, source) = ApiKeys::from_env(data_dir).context("loading the API keys")?;
    match source {
        KeySource::Generated { path, key } => {
            println!(
                "No MKA1_API_KEYS set: generated an API key, stored in {} (it is not printed \
                 again). Send it as `Authorization: Bearer <key>`:\n\n    {}\n",
                path.display(),
                key.expose()
            );
        }
        KeySource::Stored(path) => {
            tracing::info!(file = %path.display(), "using the API key generated on an earlier run");
        }
        KeySource::File(path) => {
            tracing::info!(file = %path.display(), count = keys.len(), "API keys from MKA1_API_KEYS_FILE");
        }
        KeySource::Env => tracing::info!(count = keys.len(), "API keys from MKA1_API_KEYS"),
        _ => {}
    }
    Ok(keys)
}
