//! The Responses API of `mka1-local-llm` over real HTTP with the real SmolLM2 model.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Provider, output_text, parse_sse};
use futures_util::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn answers_a_question_on_topic() {
    let provider = Provider::start();
    let body = json!({
        "model": "smollm2-test",
        "input": "What is the capital of France?",
        "temperature": 0,
        "max_output_tokens": 64,
        "metadata": {"voice_mode": "true"},
    });
    let response = provider.post_json(&body, 200).await;
    assert!(response["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(response["object"], "response");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "smollm2-test");
    assert_eq!(response["metadata"], json!({"voice_mode": "true"}));
    let item = &response["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(item["content"][0]["type"], "output_text");
    let text = output_text(&response);
    assert!(text.contains("Paris"), "{text}");
    let usage = &response["usage"];
    let (input, output) = (
        usage["input_tokens"].as_u64().unwrap(),
        usage["output_tokens"].as_u64().unwrap(),
    );
    assert!(input > 10 && output > 0, "{usage}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), input + output);
    // Also served at MKA1's path.
    let mka1 = reqwest::Client::new()
        .post(format!("{}/api/v1/llm/responses", provider.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(mka1.status(), 200);
    let again: Value = mka1.json().await.unwrap();
    assert_eq!(
        output_text(&again),
        text,
        "greedy decoding is deterministic"
    );
}

#[tokio::test]
async fn streams_events_in_order() {
    let provider = Provider::start();
    let response = provider
        .post(&json!({
            "model": "smollm2",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Name three colors."}]}],
            "stream": true,
            "temperature": 0,
            "max_output_tokens": 48,
        }))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    assert!(!body.contains("[DONE]"));
    let events = parse_sse(&body);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let n = kinds.len();
    assert!(n > 9, "{kinds:?}");
    assert_eq!(
        kinds[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert!(
        kinds[4..n - 4]
            .iter()
            .all(|k| *k == "response.output_text.delta"),
        "{kinds:?}"
    );
    // `response.incomplete` when the answer reaches `max_output_tokens` (thread counts
    // change llama.cpp's arithmetic enough to change a greedy answer's length).
    assert_eq!(
        kinds[n - 4..n - 1],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ]
    );
    assert!(
        ["response.completed", "response.incomplete"].contains(&kinds[n - 1]),
        "{kinds:?}"
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.data["type"], event.event);
        assert_eq!(event.data["sequence_number"], i as u64);
    }
    let item_id = events[2].data["item"]["id"].as_str().unwrap();
    let deltas: String = events[4..n - 4]
        .iter()
        .map(|e| {
            assert_eq!(e.data["item_id"], item_id);
            assert_eq!(e.data["output_index"], 0);
            assert_eq!(e.data["content_index"], 0);
            e.data["delta"].as_str().unwrap()
        })
        .collect();
    assert!(!deltas.trim().is_empty());
    assert_eq!(events[n - 4].data["text"], deltas.as_str());
    assert_eq!(events[n - 3].data["part"]["text"], deltas.as_str());
    assert_eq!(
        events[n - 2].data["item"]["content"][0]["text"],
        deltas.as_str()
    );
    let created = &events[0].data["response"];
    let completed = &events[n - 1].data["response"];
    assert_eq!(created["status"], "in_progress");
    let status = kinds[n - 1].trim_start_matches("response.");
    assert_eq!(completed["status"], status);
    assert_eq!(created["id"], completed["id"]);
    assert_eq!(output_text(completed), deltas);
    assert!(completed["usage"]["output_tokens"].as_u64().unwrap() >= (n - 8) as u64);
}

/// SmolLM2-135M recalls a fact from the previous turn only for some phrasings: with
/// "My name is Ada." it answers "What is my name?" with a name of its own, but it does
/// recall the dog's name below (greedy, so the same every run). The token counts show
/// the earlier turns are in the prompt whatever the model makes of them.
#[tokio::test]
async fn chains_with_previous_response_id_and_conversations() {
    let provider = Provider::start();
    let first = provider
        .post_json(
            &json!({"model": "m", "input": "My dog is called Max.", "temperature": 0, "max_output_tokens": 48}),
            200,
        )
        .await;
    let second = provider
        .post_json(
            &json!({
                "model": "m",
                "input": "What is my dog called?",
                "previous_response_id": first["id"],
                "temperature": 0,
                "max_output_tokens": 48,
            }),
            200,
        )
        .await;
    assert_eq!(second["previous_response_id"], first["id"]);
    let answer = output_text(&second);
    assert!(answer.contains("Max"), "{answer}");
    // The second prompt holds the first turn and its answer; their KV state is reused.
    let used = |r: &Value, k: &str| r["usage"][k].as_u64().unwrap();
    assert!(
        used(&second, "input_tokens")
            > used(&first, "input_tokens") + used(&first, "output_tokens"),
        "{} / {}",
        first["usage"],
        second["usage"]
    );
    assert!(used(&second, "input_tokens") > 0);
    let cached = second["usage"]["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached >= used(&first, "input_tokens") - 1);
    // An answer the model ended by itself is followed at once by the next user turn's
    // opening (`<|im_end|>\n<|im_start|>user\n`), cached before the second request.
    if first["status"] == "completed" {
        assert!(
            cached >= used(&first, "input_tokens") + used(&first, "output_tokens") + 3,
            "{} / {}",
            first["usage"],
            second["usage"]
        );
    }

    // The same conversation by name.
    let conversation = json!({"id": "conv_test"});
    let a = provider
        .post_json(
            &json!({"model": "m", "input": "My dog is called Max.", "conversation": conversation, "temperature": 0}),
            200,
        )
        .await;
    let b = provider
        .post_json(
            &json!({"model": "m", "input": "What is my dog called?", "conversation": "conv_test", "temperature": 0}),
            200,
        )
        .await;
    assert_eq!(b["conversation"]["id"], "conv_test");
    assert!(used(&b, "input_tokens") > used(&a, "input_tokens") + used(&a, "output_tokens"));
    assert!(output_text(&b).contains("Max"), "{}", output_text(&b));
}

#[tokio::test]
async fn a_prefill_caches_the_words_heard_so_far_and_stores_nothing() {
    let provider = Provider::start();
    let first = provider
        .post_json(
            &json!({"model": "m", "input": "My dog is called Max.", "temperature": 0, "max_output_tokens": 48}),
            200,
        )
        .await;
    // The question while it is being spoken, then as it ends.
    let partial = provider
        .prefill(
            &json!({"model": "m", "input": "What is my dog", "previous_response_id": first["id"]}),
            200,
        )
        .await;
    assert_eq!(partial["object"], "prefill");
    assert_eq!(partial["status"], "completed", "{partial}");
    let prefilled = partial["prompt_tokens"].as_u64().unwrap();
    let used = |r: &Value, k: &str| r["usage"][k].as_u64().unwrap();
    // The whole conversation so far, and the new words.
    assert!(
        prefilled > used(&first, "input_tokens") + used(&first, "output_tokens"),
        "{partial} / {}",
        first["usage"]
    );
    // The same words again: nothing to evaluate.
    let again = provider
        .prefill(
            &json!({"model": "m", "input": "What is my dog", "previous_response_id": first["id"]}),
            200,
        )
        .await;
    assert_eq!(again["cached_tokens"], again["prompt_tokens"], "{again}");

    let second = provider
        .post_json(
            &json!({
                "model": "m",
                "input": "What is my dog called?",
                "previous_response_id": first["id"],
                "temperature": 0,
                "max_output_tokens": 48,
            }),
            200,
        )
        .await;
    let cached = second["usage"]["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    // Everything up to the words heard so far was evaluated before the question ended.
    assert!(
        cached >= prefilled,
        "prefilled {prefilled}, {}",
        second["usage"]
    );
    assert!(
        output_text(&second).contains("Max"),
        "{}",
        output_text(&second)
    );
    // A prefill is no response: the chain goes on from the answer, not from it.
    assert_eq!(second["previous_response_id"], first["id"]);

    let health = provider.health().await;
    assert_eq!(health["prefills"]["run"], 2, "{health}");
    assert_eq!(health["generations"]["completed"], 2, "{health}");

    // A chain that does not exist is the same 404 as for a response.
    let missing = provider
        .prefill(
            &json!({"model": "m", "input": "Hi", "previous_response_id": "resp_nope"}),
            404,
        )
        .await;
    assert_eq!(
        missing["error"]["code"], "previous_response_not_found",
        "{missing}"
    );
}

#[tokio::test]
async fn errors_are_openai_shaped() {
    let provider = Provider::start();
    let missing = provider
        .post_json(
            &json!({"model": "m", "input": "Hi", "previous_response_id": "resp_unknown"}),
            404,
        )
        .await;
    assert_eq!(missing["error"]["type"], "invalid_request_error");
    assert_eq!(missing["error"]["code"], "previous_response_not_found");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resp_unknown")
    );

    let client = reqwest::Client::new();
    let url = format!("{}/responses", provider.url);
    let bad = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["type"], "invalid_request_error");

    let wrong = provider
        .post_json(&json!({"model": "m", "input": "Hi", "top_p": 2}), 400)
        .await;
    assert_eq!(wrong["error"]["param"], "top_p");

    let huge = client
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let huge: Value = huge.json().await.unwrap();
    assert_eq!(huge["error"]["code"], "request_too_large");

    // A prompt that cannot fit the context even alone.
    let long = "word ".repeat(5000);
    let too_long = provider
        .post_json(&json!({"model": "m", "input": long}), 400)
        .await;
    assert_eq!(too_long["error"]["code"], "context_length_exceeded");

    let nowhere = client
        .post(format!("{}/nowhere", provider.url))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    let nowhere: Value = nowhere.json().await.unwrap();
    assert_eq!(nowhere["error"]["code"], "not_found");

    // Nothing above reached the model.
    let health = provider.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["generations"]["failed"], 0);
}

/// A client that hangs up mid-stream stops its generation: the next request is served,
/// and the first is counted as cancelled, not as having run to its budget.
#[tokio::test]
async fn disconnect_cancels_generation() {
    let provider = Provider::start();
    let response = provider
        .post(&json!({
            "model": "m",
            "input": "Write a very long story about a dragon who learns to sing.",
            "stream": true,
            "temperature": 0,
            "max_output_tokens": 1500,
        }))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("response.output_text.delta") {
        let chunk = body.next().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(body);

    let next = provider
        .post_json(
            &json!({"model": "m", "input": "What is the capital of France?", "temperature": 0, "max_output_tokens": 32}),
            200,
        )
        .await;
    assert!(!output_text(&next).is_empty());
    let health = provider.health().await;
    let generations = &health["generations"];
    assert_eq!(generations["cancelled"], 1, "{health}");
    assert_eq!(
        generations["incomplete"].as_u64().unwrap() + generations["completed"].as_u64().unwrap(),
        1,
        "{health}"
    );
}

/// One generation runs and a few wait; beyond that requests are refused at once with a
/// 429 and `Retry-After`, as the OpenAI SDKs expect in order to retry. Deterministic: a
/// long generation is seen running (its first delta read) before the queue is filled, and
/// the queued requests are only sent, never waited for. Each wait has a deadline, so a
/// stuck provider fails the test with its `/healthz` instead of hanging it.
#[tokio::test]
async fn a_full_queue_answers_429_and_skips_prefills() {
    use std::time::Duration;
    const DEADLINE: Duration = Duration::from_secs(120);
    let provider = Provider::start();
    let long = json!({
        "model": "m",
        "input": "Write a very long story about a dragon who learns to sing.",
        "temperature": 0,
        "max_output_tokens": 1500,
    });
    // 1. One generation running.
    let mut streaming = long.clone();
    streaming["stream"] = json!(true);
    let running = tokio::time::timeout(DEADLINE, provider.post(&streaming))
        .await
        .expect("the first request was not answered");
    assert_eq!(running.status(), 200);
    let mut body = running.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("response.output_text.delta") {
        let chunk = tokio::time::timeout(DEADLINE, body.next())
            .await
            .expect("no delta from the running generation")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // 2. The queue filled: these are admitted and wait (their answers are never read).
    let mut queued = Vec::new();
    for _ in 0..mka1_local_llm::engine::QUEUE_DEPTH {
        let (url, body) = (provider.url.clone(), long.clone());
        queued.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/responses"))
                .json(&body)
                .send()
                .await
        }));
    }
    // Admission is at once: wait until the provider counts them all queued.
    let waited = std::time::Instant::now();
    loop {
        let health = provider.health().await;
        let queued = health["generations"]["queued"].as_u64().unwrap();
        if queued == mka1_local_llm::engine::QUEUE_DEPTH as u64 {
            break;
        }
        assert!(
            waited.elapsed() < DEADLINE,
            "the queue never filled: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 3. One more: refused at once, while the first is still generating.
    let response = tokio::time::timeout(
        DEADLINE,
        reqwest::Client::new()
            .post(format!("{}/responses", provider.url))
            .json(&long)
            .send(),
    )
    .await
    .expect("the request over the queue was not answered")
    .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "rate_limit_exceeded", "{json}");
    // A prefill while answers wait is skipped at once, never queued before them.
    let skipped = tokio::time::timeout(
        DEADLINE,
        provider.prefill(&json!({"model": "m", "input": "What is"}), 200),
    )
    .await
    .expect("the prefill was not answered at once");
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    for task in queued {
        task.abort();
    }
    drop(body);
}
