//! The token service inside the real binary: `serve` generates its keys once, the
//! standalone `token-service` refuses to start without sealing keys, and no secret ever
//! reaches the log, whatever the requests.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN_PATH: &str = "/api/v1/llm/speech/livekit/token";
/// Every setting that could leak in from the environment the tests run in.
const SETTINGS: [&str; 9] = [
    "MKA1_API_KEYS",
    "MKA1_API_KEYS_FILE",
    "MKA1_CONFIG_KEYS",
    "MKA1_TOKEN_TTL",
    "MKA1_LISTEN",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "RUST_LOG",
];

/// A running `mka1-voice`, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `mka1-voice <subcommand>` on a free port with only `env` set (plus the data
    /// directory), and waits for `/healthz`.
    fn start(subcommand: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mka1-voice"));
        command
            .args([subcommand, "--listen", &format!("127.0.0.1:{port}")])
            .env("MKA1_DATA_DIR", data_dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in SETTINGS {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut server = Self {
            child: command.spawn().unwrap(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(port, "GET", "/healthz", &[], "").is_none() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("{subcommand} exited early ({status}): {}", server.stop().1);
            }
            assert!(Instant::now() < deadline, "{subcommand} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn post(&self, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut all = headers.to_vec();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            all.push(("Content-Type", "application/json"));
        }
        request(self.port, "POST", TOKEN_PATH, &all, body).unwrap()
    }

    /// Stops the server; returns (stdout, stderr).
    fn stop(&mut self) -> (String, String) {
        let _ = self.child.kill();
        let output = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// One HTTP/1.1 exchange; `None` when nothing listens yet.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).ok()?;
    let _ = s.write_all(body.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn standalone_token_service_refuses_to_start_without_sealing_keys() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mka1-voice"))
        .args(["token-service", "--listen", "127.0.0.1:0"])
        .env("MKA1_DATA_DIR", data.path())
        .env("MKA1_API_KEYS", "some-api-key-0123456789")
        .env_remove("MKA1_CONFIG_KEYS")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot start the token service: MKA1_CONFIG_KEYS is not set"),
        "{stderr}"
    );
    // Nothing was generated in its place.
    assert!(!data.path().join("config-keys").exists());
}

#[test]
fn serve_generates_its_keys_once_and_reuses_them() {
    let data = tempfile::tempdir().unwrap();
    let mut first = Server::start("serve", data.path(), &[]);
    let key = std::fs::read_to_string(data.path().join("api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let auth = format!("Bearer {key}");
    let (status, body) = first.post(&[("Authorization", &auth)], r#"{"llm": {"model": "auto"}}"#);
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    // No LIVEKIT_URL: the client is sent to this very server.
    assert_eq!(answer["url"], format!("ws://127.0.0.1:{}", first.port));
    let (stdout, stderr) = first.stop();
    assert_eq!(
        stdout.matches(&key).count(),
        1,
        "the new key is printed once: {stdout}"
    );
    assert!(!stderr.contains(&key), "the key is not logged");
    assert!(stderr.contains("development credentials"), "{stderr}");
    assert!(stderr.contains("MKA1_CONFIG_KEYS is unset"), "{stderr}");

    #[cfg(unix)]
    for file in ["api-key", "config-keys", "key-id.secret"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    let mut second = Server::start("serve", data.path(), &[]);
    let (status, _) = second.post(&[("Authorization", &auth)], r#"{"llm": {"model": "auto"}}"#);
    assert_eq!(status, 200, "the stored key still works after a restart");
    let (stdout, _) = second.stop();
    assert!(
        !stdout.contains(&key),
        "a stored key is not printed again: {stdout}"
    );
}

/// Expected status, headers, method, body.
type Exchange<'a> = (u16, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[test]
fn no_secret_reaches_the_log_on_any_path() {
    let api_key = "log-scan-api-key-7f3a9c1e5b";
    let wrong_key = "log-scan-wrong-key-2d8e6f";
    let livekit_secret = "log-scan-livekit-secret-91ab27cd";
    let config_key = "bG9nLXNjYW4tY29uZmlnLWtleS0zMi1ieXRlcyEhISE="; // 32 bytes
    let config_entry = format!("scan:{config_key}");
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        "token-service",
        data.path(),
        &[
            ("MKA1_API_KEYS", api_key),
            ("LIVEKIT_API_KEY", "APIlogscan"),
            ("LIVEKIT_API_SECRET", livekit_secret),
            ("LIVEKIT_URL", "wss://lk.example.com"),
            ("MKA1_CONFIG_KEYS", &config_entry),
            // Everything, from every crate (hyper included).
            ("RUST_LOG", "trace"),
        ],
    );
    let auth = format!("Bearer {api_key}");
    let wrong = format!("Bearer {wrong_key}");
    let good = r#"{"llm": {"model": "auto", "instructions": "hello"}, "stt": {"silence_timeout_ms": 500}}"#;
    let too_large =
        serde_json::json!({"llm": {"model": "m", "instructions": "x".repeat(6000)}}).to_string();
    let huge =
        serde_json::json!({"llm": {"model": "m", "instructions": "x".repeat(70_000)}}).to_string();
    let exchanges: Vec<Exchange> = vec![
        (200, vec![("Authorization", &auth)], "POST", good),
        (
            200,
            vec![("Authorization", &auth), ("X-On-Behalf-Of", "user-1")],
            "POST",
            good,
        ),
        (401, vec![], "POST", good),
        (401, vec![("Authorization", &wrong)], "POST", good),
        (
            400,
            vec![("Authorization", &auth), ("X-On-Behalf-Of", "")],
            "POST",
            good,
        ),
        (
            400,
            vec![("Authorization", &auth)],
            "POST",
            r#"{"llm": {"model": "m", "tools": [{"type": "computer_use_preview"}]}}"#,
        ),
        (
            400,
            vec![("Authorization", &auth)],
            "POST",
            r#"{"llm": {"model": "m", "stream": true}}"#,
        ),
        (
            400,
            vec![("Authorization", &auth)],
            "POST",
            r#"{"llm": {"model": "m", "temperature": 9}}"#,
        ),
        (400, vec![("Authorization", &auth)], "POST", "{not json"),
        (400, vec![("Authorization", &auth)], "POST", &too_large),
        (413, vec![("Authorization", &auth)], "POST", &huge),
        (
            415,
            vec![("Authorization", &auth), ("Content-Type", "text/plain")],
            "POST",
            good,
        ),
        (405, vec![("Authorization", &auth)], "GET", ""),
    ];
    for (expected, headers, method, body) in &exchanges {
        let (status, text) = if *method == "POST" {
            server.post(headers, body)
        } else {
            request(server.port, method, TOKEN_PATH, headers, body).unwrap()
        };
        assert_eq!(status, *expected, "{method} {headers:?}: {text}");
        let parsed = json(&text);
        if status != 200 {
            assert!(parsed["error"]["message"].is_string(), "{text}");
            for secret in [api_key, wrong_key, livekit_secret, config_key] {
                assert!(
                    !text.contains(secret),
                    "a response carries a secret: {text}"
                );
            }
        }
    }
    let (status, text) = request(server.port, "GET", "/nope", &[], "").unwrap();
    assert_eq!(
        (status, json(&text)["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let (stdout, log) = server.stop();
    // The log did capture the traffic (so the scan below means something) ...
    assert!(log.contains("issued a LiveKit room token"), "{log}");
    assert!(log.contains("request refused"), "{log}");
    assert!(log.contains("TRACE"), "trace level was not on");
    // ... and no secret is in it, in any encoding we might have slipped.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [
        api_key,
        wrong_key,
        livekit_secret,
        config_key,
        &config_entry,
    ] {
        for form in [secret.to_owned(), b64.encode(secret)] {
            assert!(!log.contains(&form), "the log contains a secret ({form})");
            assert!(!stdout.contains(&form), "stdout contains a secret ({form})");
        }
    }
}
