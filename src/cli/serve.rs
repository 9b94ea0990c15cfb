//! `mka1-voice serve`: the HTTP server. It composes `/healthz`, the token service
//! (`POST /api/v1/llm/speech/livekit/token`), the REST speech API with its history and
//! `/metrics`, and the voice agent (talk page at `/`, WebRTC signaling, the local
//! Responses API); every route is counted and timed by the metrics layer.

use std::net::SocketAddr;

use anyhow::Context;
use axum::{Json, Router, routing::get};
use mka1_http_api::{ApiKeys, DataDir, KeySource};
use mka1_speech_api::history::{HistoryState, HistoryStore};
use mka1_speech_api::{Metrics, SpeechConfig, SpeechState};
use mka1_token_service::{MissingConfigKeys, TokenServiceConfig, TokenServiceState};

use super::voice;

/// Where the history lives inside the data directory.
const HISTORY_DIR: &str = "history";

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

/// Runs the server until Ctrl-C. Models are loaded before the port opens, so the first
/// request is served warm; a missing model is logged and its routes answer 503.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = DataDir::from_env()?;
    let api_keys = load_api_keys(&data_dir)?;
    // Here the agent runs in the same process, so a key generated into the data
    // directory is enough for sealing (DESIGN.md); the standalone service refuses.
    let token_config = TokenServiceConfig::from_env(MissingConfigKeys::GenerateIn(&data_dir))
        .context("token service settings")?;
    let history_dir = data_dir.path().join(HISTORY_DIR);
    let history = HistoryStore::open(&history_dir)
        .with_context(|| format!("opening the history in {}", history_dir.display()))?;
    let metrics = Metrics::new();
    let config = SpeechConfig::from_env().context("transcription pool settings")?;
    let speech = SpeechState::load(config, api_keys.clone(), history.clone(), metrics.clone())
        .context("starting the transcription pool")?;
    let streaming = speech.stream_state();
    if let Err(reason) = &streaming {
        tracing::warn!(%reason, "streaming transcription (WebSocket) is not available");
    }
    let instrument = metrics.clone();
    serve_with(
        args.listen,
        move |address| async move {
            // Without LIVEKIT_URL, clients are sent to this server itself (direct WebRTC):
            // the URL is built from the request's Host, with the bound address as fallback.
            let token = TokenServiceState::new(token_config, api_keys.clone(), address);
            // The speech API serves without the agent's models; the agent needs them all.
            let voice = match voice::voice_routes(&speech, &token, api_keys.clone(), address).await
            {
                Ok(voice) => voice,
                Err(error) => {
                    tracing::warn!("the voice agent is not available: {error:#}");
                    Router::new()
                }
            };
            let app = router()
                .merge(voice)
                .merge(mka1_token_service::router(token))
                .merge(mka1_speech_api::router(speech))
                .merge(mka1_speech_api::history::router(HistoryState {
                    store: history,
                    keys: api_keys,
                }));
            Ok(match streaming {
                Ok(state) => app.merge(mka1_speech_api::stream_ws::router(state)),
                Err(_) => app,
            })
        },
        move |app| instrument.instrument(app),
    )
}

/// Binds `listen`, builds the app for the bound address, and serves it until Ctrl-C.
/// Unknown routes and wrong methods answer with the API's JSON errors.
pub fn serve(listen: SocketAddr, app: impl FnOnce(SocketAddr) -> Router) -> anyhow::Result<()> {
    serve_with(listen, |address| async move { Ok(app(address)) }, |app| app)
}

/// [`serve`], with `wrap` applied last to the whole app, fallbacks included (the metrics
/// layer, so that 404s are counted too).
pub fn serve_with<F>(
    listen: SocketAddr,
    app: impl FnOnce(SocketAddr) -> F,
    wrap: impl FnOnce(Router) -> Router,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Router>>,
{
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let app = wrap(
            app(address)
                .await?
                .fallback(mka1_http_api::not_found_fallback)
                .method_not_allowed_fallback(mka1_http_api::method_not_allowed_fallback),
        );
        tracing::info!(%address, "serving");
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
