//! End-to-end turn latency of a voice session: a prepared spoken question is played into
//! a session at real-time pace, and the time from its last voiced sample to the first
//! agent audio packet is measured, turn after turn.
//!
//! ```sh
//! cargo run --release -p mka1-voice-agent --example turn_latency -- \
//!     [--turns 20] [--silence-ms 500] [--no-preemptive] [--stt-threads 1] [--pause-ms 100] [--responses URL [--prefill]]
//! ```
//! Without `--responses` the answers come from a zero-latency stub (the test double of
//! the Responses API, answering at once); with it, from that Responses API (for example
//! the local LLM: `mka1-local-llm --listen 127.0.0.1:8091` then
//! `--responses http://127.0.0.1:8091`). `--prefill` sends the local provider the words
//! heard so far while the user speaks (`ResponsesClient::with_prefill`, as `serve` does).
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{
    Answer, QUESTIONS, ResponsesDouble, arg, percentile, resources, session_config, speech_48k,
    start_session, voiced,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // RUST_LOG=mka1_voice_agent=debug shows each reply's clause timings. whisper.cpp's own
    // log is off unless asked for: it reports each cancelled partial as an error.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,whisper_rs=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let turns: usize = arg("--turns").unwrap_or(20);
    let silence_ms: u32 = arg("--silence-ms").unwrap_or(500);
    let preemptive = !std::env::args().any(|a| a == "--no-preemptive");
    let upstream: Option<String> = arg("--responses");
    let base = match &upstream {
        Some(url) => url.clone(),
        None => {
            ResponsesDouble::new(vec![(
                "",
                vec![Answer::Text {
                    text: "Sure. Here is a short answer for you.".into(),
                    gap: Duration::ZERO,
                }],
            )])
            .serve()
            .await
        }
    };
    let mut config = session_config(silence_ms);
    if upstream.is_some() {
        config
            .llm
            .insert("model".into(), serde_json::json!("smollm2-135m-instruct"));
        // Greedy, so runs compare: SmolLM2-135M sampled at temperature 1 rambles (at times
        // in French), and answer length moves the first clause's synthesis time.
        config
            .llm
            .insert("temperature".into(), serde_json::json!(0));
    }
    let mut settings = mka1_voice_agent::session::SessionSettings::from_config(&config);
    settings.preemptive = preemptive;
    settings.stt_threads = arg("--stt-threads").unwrap_or(1);
    if let Some(pause_ms) = arg("--pause-ms") {
        settings.pause_ms = pause_ms;
    }
    let clips: Vec<Vec<f32>> = QUESTIONS.iter().map(|q| voiced(&speech_48k(q))).collect();
    let settings_threads = settings.stt_threads;
    let mut resources = resources(&base);
    if std::env::args().any(|a| a == "--prefill") {
        // The local provider evaluates the question's words while they are spoken.
        let only = std::sync::Arc::get_mut(&mut resources).unwrap();
        only.responses = only.responses.clone().with_prefill();
    }
    let (caller, _session) = start_session(resources, config, settings);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut e2e = Vec::new();
    let mut reported = Vec::new();
    for turn in 0..turns {
        let before = caller.heard.lock().unwrap().events_of("agent_turn").len();
        let sent = caller.say(clips[turn % clips.len()].clone());
        let last_voiced: Instant = sent.await.unwrap();
        // Wait for this turn's end.
        let deadline = Instant::now() + Duration::from_secs(60);
        while caller.heard.lock().unwrap().events_of("agent_turn").len() == before {
            assert!(Instant::now() < deadline, "turn {turn} got no answer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ms = {
            let heard = caller.heard.lock().unwrap();
            let first_audio = heard
                .audio
                .iter()
                .find(|(at, _)| *at > last_voiced)
                .map(|(at, _)| *at)
                .unwrap();
            if let Some(m) = heard.events_of("turn_metrics").last() {
                reported.push((*m).clone());
            }
            first_audio.duration_since(last_voiced).as_secs_f64() * 1e3
        };
        e2e.push(ms);
        println!("turn {turn:>2}: e2e {ms:7.1} ms");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    let mut overhead: Vec<f64> = e2e.iter().map(|e| e - f64::from(silence_ms)).collect();
    let mut all = e2e.clone();
    println!(
        "llm {} | silence {silence_ms} ms | preemptive {preemptive} | whisper threads {} | {turns} turns",
        upstream.as_deref().unwrap_or("zero-latency stub"),
        settings_threads
    );
    println!(
        "e2e p50 {:.0} ms p95 {:.0} ms | response overhead p50 {:.0} ms p95 {:.0} ms",
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.95),
        percentile(&mut overhead, 0.5),
        percentile(&mut overhead, 0.95),
    );
    let field = |name: &str| {
        let mut v: Vec<f64> = reported.iter().filter_map(|m| m[name].as_f64()).collect();
        if v.is_empty() {
            return String::from("-");
        }
        format!(
            "{:.0}/{:.0}",
            percentile(&mut v, 0.5),
            percentile(&mut v, 0.95)
        )
    };
    println!(
        "session-reported p50/p95 ms: end of utterance {} | stt final {} | llm first token {} | tts first audio {} | e2e {}",
        field("end_of_utterance_ms"),
        field("stt_final_ms"),
        field("llm_first_token_ms"),
        field("tts_first_audio_ms"),
        field("end_to_end_ms"),
    );
    caller.hang_up();
}
