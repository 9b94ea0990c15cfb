//! The voice agent inside `serve` (the embedded default, DESIGN.md): the talk page at `/`,
//! direct WebRTC signaling, a dev token on loopback, and the Responses API the agent
//! answers from — `RESPONSES_BASE_URL` when set, else the local SmolLM2 provider, spawned
//! as a child process and also served at `POST /api/v1/llm/responses`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use axum::{Json, Router};
use mka1_http_api::{ApiError, ApiKeys, SecretString};
use mka1_speech_api::{Metrics, SpeechState, VoiceStage};
use mka1_stt::ModelId;
use mka1_token_service::{SessionCaller, TokenRequest, TokenServiceState};
use mka1_voice_agent::session::{
    AgentResources, SessionObserver, SessionSettings, TurnMetrics, run_session,
};
use mka1_voice_agent::transport::{self, SessionStarter, WebRtcLimits, WebRtcState};
use mka1_voice_agent::{ResponsesClient, ResponsesTimeouts};

use super::local_llm::local_responses;

/// Where the page asks for a token when it runs on the server's own machine.
pub const DEV_TOKEN_PATH: &str = "/api/v1/voice/dev-token";

/// The model the dev token's sessions ask for (the local provider answers any name).
const DEV_MODEL: &str = "smollm2-135m-instruct";

/// The client of the upstream Responses API: the system's trusted roots, plus the CA
/// certificates of `MKA1_RESPONSES_CA_FILE` (PEM) when set, for an upstream behind a
/// private CA.
fn responses_client(base_url: &str) -> anyhow::Result<ResponsesClient> {
    let timeouts = ResponsesTimeouts::default();
    match std::env::var_os("MKA1_RESPONSES_CA_FILE") {
        Some(path) if !path.is_empty() => {
            let pem = std::fs::read(&path).with_context(|| {
                format!("reading MKA1_RESPONSES_CA_FILE {}", path.to_string_lossy())
            })?;
            Ok(ResponsesClient::with_extra_roots(base_url, timeouts, &pem)?)
        }
        _ => Ok(ResponsesClient::new(base_url, timeouts)?),
    }
}

/// Builds the voice agent from the speech API's loaded models: page, signaling, dev
/// token, and the local Responses route when the local LLM runs (its child process lives
/// as long as the returned router).
pub async fn voice_routes(
    speech: &SpeechState,
    tokens: &TokenServiceState,
    keys: ApiKeys,
    listen: SocketAddr,
) -> anyhow::Result<Router> {
    let (base_url, llm_router, local) = match std::env::var("RESPONSES_BASE_URL") {
        Ok(url) if !url.trim().is_empty() => (url.trim().to_owned(), Router::new(), false),
        _ => {
            let (llm, router) = local_responses(speech.models_dir(), keys).await?;
            let base = llm.base_url().to_owned();
            // The router owns the child: it stops when the server does.
            let router = router.layer(axum::Extension(Arc::new(llm)));
            (base, router, true)
        }
    };
    tracing::info!(responses = %base_url, "voice agent answers from this Responses API");
    let stt_model = speech
        .pool()
        .model(ModelId::TinyEn)
        .context("the voice agent needs Whisper tiny.en")?;
    let vad = speech
        .vad()
        .map_err(|reason| anyhow::anyhow!("the voice agent needs the VAD: {reason}"))?
        .clone();
    let voice = speech
        .voices()
        .get(&mka1_tts::JOE)
        .map_err(|e| anyhow::anyhow!("the voice agent needs the joe voice: {e:?}"))?;
    // Whisper threads: MKA1_AGENT_STT_THREADS fixes them per decode; by default the
    // sessions share the cores (up to 4 threads for a decode that runs alone, 1 beside
    // others: BENCHMARKS.md, "Voice agent: concurrent sessions").
    let fixed_threads: Option<usize> = std::env::var("MKA1_AGENT_STT_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    let stt_threads = fixed_threads.unwrap_or(1);
    // The budget is the server's one, so WebSocket streams count as sessions here too.
    let stt_budget = match fixed_threads {
        Some(_) => None,
        None => Some(Arc::clone(speech.stream_budget())),
    };
    let resources = Arc::new(AgentResources {
        stt_model,
        vad,
        voice,
        // The local provider evaluates each question's words while they are spoken (an
        // upstream is never sent these: it would bill each one).
        responses: if local {
            responses_client(&base_url)?.with_prefill()
        } else {
            responses_client(&base_url)?
        },
        observer: Some(Arc::new(MetricsObserver(speech.metrics().clone()))),
        stt_budget,
    });
    let metrics = speech.metrics().clone();

    let starter: SessionStarter = Arc::new(move |config, peer, link| {
        let resources = Arc::clone(&resources);
        let mut settings = SessionSettings::from_config(&config);
        settings.stt_threads = stt_threads;
        let counted = metrics.voice_session();
        tokio::spawn(async move {
            let _counted = counted;
            tracing::info!(room = %peer.room, identity = %peer.identity, "voice session started");
            if let Err(error) = run_session(resources, config, settings, link).await {
                tracing::error!(%error, "voice session failed");
            }
            tracing::info!(room = %peer.room, "voice session ended");
        });
    });
    let webrtc = WebRtcState::new(
        tokens.issuer().clone(),
        tokens.config_keys().clone(),
        starter,
        WebRtcLimits::default(),
    );
    let router = transport::router(webrtc)
        .merge(transport::page_router())
        .merge(llm_router)
        .merge(
            Router::new()
                .route(DEV_TOKEN_PATH, get(dev_token))
                .with_state(DevTokens {
                    tokens: tokens.clone(),
                    loopback: listen.ip().is_loopback(),
                }),
        );
    Ok(router)
}

/// Feeds the agent's turns into the server's `/metrics`.
struct MetricsObserver(Metrics);

impl SessionObserver for MetricsObserver {
    fn turn_answered(&self, m: &TurnMetrics) {
        let stages = [
            (VoiceStage::EndOfUtterance, m.end_of_utterance_ms),
            (VoiceStage::SttFinal, m.stt_final_ms),
            (VoiceStage::LlmFirstToken, m.llm_first_token_ms),
            (VoiceStage::TtsFirstAudio, m.tts_first_audio_ms),
            (VoiceStage::EndToEnd, m.end_to_end_ms),
            (VoiceStage::ResponseOverhead, m.response_overhead_ms),
        ];
        for (stage, ms) in stages {
            if let Some(ms) = ms {
                self.0.observe_voice_stage(stage, ms / 1e3);
            }
        }
        self.0.count_voice_turn(m.preemptive);
    }

    fn barge_in(&self) {
        self.0.count_voice_barge_in();
    }
}

#[derive(Clone)]
struct DevTokens {
    tokens: TokenServiceState,
    /// The server listens on loopback only: everyone who can reach it is on this machine.
    loopback: bool,
}

/// A session token for the page, without an API key — only when both the server and the
/// caller are on this machine (the embedded default); otherwise 403 and the page asks
/// for a key.
async fn dev_token(
    State(dev): State<DevTokens>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !dev.loopback || !peer.ip().is_loopback() {
        return Err(ApiError::unauthorized(
            "Dev tokens are only given on a server listening on loopback; get a token from \
             POST /api/v1/llm/speech/livekit/token with your API key.",
        ));
    }
    let request = TokenRequest::from_json(serde_json::json!({"llm": {"model": DEV_MODEL}}))
        .map_err(|e| ApiError::internal(format!("dev token request: {e:?}")))?;
    let caller = SessionCaller {
        identity: "local-dev".into(),
        on_behalf_of: None,
        // The local provider takes no key; an upstream would refuse this one.
        api_key: SecretString::new("local-dev"),
    };
    let session = dev
        .tokens
        .issuer()
        .issue_session(request, caller, dev.tokens.config_keys())
        .map_err(|e| ApiError::internal(format!("could not issue a dev token: {e}")))?;
    Ok(Json(serde_json::json!({
        "token": session.token,
        "room_name": session.room,
    })))
}
