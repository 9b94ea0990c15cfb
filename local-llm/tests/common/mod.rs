//! The real `mka1-local-llm` binary on a free port with the provisioned SmolLM2, and a
//! small SSE reader. Shared by the HTTP tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running provider; killed on drop.
pub struct Provider {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the binary and waits for its `listening on` line. The models come from
    /// `MKA1_MODELS_DIR` or the default cache (`mka1-voice models install`).
    pub fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mka1-local-llm"))
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix(mka1_local_llm::LISTENING_PREFIX)
            .unwrap_or_else(|| panic!("unexpected first line {line:?} (is the model installed?)"))
            .to_owned();
        // Keep draining stdout so the child never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self {
            child,
            url: format!("http://{address}"),
        }
    }

    /// POSTs a JSON body to `/responses`.
    pub async fn post(&self, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/responses", self.url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a JSON body to `/responses/prefill` and parses the answer, asserting the
    /// status.
    pub async fn prefill(&self, body: &Value, status: u16) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/responses/prefill", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        response.json().await.unwrap()
    }

    /// POSTs and parses a JSON answer, asserting the status.
    pub async fn post_json(&self, body: &Value, status: u16) -> Value {
        let response = self.post(body).await;
        assert_eq!(response.status(), status, "{body}");
        response.json().await.unwrap()
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Value {
        reqwest::get(format!("{}/healthz", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// One Server-Sent Event: its `event:` name and its `data:` parsed as JSON.
#[derive(Debug)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Parses a whole SSE body.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            SseEvent {
                event,
                data: serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")),
            }
        })
        .collect()
}

/// The text of a Response object's first output message.
pub fn output_text(response: &Value) -> String {
    response["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}
