//! How many voice sessions this machine sustains in real time: N sessions in one process
//! (sharing the models, as in `serve`), each with a caller that asks a spoken question,
//! waits for the whole answer, pauses a second and asks again. Callers start staggered so
//! their turns do not line up.
//!
//! ```sh
//! cargo run --release -p mka1-voice-agent --example concurrent_sessions -- \
//!     [--sessions 4] [--turns 5] [--silence-ms 500] [--stt-threads 1] [--budget 2]
//! ```
//! `--budget N` shares N whisper threads among the sessions as `serve` does (a decode
//! alone gets N, one beside others gets 1); without it every decode uses `--stt-threads`.
//! Answers come from the zero-latency stub of the Responses API (the test double), so
//! what is measured is this server's own work. Reported:
//! - late frames: gaps over 40 ms between consecutive agent packets inside an answer
//!   (a 20 ms frame that missed its slot by a frame or more: a listener hears a glitch);
//! - microphone packets dropped because a session's input queue was full (it fell
//!   behind real time);
//! - end to end (last voiced sample of the question → first agent packet), p50/p95 over
//!   every turn of every session.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use std::sync::Arc;

use mka1_stt::streaming::DecodeBudget;
use support::{
    Answer, QUESTIONS, ResponsesDouble, arg, percentile, session_config, speech_48k, start_session,
};

/// A two-clause answer of about three seconds: long enough that playout overlaps the
/// other sessions' recognition and synthesis.
const ANSWER: &str = "Sure, here is a short answer for you. It has two sentences, so the voice keeps talking for a while.";

/// A gap between two packets of one answer above this is a late frame.
const LATE: Duration = Duration::from_millis(40);
/// Gaps above this separate answers (a question and a pause lie between them).
const BETWEEN_ANSWERS: Duration = Duration::from_millis(1500);

/// One caller's run: its turns' end-to-end figures, late frames, packets, worst gap and
/// microphone drops.
struct Run {
    e2e_ms: Vec<f64>,
    late: usize,
    packets: usize,
    worst_gap_ms: f64,
    mic_dropped: u64,
    unanswered: usize,
}

async fn one_caller(
    index: usize,
    base: String,
    silence_ms: u32,
    stt_threads: usize,
    turns: usize,
    clips: Vec<Vec<f32>>,
    budget: Option<Arc<DecodeBudget>>,
) -> Run {
    // Stagger the starts across a turn so the sessions' busy moments spread out.
    tokio::time::sleep(Duration::from_millis(index as u64 * 900)).await;
    let config = session_config(silence_ms);
    let mut settings = mka1_voice_agent::session::SessionSettings::from_config(&config);
    settings.stt_threads = stt_threads;
    let (resources, _) = support::resources_with(&base, budget);
    let (caller, _session) = start_session(resources, config, settings);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut e2e_ms = Vec::new();
    let mut unanswered = 0;
    for turn in 0..turns {
        let before = caller.heard.lock().unwrap().events_of("agent_turn").len();
        let last_voiced = caller
            .say(clips[(turn + index) % clips.len()].clone())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut answered = true;
        while caller.heard.lock().unwrap().events_of("agent_turn").len() == before {
            if Instant::now() > deadline {
                answered = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !answered {
            unanswered += 1;
            continue;
        }
        let first_audio = caller
            .heard
            .lock()
            .unwrap()
            .audio
            .iter()
            .find(|(at, _)| *at > last_voiced)
            .map(|(at, _)| *at);
        if let Some(at) = first_audio {
            e2e_ms.push(at.duration_since(last_voiced).as_secs_f64() * 1e3);
        }
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    let run = summarize(&caller, e2e_ms, unanswered);
    caller.hang_up();
    run
}

/// The caller's packets and drops, once its turns are over.
fn summarize(caller: &support::Caller, e2e_ms: Vec<f64>, unanswered: usize) -> Run {
    let heard = caller.heard.lock().unwrap();
    let mut late = 0;
    let mut worst = Duration::ZERO;
    for pair in heard.audio.windows(2) {
        let gap = pair[1].0.duration_since(pair[0].0);
        if gap < BETWEEN_ANSWERS {
            worst = worst.max(gap);
            if gap > LATE {
                late += 1;
            }
        }
    }
    Run {
        e2e_ms,
        late,
        packets: heard.audio.len(),
        worst_gap_ms: worst.as_secs_f64() * 1e3,
        mic_dropped: caller.mic.dropped(),
        unanswered,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sessions: usize = arg("--sessions").unwrap_or(4);
    let turns: usize = arg("--turns").unwrap_or(5);
    let silence_ms: u32 = arg("--silence-ms").unwrap_or(500);
    let stt_threads: usize = arg("--stt-threads").unwrap_or(1);
    let budget: Option<Arc<DecodeBudget>> =
        arg::<usize>("--budget").map(|n| Arc::new(DecodeBudget::new(n)));
    let base = ResponsesDouble::new(vec![(
        "",
        vec![Answer::Text {
            text: ANSWER.into(),
            gap: Duration::ZERO,
        }],
    )])
    .serve()
    .await;
    let clips: Vec<Vec<f32>> = QUESTIONS
        .iter()
        .map(|q| support::voiced(&speech_48k(q)))
        .collect();
    let started = Instant::now();
    let runs = futures_join_all(
        (0..sessions)
            .map(|i| {
                tokio::spawn(one_caller(
                    i,
                    base.clone(),
                    silence_ms,
                    stt_threads,
                    turns,
                    clips.clone(),
                    budget.clone(),
                ))
            })
            .collect(),
    )
    .await;
    let mut all: Vec<f64> = runs.iter().flat_map(|r| r.e2e_ms.clone()).collect();
    let late: usize = runs.iter().map(|r| r.late).sum();
    let packets: usize = runs.iter().map(|r| r.packets).sum();
    let dropped: u64 = runs.iter().map(|r| r.mic_dropped).sum();
    let unanswered: usize = runs.iter().map(|r| r.unanswered).sum();
    let worst = runs.iter().map(|r| r.worst_gap_ms).fold(0.0, f64::max);
    println!(
        "{sessions} sessions x {turns} turns | silence {silence_ms} ms | whisper threads {} | {:.0} s",
        budget.as_ref().map_or(stt_threads.to_string(), |_| format!(
            "shared budget of {}",
            arg::<usize>("--budget").unwrap_or(0)
        )),
        started.elapsed().as_secs_f64()
    );
    for (i, r) in runs.iter().enumerate() {
        let mut e = r.e2e_ms.clone();
        println!(
            "  session {i}: e2e p50 {:.0} ms | late frames {}/{} | worst gap {:.0} ms | mic dropped {} | unanswered {}",
            percentile(&mut e, 0.5),
            r.late,
            r.packets,
            r.worst_gap_ms,
            r.mic_dropped,
            r.unanswered
        );
    }
    println!(
        "all: e2e p50 {:.0} ms p95 {:.0} ms over {} turns | late frames {late}/{packets} | worst gap {worst:.0} ms | mic dropped {dropped} | unanswered {unanswered}",
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.95),
        all.len(),
    );
}

/// Awaits every task (without a futures dependency).
async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<Run>>) -> Vec<Run> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
