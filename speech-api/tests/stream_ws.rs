//! The streaming transcription WebSocket over a real socket, with real speech (LibriVox,
//! public domain), the real models (Whisper tiny.en, Silero VAD) and a real client
//! (tokio-tungstenite). Audio is sent at real-time pace: one 20 ms frame per 20 ms.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mka1_http_api::{ApiKeys, SecretString};
use mka1_media::opus::{FRAME_SAMPLES, MAX_PACKET_BYTES};
use mka1_media::vad::SileroVad;
use mka1_media::{OpusEncoder, PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_speech_api::stream_ws::{self, STREAM_PATH, StreamState};
use mka1_stt::wer::word_error_rate;
use mka1_stt::{ModelId, SttError, WhisperModel};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const KEY: &str = "stream-test-key-0123456789";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn model() -> Arc<WhisperModel> {
    static MODEL: OnceLock<Arc<WhisperModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = ModelsDir::from_env().unwrap();
            let path = ModelId::TinyEn.ggml_path(&dir);
            Arc::new(WhisperModel::load(ModelId::TinyEn, &path).unwrap())
        })
        .clone()
}

/// The streaming route alone on 127.0.0.1, serving tiny.en (English only, as a server with
/// just that model installed would).
async fn start(max_sessions: usize) -> String {
    let keys = ApiKeys::new([KEY], SecretString::new("test-id-secret"));
    let vad = SileroVad::from_env().unwrap();
    let provider: stream_ws::ModelProvider = Arc::new(|language: Option<&str>| match language {
        Some(l) if l != "en" => Err(SttError::LanguageNotSupported {
            model: ModelId::TinyEn,
            language: l.to_owned(),
        }),
        _ => Ok(model()),
    });
    let state = StreamState::new(keys, vad, provider).with_max_sessions(max_sessions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, stream_ws::router(state))
            .await
            .unwrap();
    });
    format!("ws://{addr}{STREAM_PATH}")
}

enum Auth<'a> {
    Header(&'a str),
    Subprotocol(&'a str),
    None,
}

async fn connect(url: &str, auth: Auth<'_>) -> Result<Ws, WsError> {
    let mut request = url.into_client_request().unwrap();
    match auth {
        Auth::Header(key) => {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
            );
        }
        Auth::Subprotocol(key) => {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(&format!("bearer, {key}")).unwrap(),
            );
        }
        Auth::None => {}
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await?;
    if matches!(auth, Auth::Subprotocol(_)) {
        // The server picks `bearer` and never sends the key back.
        assert_eq!(response.headers()["sec-websocket-protocol"], "bearer");
    }
    Ok(ws)
}

/// The HTTP status and JSON body of a refused upgrade.
async fn refused(url: &str, auth: Auth<'_>) -> (u16, Value) {
    match connect(url, auth).await {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap(),
            )
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the upgrade of {url} was accepted"),
    }
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

fn reference(key: &str) -> String {
    std::fs::read_to_string(samples_dir().join("transcripts.tsv"))
        .unwrap()
        .lines()
        .find_map(|l| l.split_once('\t').filter(|(f, _)| *f == key))
        .map(|(_, t)| t.to_owned())
        .unwrap()
}

fn librivox(name: &str, rate: u32) -> Vec<f32> {
    let bytes = std::fs::read(samples_dir().join("librivox").join(name)).unwrap();
    decode_to_mono(&bytes, PcmHint::None, rate).unwrap().samples
}

fn s16le(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16).to_le_bytes())
        .collect()
}

/// Everything the server sent until it closed: `(when, event)` and the close code.
struct Received {
    events: Vec<(Instant, Value)>,
    close: Option<CloseCode>,
}

impl Received {
    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e["type"] == kind)
            .collect()
    }

    fn kinds(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|(_, e)| e["type"].as_str())
            .collect()
    }
}

async fn receive_all(
    mut read: impl StreamExt<Item = Result<Message, WsError>> + Unpin,
) -> Received {
    let mut received = Received {
        events: Vec::new(),
        close: None,
    };
    while let Some(message) = read.next().await {
        match message {
            Ok(Message::Text(text)) => received
                .events
                .push((Instant::now(), serde_json::from_str(&text).unwrap())),
            Ok(Message::Close(frame)) => {
                received.close = frame.map(|f| f.code);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    received
}

/// Sends `messages` one per 20 ms, then `stop`; returns what came back and when the last
/// message was sent.
async fn stream_in_real_time(ws: Ws, messages: Vec<Vec<u8>>) -> (Received, Vec<Instant>) {
    let (mut write, read) = ws.split();
    let reader = tokio::spawn(receive_all(read));
    let mut sent_at = Vec::with_capacity(messages.len());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for message in messages {
        tick.tick().await;
        write.send(Message::binary(message)).await.unwrap();
        sent_at.push(Instant::now());
    }
    write
        .send(Message::text(r#"{"type":"stop"}"#))
        .await
        .unwrap();
    let received = reader.await.unwrap();
    (received, sent_at)
}

/// Checks the event sequence of one utterance and returns its final text.
fn one_utterance(received: &Received) -> String {
    let kinds = received.kinds();
    assert_eq!(kinds.first(), Some(&"speech_started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"speech_stopped"), "{kinds:?}");
    let final_at = kinds.iter().position(|k| *k == "final").unwrap();
    assert!(kinds[..final_at].contains(&"partial"), "{kinds:?}");
    assert_eq!(received.of_type("final").len(), 1, "{kinds:?}");
    assert_eq!(received.close, Some(CloseCode::Normal));
    received.of_type("final")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Milliseconds from the message holding the end of speech to the final's arrival.
fn final_latency_ms(received: &Received, sent_at: &[Instant], frame_ms: u64) -> u128 {
    let (arrived, event) = received
        .events
        .iter()
        .find(|(_, e)| e["type"] == "final")
        .unwrap();
    let end_ms = event["end_ms"].as_u64().unwrap();
    let frame = usize::try_from(end_ms / frame_ms)
        .unwrap()
        .min(sent_at.len() - 1);
    arrived.duration_since(sent_at[frame]).as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcm_at_real_time_pace_gives_partials_then_the_final() {
    let url = start(4).await;
    let speech = librivox("sense-0870.wav", 16_000);
    let audio = [speech, vec![0.0; 16_000]].concat();
    // Frames of 639 and 641 bytes: samples split across messages must survive.
    let bytes = s16le(&audio);
    let mut messages = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = if messages.len() % 2 == 0 { 641 } else { 639 };
        let end = (at + len).min(bytes.len());
        messages.push(bytes[at..end].to_vec());
        at = end;
    }
    let ws = connect(
        &format!("{url}?encoding=pcm_s16le&sample_rate=16000&language=en"),
        Auth::Header(KEY),
    )
    .await
    .unwrap();
    let (received, sent_at) = stream_in_real_time(ws, messages).await;
    let text = one_utterance(&received);
    let wer = word_error_rate(&reference("librivox/sense-0870.wav"), &text);
    assert!(wer <= 0.10, "WER {wer:.2}: {text:?}");
    eprintln!(
        "pcm: {} partials, final {:?}, {} ms after the last voiced frame was sent",
        received.of_type("partial").len(),
        text,
        final_latency_ms(&received, &sent_at, 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_packets_at_real_time_pace_are_transcribed() {
    let url = start(4).await;
    let speech = librivox("sense-0930.wav", 48_000);
    let mut audio = [speech, vec![0.0; 48_000]].concat();
    audio.resize(audio.len().next_multiple_of(FRAME_SAMPLES), 0.0);
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let packets: Vec<Vec<u8>> = audio
        .chunks(FRAME_SAMPLES)
        .map(|frame| {
            let n = encoder.encode_frame(frame, &mut packet).unwrap();
            packet[..n].to_vec()
        })
        .collect();
    // Browser-style: the key rides in the subprotocols.
    let ws = connect(&format!("{url}?encoding=opus"), Auth::Subprotocol(KEY))
        .await
        .unwrap();
    let (received, sent_at) = stream_in_real_time(ws, packets).await;
    let text = one_utterance(&received);
    let wer = word_error_rate(&reference("librivox/sense-0930.wav"), &text);
    assert!(wer <= 0.10, "WER {wer:.2}: {text:?}");
    eprintln!(
        "opus: final {:?}, {} ms after the last voiced frame was sent",
        text,
        final_latency_ms(&received, &sent_at, 20)
    );
}

/// The next JSON event (skipping nothing: these sessions carry no speech).
async fn next_event(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed early: {frame:?}"),
            _ => {}
        }
    }
}

/// Sends `stop` and waits for the server's normal close.
/// Answers the server's close frame as a well-behaved client does (polling the socket
/// sends the reply) and waits for the end of the stream. Without it the server holds
/// the session, and its slot, for its 2 s close grace.
async fn finish_close(ws: &mut Ws) {
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

async fn stop_and_expect_close(ws: &mut Ws, expected: CloseCode) {
    ws.send(Message::text(r#"{"type":"stop"}"#)).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| f.code), Some(expected));
                finish_close(ws).await;
                return;
            }
            Some(Ok(Message::Text(text))) => panic!("unexpected event {text}"),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_error_events_and_the_server_keeps_serving() {
    let url = start(4).await;

    // Text that is not JSON, and JSON of an unknown type: error events, session goes on.
    let mut ws = connect(&url, Auth::Header(KEY)).await.unwrap();
    ws.send(Message::text("hello?")).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("invalid_message"))
    );
    ws.send(Message::text(r#"{"type":"dance"}"#)).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!(e["code"], "unknown_message_type");
    assert!(e["message"].as_str().unwrap().contains("dance"));
    ws.send(Message::binary(s16le(&[0.0; 320]))).await.unwrap();
    stop_and_expect_close(&mut ws, CloseCode::Normal).await;

    // Packets that are not Opus are skipped with an error; good ones still decode.
    let mut ws = connect(&format!("{url}?encoding=opus"), Auth::Header(KEY))
        .await
        .unwrap();
    for junk in [vec![0xff, 0xff, 0xff], vec![]] {
        ws.send(Message::binary(junk)).await.unwrap();
        let e = next_event(&mut ws).await;
        assert_eq!(e["code"], "invalid_audio", "{e}");
    }
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let n = encoder
        .encode_frame(&[0.0; FRAME_SAMPLES], &mut packet)
        .unwrap();
    ws.send(Message::binary(packet[..n].to_vec()))
        .await
        .unwrap();
    stop_and_expect_close(&mut ws, CloseCode::Normal).await;

    // Over the size limit: an error event, then the server closes (1009).
    let mut ws = connect(&url, Auth::Header(KEY)).await.unwrap();
    ws.send(Message::binary(vec![0u8; stream_ws::MAX_MESSAGE_BYTES + 2]))
        .await
        .unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!(e["code"], "message_too_large", "{e}");
    match ws.next().await {
        Some(Ok(Message::Close(frame))) => {
            assert_eq!(frame.map(|f| f.code), Some(CloseCode::Size));
            finish_close(&mut ws).await;
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // A client that just leaves mid-stream takes nothing down: a new session works, this
    // time with the key in the query.
    let mut ws = connect(&url, Auth::Header(KEY)).await.unwrap();
    ws.send(Message::binary(s16le(&[0.1; 1_600])))
        .await
        .unwrap();
    drop(ws);
    let mut ws = connect(&format!("{url}?api_key={KEY}"), Auth::None)
        .await
        .unwrap();
    stop_and_expect_close(&mut ws, CloseCode::Normal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_bad_queries_are_refused_before_the_upgrade() {
    let url = start(1).await;

    let (status, body) = refused(&url, Auth::None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_api_key"))
    );
    let (status, body) = refused(&url, Auth::Header("wrong-key")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let (status, _) = refused(&format!("{url}?api_key=wrong"), Auth::None).await;
    assert_eq!(status, 401);
    let (status, _) = refused(&url, Auth::Subprotocol("wrong")).await;
    assert_eq!(status, 401);

    for (query, param) in [
        ("encoding=mp3", "encoding"),
        ("sample_rate=4000", "sample_rate"),
        ("sample_rate=96000", "sample_rate"),
        ("sample_rate=fast", "sample_rate"),
        ("language=xx", "language"),
        // Only the English model is installed here.
        ("language=fr", "language"),
    ] {
        let (status, body) = refused(&format!("{url}?{query}"), Auth::Header(KEY)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["param"], param, "{query}: {body}");
    }

    // A plain GET (no upgrade) is a JSON 400 too.
    let http_url = url.replacen("ws://", "http://", 1);
    let response = reqwest::Client::new()
        .get(&http_url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "websocket_required");

    // One session allowed: the second waits for the first to end (429 meanwhile).
    let mut first = connect(&url, Auth::Header(KEY)).await.unwrap();
    let (status, _) = refused(&url, Auth::Header(KEY)).await;
    assert_eq!(status, 429);
    stop_and_expect_close(&mut first, CloseCode::Normal).await;
    drop(first);
    // The permit is released when the session task ends, just after the close.
    let mut again = None;
    for _ in 0..100 {
        if let Ok(ws) = connect(&url, Auth::Header(KEY)).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_and_expect_close(&mut again.unwrap(), CloseCode::Normal).await;
}
