//! `mka1-voice token-service`: only the token route (and `/healthz`), for deployments
//! that keep the LiveKit secret and the sealing keys away from the agents' machines.

use std::net::SocketAddr;

use anyhow::Context;
use mka1_http_api::DataDir;
use mka1_token_service::{MissingConfigKeys, TokenServiceConfig, TokenServiceState};

use super::serve::{load_api_keys, router, serve};

/// Options of `token-service`.
#[derive(Debug, clap::Args)]
pub struct TokenServiceArgs {
    /// Address to listen on.
    #[arg(long, env = "MKA1_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Runs the token service until Ctrl-C. Refuses to start without `MKA1_CONFIG_KEYS`: a
/// key generated here would be unknown to the agents, which must open what it seals.
pub fn run(args: TokenServiceArgs) -> anyhow::Result<()> {
    let token_config = TokenServiceConfig::from_env(MissingConfigKeys::Refuse)
        .context("cannot start the token service")?;
    if token_config.livekit_url.is_none() {
        tracing::warn!(
            "LIVEKIT_URL is unset: clients will be told to connect to this token service's own \
             address, which only works behind a proxy that also routes to a voice agent"
        );
    }
    let data_dir = DataDir::from_env()?;
    let api_keys = load_api_keys(&data_dir)?;
    serve(args.listen, move |address| {
        router().merge(mka1_token_service::router(TokenServiceState::new(
            token_config,
            api_keys,
            address,
        )))
    })
}
