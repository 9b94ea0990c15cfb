//! Tokens minted and sealed per second on one core: the whole work of one
//! `POST /livekit/token` after validation (fresh room id, seal the session with
//! AES-256-GCM, sign the LiveKit JWT), plus its parts.
//!
//! `taskset -c 0 cargo bench --release -p mka1-token-service --bench mint`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mka1_http_api::SecretString;
use mka1_token_service::{
    ConfigKeys, LiveKitCredentials, SealedConfig, SessionCaller, TokenIssuer, TokenRequest,
};
use serde_json::json;

/// What a typical voice app sends: a model, a paragraph of instructions, one function
/// tool, some metadata, turn-taking settings and a language.
fn typical_request() -> TokenRequest {
    TokenRequest::from_json(json!({
        "llm": {
            "model": "meetkai:functionary-urdu-mini-pak",
            "instructions": "You are a friendly voice assistant for a bakery. Keep answers to one or two short sentences, confirm orders back to the caller, and ask before placing anything.",
            "tools": [{
                "type": "function", "name": "place_order", "strict": true,
                "description": "Place a bakery order",
                "parameters": {"type": "object", "properties": {
                    "item": {"type": "string"}, "quantity": {"type": "integer"}
                }, "required": ["item", "quantity"]}
            }],
            "temperature": 0.6,
            "max_tool_calls": 8,
            "metadata": {"app": "bakery", "channel": "voice"}
        },
        "stt": {"silence_timeout_ms": 700, "initial_silence_timeout_ms": 15000},
        "language": "en"
    }))
    .unwrap()
}

fn caller() -> SessionCaller {
    SessionCaller {
        identity: "customer-1842".into(),
        on_behalf_of: Some("customer-1842".into()),
        api_key: SecretString::new("mka1_bench0123456789abcdefghijklmnopqrstuvwxyzAB"),
    }
}

fn bench(c: &mut Criterion) {
    let issuer = TokenIssuer::new(
        LiveKitCredentials::new(
            "APIbench",
            SecretString::new("bench-livekit-secret-0123456789abcdef"),
        ),
        Duration::from_secs(3600),
    );
    let keys = ConfigKeys::parse(ConfigKeys::generate_entry("k1").expose()).unwrap();
    let request = typical_request();
    let sample = issuer
        .issue_session(request.clone(), caller(), &keys)
        .unwrap();
    eprintln!("typical token: {} bytes", sample.token.len());

    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mint_and_seal", |b| {
        b.iter(|| {
            black_box(
                issuer
                    .issue_session(request.clone(), caller(), &keys)
                    .unwrap(),
            )
        })
    });

    let claims = issuer.verify(&sample.token).unwrap();
    let sealed = SealedConfig::from(claims.room_config.unwrap().agents[0].metadata.clone());
    let session = sealed.open(&keys, &sample.room, "customer-1842").unwrap();
    group.bench_function("seal", |b| {
        b.iter(|| black_box(SealedConfig::seal(&session, "customer-1842", &keys).unwrap()))
    });
    group.bench_function("open", |b| {
        b.iter(|| black_box(sealed.open(&keys, &sample.room, "customer-1842").unwrap()))
    });
    group.bench_function("sign_jwt", |b| {
        b.iter(|| {
            black_box(
                issuer
                    .user_token("customer-1842", &sample.room, &sealed)
                    .unwrap(),
            )
        })
    });
    group.bench_function("verify_jwt", |b| {
        b.iter(|| black_box(issuer.verify(&sample.token).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
