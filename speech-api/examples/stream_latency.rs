//! How long after the end of speech the final transcript arrives over the streaming
//! WebSocket, for utterances of 1 to 10 s and for each LibriVox clip.
//!
//! ```sh
//! cargo run --release -p mka1-speech-api --example stream_latency [-- --silence-ms 500 --pause-ms 100 --threads 2]
//! ```
//!
//! The defaults are `serve`'s: pause 100 ms, and Whisper threads from the server's shared
//! budget (a lone stream decodes on every core, up to 4). `--threads N` fixes them per
//! decode instead (0: every core).
//!
//! The route runs in-process on 127.0.0.1 with Whisper tiny.en and Silero VAD; a client
//! sends s16le PCM at real-time pace (one 20 ms message per 20 ms) followed by 1.5 s of
//! silence and `stop`. Two figures per utterance:
//! - after the VAD decision: from the message holding the sample where the silence window
//!   ran out (end of speech + `silence-ms`, rounded up to the VAD's 32 ms windows) to the
//!   final's arrival. This is the recognizer's own latency.
//! - after the end of speech: from the message holding the last voiced sample (the final's
//!   `end_ms`) to the final's arrival: what a user waits, silence window included.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mka1_http_api::{ApiKeys, SecretString};
use mka1_media::vad::{SegmentConfig, SileroVad, detect_segments};
use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_speech_api::stream_ws::{self, STREAM_PATH, StreamState};
use mka1_stt::streaming::{DecodeBudget, StreamConfig};
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const KEY: &str = "latency-bench-key-0123456789";
const FRAME: usize = 320;
const VAD_WINDOW: u64 = 512;

struct Run {
    finals: usize,
    partials: usize,
    end_ms: u64,
    after_end_ms: i128,
    after_decision_ms: i128,
    text: String,
}

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

fn clip(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(samples_dir().join(name)).unwrap();
    let hint = if name.ends_with(".raw") {
        PcmHint::RawS16le {
            sample_rate: 16_000,
        }
    } else {
        PcmHint::None
    };
    decode_to_mono(&bytes, hint, 16_000).unwrap().samples
}

/// Sends `speech` + 1.5 s of silence at real-time pace and times the final.
async fn measure(url: &str, speech: &[f32], silence_ms: u32) -> Run {
    let audio: Vec<u8> = speech
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0.0, 24_000))
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32_767.0) as i16).to_le_bytes())
        .collect();
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut write, mut read) = ws.split();
    let reader = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(Ok(message)) = read.next().await {
            match message {
                Message::Text(text) => {
                    events.push((
                        Instant::now(),
                        serde_json::from_str::<Value>(&text).unwrap(),
                    ));
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        events
    });
    let mut sent_at = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in audio.chunks(2 * FRAME) {
        tick.tick().await;
        write.send(Message::binary(frame.to_vec())).await.unwrap();
        sent_at.push(Instant::now());
    }
    write
        .send(Message::text(r#"{"type":"stop"}"#))
        .await
        .unwrap();
    let events = reader.await.unwrap();

    let finals: Vec<&(Instant, Value)> = events
        .iter()
        .filter(|(_, e)| e["type"] == "final")
        .collect();
    let partials = events
        .iter()
        .filter(|(_, e)| e["type"] == "partial")
        .count();
    let Some((arrived, last)) = finals.last() else {
        return Run {
            finals: 0,
            partials,
            end_ms: 0,
            after_end_ms: -1,
            after_decision_ms: -1,
            text: String::new(),
        };
    };
    let end_ms = last["end_ms"].as_u64().unwrap();
    let end_sample = end_ms * 16;
    let decision_sample =
        end_sample + (u64::from(silence_ms) * 16).div_ceil(VAD_WINDOW) * VAD_WINDOW;
    let sent = |sample: u64| sent_at[(sample as usize / FRAME).min(sent_at.len() - 1)];
    let since = |t: Instant| {
        if *arrived >= t {
            arrived.duration_since(t).as_millis() as i128
        } else {
            -(t.duration_since(*arrived).as_millis() as i128)
        }
    };
    Run {
        finals: finals.len(),
        partials,
        end_ms,
        after_end_ms: since(sent(end_sample)),
        after_decision_ms: since(sent(decision_sample)),
        text: last["text"].as_str().unwrap_or_default().to_owned(),
    }
}

fn print(label: &str, seconds: f64, run: &Run) {
    println!(
        "{label:<24} {seconds:>5.2} s  finals {:>1}  partials {:>2}  end {:>6} ms  final +{:>5} ms after end of speech, +{:>5} ms after VAD decision  {:?}",
        run.finals, run.partials, run.end_ms, run.after_end_ms, run.after_decision_ms, run.text
    );
}

#[tokio::main]
async fn main() {
    let silence_ms = arg("--silence-ms", 500);
    let pause_ms = arg("--pause-ms", 100);
    // Unset: `serve`'s shared budget (a lone stream decodes on every core, up to 4).
    let threads = arg("--threads", u32::MAX);
    let dir = ModelsDir::from_env().unwrap();
    let model =
        Arc::new(WhisperModel::load(ModelId::TinyEn, &ModelId::TinyEn.ggml_path(&dir)).unwrap());
    let vad = SileroVad::from_env().unwrap();
    let provider: stream_ws::ModelProvider = Arc::new(move |_| Ok(Arc::clone(&model)));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = StreamConfig::default()
        .with_silence_ms(silence_ms)
        .with_pause_ms(pause_ms);
    config = if threads == u32::MAX {
        config.with_budget(Arc::new(DecodeBudget::new(cores.min(4))))
    } else {
        config.with_transcribe(TranscribeOptions {
            threads: (threads > 0).then_some(threads as usize),
            ..TranscribeOptions::default()
        })
    };
    let state = StreamState::new(
        ApiKeys::new([KEY], SecretString::new("bench")),
        vad.clone(),
        provider,
    )
    .with_stream_config(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}{STREAM_PATH}?language=en",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, stream_ws::router(state)).await });
    let threads = match threads {
        u32::MAX => format!("{} (the shared budget, alone)", cores.min(4)),
        0 => "all".to_owned(),
        n => n.to_string(),
    };
    println!(
        "tiny.en, silence {silence_ms} ms, pause {pause_ms} ms, {cores} cores, whisper threads {threads}, real-time pace"
    );

    // Real speech without its lead-in and trailing silences, end to end: cut at 1..10 s.
    let names = [
        "librivox/sense-0870.wav",
        "librivox/sense-0880.wav",
        "librivox/sense-0890.wav",
        "librivox/sense-0920.wav",
        "librivox/sense-0930.wav",
    ];
    let mut speech = Vec::new();
    for name in names {
        let audio = clip(name);
        let segments = detect_segments(
            &vad,
            &audio,
            &SegmentConfig::default().with_prefix_padding_ms(0),
        )
        .unwrap();
        if let (Some(first), Some(last)) = (segments.first(), segments.last()) {
            speech.extend_from_slice(
                &audio[first.start_sample as usize..(last.end_sample as usize).min(audio.len())],
            );
        }
    }
    println!("-- utterances cut from continuous speech");
    for seconds in 1..=10usize {
        let piece = &speech[..(seconds * 16_000).min(speech.len())];
        let run = measure(&url, piece, silence_ms).await;
        print(&format!("speech[..{seconds} s]"), seconds as f64, &run);
    }
    println!("-- whole clips (their own lead-in and trailing silence included)");
    for name in names.iter().chain(&["goforward-16k.raw"]) {
        let audio = clip(name);
        let run = measure(&url, &audio, silence_ms).await;
        print(name, audio.len() as f64 / 16_000.0, &run);
    }
}
