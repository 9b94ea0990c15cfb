//! First-token latency and decode speed of the local provider's engine (no HTTP), for
//! BENCHMARKS.md.
//!
//! `cargo run --release -p mka1-local-llm --example latency -- [THREADS] [RUNS]`
//! (defaults: 2 threads, 10 runs). Each run asks a different short question with the
//! default voice-assistant system prompt, greedy, up to 64 tokens: as in a voice session,
//! the system prompt's KV state is reused from the previous run and the question is new.
//! The first run (nothing cached) is reported on its own.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mka1_local_llm::chat::{ChatMessage, DEFAULT_INSTRUCTIONS, Role};
use mka1_local_llm::engine::{DEFAULT_N_CTX, Event, GenerationRequest, Task};
use mka1_local_llm::{Engine, EngineConfig};
use mka1_models::ModelsDir;
use mka1_models::catalog::paths;

const QUESTIONS: [&str; 10] = [
    "What is the capital of France?",
    "How many days are in a week?",
    "What color is the sky on a clear day?",
    "Can you recommend a good book?",
    "What is two plus two?",
    "Why do leaves change color in autumn?",
    "What is the tallest animal?",
    "How do I boil an egg?",
    "What is the weather usually like in summer?",
    "Tell me a fun fact about cats.",
];

struct Run {
    prompt_tokens: usize,
    cached_tokens: usize,
    first_token: Duration,
    output_tokens: usize,
    decode: Duration,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let model_path = ModelsDir::from_env()
        .unwrap()
        .path(paths::SMOLLM2_135M_INSTRUCT);
    let t = Instant::now();
    let engine = Engine::start(EngineConfig {
        model_path,
        threads,
        n_ctx: DEFAULT_N_CTX,
    })
    .unwrap();
    println!("model load: {:.0} ms, {threads} threads", ms(t.elapsed()));

    let mut results = Vec::new();
    for i in 0..runs {
        let question = QUESTIONS[i % QUESTIONS.len()];
        results.push(run(&engine, question));
    }
    let first = &results[0];
    println!(
        "run 1 (cold): prompt {} tokens, first token {:.0} ms",
        first.prompt_tokens,
        ms(first.first_token)
    );
    let warm = &results[1..];
    if warm.is_empty() {
        return;
    }
    let mut first_tokens: Vec<f64> = warm.iter().map(|r| ms(r.first_token)).collect();
    first_tokens.sort_by(f64::total_cmp);
    let tokens: usize = warm.iter().map(|r| r.output_tokens.saturating_sub(1)).sum();
    let decode: Duration = warm.iter().map(|r| r.decode).sum();
    let new_prompt: f64 = warm
        .iter()
        .map(|r| (r.prompt_tokens - r.cached_tokens) as f64)
        .sum::<f64>()
        / warm.len() as f64;
    let answer: f64 = warm.iter().map(|r| r.output_tokens as f64).sum::<f64>() / warm.len() as f64;
    println!(
        "runs 2..{runs} (system prompt cached, {new_prompt:.0} new prompt tokens on average): \
         first token median {:.0} ms (min {:.0}, max {:.0}); decode {:.1} tokens/s; \
         answers {answer:.0} tokens on average",
        first_tokens[first_tokens.len() / 2],
        first_tokens[0],
        first_tokens[first_tokens.len() - 1],
        tokens as f64 / decode.as_secs_f64(),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(engine: &Engine, question: &str) -> Run {
    let start = Instant::now();
    let mut events = engine
        .submit(GenerationRequest {
            messages: vec![
                ChatMessage::new(Role::System, DEFAULT_INSTRUCTIONS),
                ChatMessage::new(Role::User, question),
            ],
            max_output_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
            task: Task::Generate,
        })
        .unwrap();
    let (mut prompt_tokens, mut cached_tokens) = (0, 0);
    let mut first_token = None;
    loop {
        match events.blocking_recv().unwrap() {
            Event::Started {
                prompt_tokens: p,
                cached_tokens: c,
                ..
            } => (prompt_tokens, cached_tokens) = (p, c),
            Event::Delta(_) => {
                first_token.get_or_insert_with(|| start.elapsed());
            }
            Event::Finished { output_tokens, .. } => {
                let first_token = first_token.unwrap_or_else(|| start.elapsed());
                return Run {
                    prompt_tokens,
                    cached_tokens,
                    first_token,
                    output_tokens,
                    decode: start.elapsed() - first_token,
                };
            }
            Event::Failed(e) => panic!("{e}"),
            Event::Skipped => unreachable!("only prefills are skipped"),
        }
    }
}
