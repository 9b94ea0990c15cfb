//! Shared by the speech API tests: the real router (real models from the models
//! directory, a history in a temporary directory, the metrics layer, the server's
//! fallbacks) serving on a real socket from a runtime of its own, started once per test
//! binary; plus the project's real speech samples.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use mka1_http_api::{ApiKeys, SecretString};
use mka1_models::ModelsDir;
use mka1_speech_api::history::{HistoryState, HistoryStore};
use mka1_speech_api::{Metrics, SpeechConfig, SpeechState, router};

/// The API key the tests send.
pub const KEY: &str = "speech-test-key-0123456789";

/// The running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: SpeechState,
    _data: tempfile::TempDir,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();

/// The server of this test binary (started, with its models loaded, on first use).
pub fn server() -> &'static TestServer {
    SERVER.get_or_init(start)
}

fn start() -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let history = HistoryStore::open(&data.path().join("history")).unwrap();
    let keys = ApiKeys::new([KEY], SecretString::new("speech-test-key-id-secret"));
    let metrics = Metrics::new();
    let state = SpeechState::load(
        SpeechConfig::new(ModelsDir::from_env().unwrap()),
        keys.clone(),
        history.clone(),
        metrics.clone(),
    )
    .unwrap();
    // Composed as `mka1-voice serve` composes it.
    let app = router(state.clone())
        .merge(mka1_speech_api::history::router(HistoryState {
            store: history,
            keys,
        }))
        .merge(mka1_speech_api::stream_ws::router(
            state.stream_state().unwrap(),
        ))
        .fallback(mka1_http_api::not_found_fallback)
        .method_not_allowed_fallback(mka1_http_api::method_not_allowed_fallback);
    let app = metrics.instrument(app);
    // The server's runtime lives on a thread of its own: tests run on their own runtimes,
    // one per test, and must not end it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    TestServer {
        addr: rx.recv().unwrap(),
        state,
        _data: data,
    }
}

/// `http://127.0.0.1:<port><path>`.
pub fn url(path: &str) -> String {
    format!("http://{}{path}", server().addr)
}

/// A client that sends the test key.
pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `Authorization: Bearer <KEY>`.
pub fn auth() -> String {
    format!("Bearer {KEY}")
}

/// The samples directory of the repository.
pub fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// A sample's bytes.
pub fn sample(relative: &str) -> Vec<u8> {
    std::fs::read(samples().join(relative)).unwrap()
}

/// The reference transcript of a sample (samples/transcripts.tsv).
pub fn reference(relative: &str) -> String {
    let table = std::fs::read_to_string(samples().join("transcripts.tsv")).unwrap();
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (path, text) = l.split_once('\t')?;
            (path == relative).then(|| text.to_owned())
        })
        .unwrap_or_else(|| panic!("no transcript for {relative}"))
}

/// Asserts the API's JSON error: status, and the message when given.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    message: Option<&str>,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error["code"].is_string(), "{body}");
    if let Some(m) = message {
        assert_eq!(error["message"], m, "{body}");
    }
    body
}

/// Word error rate of `hypothesis` against `reference`.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    mka1_stt::wer::word_error_rate(reference, hypothesis)
}

/// Decodes audio bytes to 16 kHz mono with the project's decoder.
pub fn decode_16k(bytes: &[u8]) -> Vec<f32> {
    mka1_media::decode_to_mono(bytes, mka1_media::PcmHint::None, 16_000)
        .unwrap()
        .samples
}

/// Transcribes 16 kHz audio with the server's own pool (tiny.en), for round trips.
pub async fn transcribe_16k(samples: Vec<f32>) -> String {
    server()
        .state
        .pool()
        .transcribe(
            mka1_stt::ModelId::TinyEn,
            samples,
            mka1_stt::TranscribeOptions {
                language: Some("en".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .text
}
