//! With no models installed the server still starts; the routes that need a model answer
//! 503 (with `Retry-After`) saying how to install it, and the rest keep working.
#![allow(clippy::unwrap_used)]

use mka1_http_api::{ApiKeys, SecretString};
use mka1_models::ModelsDir;
use mka1_speech_api::history::HistoryStore;
use mka1_speech_api::{Metrics, SpeechConfig, SpeechState, router};
use reqwest::multipart::{Form, Part};
use serde_json::json;

const KEY: &str = "missing-models-key-0123456789";

#[tokio::test]
async fn routes_that_need_a_missing_model_answer_503() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let state = SpeechState::load(
        SpeechConfig::new(ModelsDir::new(empty.path())),
        ApiKeys::new([KEY], SecretString::new("missing-secret")),
        HistoryStore::open(&data.path().join("history")).unwrap(),
        Metrics::new(),
    )
    .unwrap();
    assert!(state.stream_state().is_err(), "no VAD, no streaming");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");

    let check = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        let body: serde_json::Value = r.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("mka1-voice models install"), "{message}");
    };
    let clip = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/librivox/sense-0880.wav"),
    )
    .unwrap();
    for query in ["", "?model=whisper-tiny.en", "?include_speaker_data=true"] {
        let form = Form::new().part("file", Part::bytes(clip.clone()).file_name("a.wav"));
        let r = client
            .post(url(&format!("/api/v1/llm/speech/transcriptions{query}")))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        check(r).await;
    }
    for path in ["/api/v1/llm/speech/tts", "/api/v1/llm/speech/tts/stream"] {
        let r = client
            .post(url(path))
            .bearer_auth(KEY)
            .json(&json!({"text": "Hello."}))
            .send()
            .await
            .unwrap();
        check(r).await;
    }
    // Bad input is still bad input, whatever is installed.
    let form = Form::new().part("file", Part::bytes(Vec::new()).file_name("a.wav"));
    let r = client
        .post(url("/api/v1/llm/speech/transcriptions"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Listings say nothing is installed; metrics say nothing is loaded.
    let models: serde_json::Value = client
        .get(url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"], json!([]));
    let metrics = client
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mka1_model_loaded{kind=\"stt\",model=\"whisper-tiny.en\"} 0"));
    assert!(metrics.contains("mka1_model_loaded{kind=\"tts\",model=\"en_US-joe-medium\"} 0"));
    assert!(metrics.contains("mka1_model_loaded{kind=\"vad\",model=\"silero-vad\"} 0"));
}
