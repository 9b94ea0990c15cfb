//! Streamed speech really streams, and stops when nobody listens: the first bytes arrive
//! while the synthesizer thread is still at work, and closing the connection makes that
//! thread end long before the text is spoken. The threads are counted by name in
//! `/proc/self/task`, so this file holds a single test (no other synthesis runs beside it).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{auth, client, url};
use serde_json::json;

/// Synthesizer threads alive in this process (`tts-synthesizer`, mka1-tts's name).
fn synthesizer_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "tts-synthesizer")
        .count()
}

/// Waits (up to a generous bound) until no synthesizer thread is left.
async fn synthesizers_gone() -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if synthesizer_threads() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn cancelled_streams(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("mka1_tts_streams_cancelled_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

async fn metrics_text() -> String {
    client()
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_bytes_come_before_synthesis_ends_and_a_disconnect_cancels_it() {
    common::server();
    // About a minute of speech: seconds of synthesis on this machine.
    let long_text: String = (1..=24)
        .map(|i| format!("This is sentence number {i} of a long text that takes a while to say. "))
        .collect();
    for (format, endpoint, body) in [
        (
            "mp3",
            "/api/v1/llm/speech/tts/stream",
            json!({"text": long_text, "format": "mp3"}),
        ),
        (
            "pcm",
            "/api/v1/llm/speech/tts/stream",
            json!({"text": long_text, "format": "pcm"}),
        ),
        (
            "opus",
            "/v1/audio/speech",
            json!({"model": "tts-1", "input": long_text, "voice": "alloy", "response_format": "opus"}),
        ),
    ] {
        assert!(
            synthesizers_gone().await,
            "a synthesizer is left from before"
        );
        let before = cancelled_streams(&metrics_text().await);
        let mut response = client()
            .post(url(endpoint))
            .header("authorization", auth())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{format}");
        let first = response.chunk().await.unwrap().unwrap();
        match format {
            // An MPEG audio frame header.
            "mp3" => assert!(first[0] == 0xFF && first[1] & 0xE0 == 0xE0, "{format}"),
            "pcm" => assert_eq!(&first[..4], b"RIFF"),
            _ => assert_eq!(&first[..4], b"OggS"),
        }
        assert!(
            first.len() > 1000,
            "the first chunk carries audio ({format})"
        );
        // The audio is flowing while the rest of the text is still being synthesized.
        assert_eq!(
            synthesizer_threads(),
            1,
            "{format}: synthesis still running"
        );
        drop(response);
        assert!(
            synthesizers_gone().await,
            "{format}: the synthesizer must stop when the client goes away"
        );
        assert_eq!(
            cancelled_streams(&metrics_text().await),
            before + 1,
            "{format}: counted as cancelled"
        );
    }
    // A stream read to its end is not counted as cancelled, and its thread ends too.
    let before = cancelled_streams(&metrics_text().await);
    let whole = client()
        .post(url("/api/v1/llm/speech/tts/stream"))
        .header("authorization", auth())
        .json(&json!({"text": "Short and complete."}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!whole.is_empty());
    assert!(synthesizers_gone().await);
    assert_eq!(cancelled_streams(&metrics_text().await), before);
}
