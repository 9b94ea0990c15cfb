//! The official OpenAI Python SDK against the real provider: `tests/python/
//! test_local_llm_openai.py` (at the workspace root, beside the other SDK scripts) run
//! with the project's `.venv` Python (`make python-tools` installs the pinned `openai`).
//! A missing venv fails the test: a skipped SDK check would read as a passing one.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Provider;

#[tokio::test]
async fn the_official_openai_sdk_parses_the_stream() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make python-tools` to create the project's Python tools",
        python.display()
    );
    let provider = Provider::start();
    let script = root.join("tests/python/test_local_llm_openai.py");
    let url = provider.url.clone();
    // The script blocks; keep it off the runtime that serves nothing here anyway.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("MKA1_TEST_URL", url)
            .env("MKA1_TEST_KEY", "unused-by-the-local-provider")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the SDK checks failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}
