//! A real browser talks to the voice agent: Debian's Chromium (headless, driven by
//! playwright-core through `tests/browser/talk.mjs`) opens the page `mka1-voice serve`
//! hosts at `/`, clicks Talk, and speaks a question through its fake microphone (a WAV
//! file made here with the project's voice). Everything between is the product: the
//! dev token, the WebRTC offer, Opus both ways, the session with the local SmolLM2
//! provider, and the events data channel the page renders. A screenshot of the page is
//! saved under the test output directory (`target/tmp/browser-talk.png`).
//!
//! Needs `make browser-tools` (Debian's chromium, `npm ci` in tests/browser); `make test`
//! runs it.
#![allow(clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mka1_stt::wer::word_error_rate;

const QUESTION: &str = "What is the capital of France?";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The question at 48 kHz, after 5 s of silence: Chromium starts playing the file when
/// the page opens the microphone, before ICE gathering (up to 3 s) and the offer are
/// done, so the question must start after the call is up. 3 s of silence follow it.
fn question_wav(path: &Path) {
    let voice = mka1_tts::PiperVoice::from_env(&mka1_tts::JOE).unwrap();
    let speech = voice.synthesize(QUESTION).unwrap();
    let speech = mka1_media::resample(&speech, mka1_tts::SAMPLE_RATE, 48_000).unwrap();
    let mut audio = vec![0.0f32; 48_000 * 5];
    audio.extend(speech);
    audio.extend(std::iter::repeat_n(0.0, 48_000 * 3));
    std::fs::write(path, mka1_media::encode::encode_wav(&audio, 48_000)).unwrap();
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[test]
fn chromium_talks_to_the_agent_through_the_page() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file()
            && browser_dir().join("node_modules/playwright-core").is_dir(),
        "Chromium or playwright-core is missing: run `make browser-tools`"
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let wav = out.join("browser-question.wav");
    let screenshot = out.join("browser-talk.png");
    let _ = std::fs::remove_file(&screenshot);
    question_wav(&wav);

    // The embedded default: no RESPONSES_BASE_URL, so serve starts the local LLM; on
    // loopback, so the page gets a dev token.
    let port = free_port();
    let data_dir = tempfile::tempdir().unwrap();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("MKA1_DATA_DIR", data_dir.path())
            .env("MKA1_API_KEYS", "browser-test-key-0123456789abcdef")
            .env_remove("MKA1_API_KEYS_FILE")
            .env_remove("MKA1_CONFIG_KEYS")
            .env_remove("LIVEKIT_URL")
            .env_remove("RESPONSES_BASE_URL")
            // The session's own lines (turn metrics) help when this fails; WebRTC's are noise.
            .env("RUST_LOG", "warn,mka1_voice=info,mka1_voice_agent=info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut node = Command::new("node")
        .current_dir(browser_dir())
        .arg("talk.mjs")
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(&wav)
        .arg(&screenshot)
        .arg("90000")
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (Debian's nodejs)");
    // talk.mjs gives up after 90 s on its own; this only guards against a hung browser.
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser run hung");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = node.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    eprintln!("the page showed: {shown}");
    eprintln!("screenshot: {}", screenshot.display());
    assert!(status.success(), "the page never showed an answer: {shown}");
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();

    // What the user said, as the page shows it (the agent's STT, through the browser's
    // audio processing and Opus).
    let user = shown["user"][0].as_str().unwrap_or_default();
    assert!(
        word_error_rate(QUESTION, user) <= 0.34,
        "page shows {user:?}"
    );
    // The local model's answer, as it was spoken.
    let agent = shown["agent"][0].as_str().unwrap_or_default();
    assert!(
        agent.split_whitespace().count() >= 2,
        "page shows {agent:?}"
    );
    assert_eq!(shown["state"], "listening");
    // The turn's latency row, end to end included.
    let columns: Vec<&str> = shown["latency_columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let e2e = columns.iter().position(|c| *c == "end_to_end").unwrap();
    let row = &shown["latency_rows"][0];
    let e2e_ms: f64 = row[e2e].as_str().unwrap().parse().unwrap();
    assert!(e2e_ms > 0.0, "{row}");
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // The server's /metrics counted the session and the turn.
    let metrics = get(port, "/metrics");
    assert!(
        metrics.contains("mka1_voice_sessions_started_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mka1_voice_turn_stage_seconds_count{stage=\"end_to_end\"} 1\n"),
        "{metrics}"
    );
}

/// A plain HTTP/1.1 GET; the body as text.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
