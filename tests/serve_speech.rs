//! `mka1-voice serve` composes the whole server: the speech API, its history, the token
//! service and `/metrics` over all of them, with models loaded before the first request.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "serve-speech-test-key-0123456789";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request; the status and the body (not chunked-decoded).
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12)?.parse().ok()?;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    Some((status, out[split..].to_vec()))
}

#[test]
fn serve_composes_speech_history_tokens_and_metrics() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data_dir = tempfile::tempdir().unwrap();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("MKA1_DATA_DIR", data_dir.path())
            .env("MKA1_API_KEYS", KEY)
            .env_remove("MKA1_API_KEYS_FILE")
            .env_remove("MKA1_CONFIG_KEYS")
            .env_remove("LIVEKIT_URL")
            .env_remove("RESPONSES_BASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Models load before the port opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while request(port, "GET", "/healthz", &[], b"").is_none() {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let auth = format!("Bearer {KEY}");
    let json = ("Content-Type", "application/json");

    // Speech, stored: the WAV comes back and the record is in the history.
    let (status, wav) = request(
        port,
        "POST",
        "/api/v1/llm/speech/tts",
        &[("Authorization", &auth), json],
        br#"{"text": "Served by the composed server.", "store": true}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(&wav[..4], b"RIFF");
    let (status, list) = request(
        port,
        "GET",
        "/api/v1/llm/speech/tts/history",
        &[("Authorization", &auth)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(list["data"][0]["text"], "Served by the composed server.");
    assert!(
        data_dir.path().join("history").is_dir(),
        "history lives in <data dir>/history"
    );

    // The token route is there too.
    let (status, _) = request(
        port,
        "POST",
        "/api/v1/llm/speech/livekit/token",
        &[("Authorization", &auth), json],
        br#"{"llm": {"model": "m"}}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    let (status, _) = request(port, "GET", "/v1/models", &[], b"").unwrap();
    assert_eq!(status, 401);

    // The metrics layer wraps every route, the token service's included.
    let (status, metrics) = request(port, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    for needle in [
        "route=\"/api/v1/llm/speech/tts\",status=\"200\"",
        "route=\"/api/v1/llm/speech/tts/history\",status=\"200\"",
        "route=\"/api/v1/llm/speech/livekit/token\",status=\"200\"",
        "route=\"/v1/models\",status=\"401\"",
        "route=\"/healthz\",status=\"200\"",
        "mka1_model_loaded{kind=\"stt\",model=\"whisper-tiny.en\"} 1",
        "mka1_model_loaded{kind=\"tts\",model=\"en_US-joe-medium\"} 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }
    let (status, doc) = request(port, "GET", "/openapi.json", &[], b"").unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    // The voice agent (embedded default): the talk page, a dev token on loopback, WebRTC
    // signaling that checks the token, and the local LLM behind the Responses route.
    let (status, page) = request(port, "GET", "/", &[], b"").unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("id=\"talk\""));
    let (status, dev) = request(port, "GET", "/api/v1/voice/dev-token", &[], b"").unwrap();
    assert_eq!(status, 200);
    let dev: serde_json::Value = serde_json::from_slice(&dev).unwrap();
    let token = format!("Bearer {}", dev["token"].as_str().unwrap());
    let offer = "/api/v1/voice/webrtc/offer";
    let (status, _) = request(
        port,
        "POST",
        offer,
        &[json],
        br#"{"type":"offer","sdp":"v=0"}"#,
    )
    .unwrap();
    assert_eq!(status, 401);
    let (status, body) = request(
        port,
        "POST",
        offer,
        &[json, ("Authorization", &token)],
        br#"{"type":"offer","sdp":"not sdp"}"#,
    )
    .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, answer) = request(
        port,
        "POST",
        "/api/v1/llm/responses",
        &[("Authorization", &auth), json],
        br#"{"model": "smollm2-135m-instruct", "input": "What is the capital of France?"}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    // Proxied as it streams (chunked): look at the text.
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains(r#""status":"completed""#), "{answer}");
    assert!(answer.contains("Paris"), "{answer}");
}
