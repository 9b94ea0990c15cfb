//! The official Python SDKs against the real binary: `mka1-voice serve` on a free port
//! with a throwaway data directory and a fixed API key, then `tests/python/*.py` run with
//! the project's `.venv` Python (`make python-tools` installs the pinned `meetkai-mka1`
//! and `openai`). A missing venv fails these tests, as in token-service/tests/python.rs:
//! a skipped SDK check would read as a passing one.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "sdk-python-test-key-0123456789abcdef";
/// Settings that could leak in from the environment the tests run in.
const SETTINGS: [&str; 8] = [
    "MKA1_API_KEYS",
    "MKA1_API_KEYS_FILE",
    "MKA1_CONFIG_KEYS",
    "MKA1_LISTEN",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "RUST_LOG",
];

/// A running `mka1-voice serve` whose log goes to a file; killed on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _data_dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data_dir = tempfile::tempdir().unwrap();
        let log = data_dir.path().join("server.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mka1-voice"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("MKA1_DATA_DIR", data_dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for name in SETTINGS {
            command.env_remove(name);
        }
        command.env("MKA1_API_KEYS", API_KEY);
        let mut server = Self {
            child: command.spawn().unwrap(),
            port,
            log,
            _data_dir: data_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.healthy() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("serve exited early ({status}):\n{}", server.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not come up:\n{}",
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let mut out = String::new();
        s.write_all(request.as_bytes()).is_ok()
            && s.read_to_string(&mut out).is_ok()
            && out.starts_with("HTTP/1.1 200")
    }

    /// The last lines the server logged, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The project's virtual environment Python. Missing is a failure, not a skip.
fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or `make python-tools`) to create the project's \
         virtual environment with meetkai-mka1 and openai",
        python.display()
    );
    python
}

/// Runs `tests/python/<script>` against a fresh server; asserts it exits 0 and shows its
/// report (and the server's log) when it does not.
fn run_script(script: &str) {
    let python = venv_python();
    let server = Server::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python)
        .arg(root.join("tests/python").join(script))
        .env("MKA1_TEST_URL", format!("http://127.0.0.1:{}", server.port))
        .env("MKA1_TEST_KEY", API_KEY)
        .env("MKA1_TEST_SAMPLES", root.join("samples"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture even when it passes: the per-check figures (WER, sizes).
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}\nIf a module is missing, run \
         `make python-tools`.\n--- server log (tail) ---\n{}",
        output.status,
        server.log_tail()
    );
}

#[test]
fn the_official_mka1_sdk_works_against_serve() {
    run_script("test_mka1_sdk.py");
}

#[test]
fn the_official_openai_sdk_works_against_serve() {
    run_script("test_openai_sdk.py");
}
