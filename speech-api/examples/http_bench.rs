//! Latency and throughput of the speech API over real HTTP, with the real models.
//!
//! ```sh
//! cargo run --release -p mka1-speech-api --example http_bench            # everything
//! cargo run --release -p mka1-speech-api --example http_bench -- tts     # TTS only
//! cargo run --release -p mka1-speech-api --example http_bench -- stt load
//! ```
//!
//! The server runs in this process on a runtime of its own (two workers, as on the
//! development machine), exactly as `mka1-voice serve` composes it; the client is reqwest
//! on another runtime. Figures are printed as Markdown tables (BENCHMARKS.md).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mka1_http_api::{ApiKeys, SecretString};
use mka1_models::ModelsDir;
use mka1_speech_api::history::{HistoryState, HistoryStore};
use mka1_speech_api::{Metrics, SpeechConfig, SpeechState, router};
use reqwest::multipart::{Form, Part};
use serde_json::json;

const KEY: &str = "bench-key-0123456789";
const TWO_SENTENCES: &str = "Hello there, thanks for calling. How can I help you today?";

fn start_server() -> (SocketAddr, tokio::runtime::Runtime, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let history = HistoryStore::open(&data.path().join("history")).unwrap();
    let keys = ApiKeys::new([KEY], SecretString::new("bench-secret"));
    let metrics = Metrics::new();
    let state = SpeechState::load(
        SpeechConfig::new(ModelsDir::from_env().unwrap()),
        keys.clone(),
        history.clone(),
        metrics.clone(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = metrics.instrument(
        router(state)
            .merge(mka1_speech_api::history::router(HistoryState {
                store: history,
                keys,
            }))
            .fallback(mka1_http_api::not_found_fallback),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, runtime, data)
}

/// Median, 90th percentile and minimum, in milliseconds.
fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!(
        "{:.0} | {:.0} | {:.0}",
        pick(0.5),
        pick(0.9),
        ms.first().copied().unwrap_or(0.0)
    )
}

async fn tts_bench(base: &str, client: &reqwest::Client) {
    println!("\n### TTS over HTTP (two sentences: {TWO_SENTENCES:?})\n");
    println!("| measure | median ms | p90 ms | min ms |\n|---|---|---|---|");
    for format in ["mp3", "pcm"] {
        let (mut first, mut total) = (Vec::new(), Vec::new());
        for i in 0..21 {
            let start = Instant::now();
            let mut r = client
                .post(format!("{base}/api/v1/llm/speech/tts/stream"))
                .bearer_auth(KEY)
                .json(&json!({"text": TWO_SENTENCES, "format": format}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let _ = r.chunk().await.unwrap().unwrap();
            let first_ms = start.elapsed().as_secs_f64() * 1000.0;
            while r.chunk().await.unwrap().is_some() {}
            // The first request warms the connection and the encoder: not counted.
            if i > 0 {
                first.push(first_ms);
                total.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        println!(
            "| stream `{format}`: first audio byte | {} |",
            summary(first)
        );
        println!("| stream `{format}`: whole body | {} |", summary(total));
    }
    let mut whole = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/llm/speech/tts"))
            .bearer_auth(KEY)
            .json(&json!({"text": TWO_SENTENCES}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        whole.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("| `/tts` whole WAV | {} |", summary(whole));
}

fn sample(relative: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples")
            .join(relative),
    )
    .unwrap()
}

async fn transcribe_once(
    client: &reqwest::Client,
    base: &str,
    bytes: &[u8],
    query: &str,
) -> reqwest::StatusCode {
    let form = Form::new().part("file", Part::bytes(bytes.to_vec()).file_name("clip.wav"));
    let r = client
        .post(format!("{base}/api/v1/llm/speech/transcriptions{query}"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let _ = r.bytes().await.unwrap();
    status
}

async fn stt_bench(base: &str, client: &reqwest::Client) {
    println!("\n### Transcription request time over HTTP\n");
    println!("| clip | model | median ms | p90 ms | min ms |\n|---|---|---|---|---|");
    for (name, relative) in [
        ("3 s (sense-0880.wav, 2.99 s)", "librivox/sense-0880.wav"),
        (
            "10 s (two-speakers-16k.wav, 10.4 s)",
            "two-speakers-16k.wav",
        ),
    ] {
        let bytes = sample(relative);
        for (model, query) in [
            ("whisper-tiny.en (`language=en`)", "?language=en"),
            ("whisper-base (`model=auto`, no language)", "?model=auto"),
        ] {
            let mut times = Vec::new();
            for i in 0..8 {
                let start = Instant::now();
                assert_eq!(transcribe_once(client, base, &bytes, query).await, 200);
                if i > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1000.0);
                }
            }
            println!("| {name} | {model} | {} |", summary(times));
        }
    }
}

async fn load_bench(base: &str) {
    println!("\n### Throughput: K clients in a loop, 3 s clip, tiny.en, 20 s per K\n");
    println!(
        "| K | successes | successes/s | 429s | other | median ms |\n|---|---|---|---|---|---|"
    );
    let bytes = sample("librivox/sense-0880.wav");
    for k in [1usize, 2, 4, 8, 16] {
        let end = Instant::now() + Duration::from_secs(20);
        let mut tasks = Vec::new();
        for _ in 0..k {
            let (base, bytes) = (base.to_owned(), bytes.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut busy, mut other, mut times) = (0u32, 0u32, 0u32, Vec::new());
                while Instant::now() < end {
                    let start = Instant::now();
                    match transcribe_once(&client, &base, &bytes, "?language=en")
                        .await
                        .as_u16()
                    {
                        200 => {
                            ok += 1;
                            times.push(start.elapsed().as_secs_f64() * 1000.0);
                        }
                        429 => {
                            busy += 1;
                            // A client honouring Retry-After would wait; a tight loop shows
                            // where the queue bound bites.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        _ => other += 1,
                    }
                }
                (ok, busy, other, times)
            }));
        }
        let started = Instant::now();
        let (mut ok, mut busy, mut other, mut times) = (0, 0, 0, Vec::new());
        for t in tasks {
            let (o, b, x, ts) = t.await.unwrap();
            ok += o;
            busy += b;
            other += x;
            times.extend(ts);
        }
        let secs = started.elapsed().as_secs_f64();
        let median = if times.is_empty() {
            "-".to_owned()
        } else {
            summary(times).split(" | ").next().unwrap_or("-").to_owned()
        };
        println!(
            "| {k} | {ok} | {:.2} | {busy} | {other} | {median} |",
            f64::from(ok) / secs
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let (addr, _server, _data) = start_server();
    let base = format!("http://{addr}");
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_runtime.block_on(async {
        let client = reqwest::Client::new();
        if want("tts") {
            tts_bench(&base, &client).await;
        }
        if want("stt") {
            stt_bench(&base, &client).await;
        }
        if want("load") {
            load_bench(&base).await;
        }
    });
}
