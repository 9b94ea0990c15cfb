//! The service routes: `/metrics` after real requests, `/openapi.json` against the routes
//! it documents, the model and voice listings, and authentication.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_error, auth, client, sample, url};
use serde_json::{Value, json};

#[tokio::test]
async fn metrics_count_routes_and_report_models() {
    // A few requests of different routes and outcomes first.
    let tts = client()
        .post(url("/api/v1/llm/speech/tts"))
        .header("authorization", auth())
        .json(&json!({"text": "Counting."}))
        .send()
        .await
        .unwrap();
    assert_eq!(tts.status(), 200);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(sample("librivox/sense-0880.wav")).file_name("a.wav"),
    );
    let stt = client()
        .post(url("/api/v1/llm/speech/transcriptions?language=en"))
        .header("authorization", auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(stt.status(), 200);
    let missing = client().get(url("/no/such/route")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let history = client()
        .get(url("/api/v1/llm/speech/tts/history/tts_doesnotexist"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 404);

    let r = client().get(url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200, "no key needed");
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    for needle in [
        "mka1_http_requests_total{method=\"POST\",route=\"/api/v1/llm/speech/tts\",status=\"200\"}",
        "mka1_http_requests_total{method=\"POST\",route=\"/api/v1/llm/speech/transcriptions\",status=\"200\"}",
        "mka1_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        // History routes are counted by their pattern, not their ids.
        "mka1_http_requests_total{method=\"GET\",route=\"/api/v1/llm/speech/tts/history/{id}\",status=\"404\"}",
        "mka1_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/llm/speech/tts\",le=\"+Inf\"}",
        "mka1_transcription_real_time_factor_count{model=\"whisper-tiny.en\"}",
        "mka1_transcription_queue_depth ",
        "mka1_transcription_in_flight ",
        "mka1_model_loaded{kind=\"stt\",model=\"whisper-tiny.en\"} 1",
        "mka1_model_loaded{kind=\"tts\",model=\"en_US-joe-medium\"} 1",
        "mka1_model_loaded{kind=\"vad\",model=\"silero-vad\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    assert!(!text.contains("tts_doesnotexist"));
    // Every sample line is `name{labels} value` or `name value`, value a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[tokio::test]
async fn every_documented_route_exists() {
    let r = client().get(url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 13);
    for (path, item) in paths {
        let concrete = path.replace("{id}", "stt_0000000000000000000000");
        for method in ["get", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let request = match method {
                "get" => client().get(url(&concrete)),
                "post" => client().post(url(&concrete)),
                _ => client().delete(url(&concrete)),
            };
            let r = request
                .header("authorization", auth())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert_ne!(status, 405, "{method} {path}");
            if status == 404 {
                let body: Value = r.json().await.unwrap();
                assert_ne!(
                    body["error"]["message"], "No such endpoint.",
                    "{method} {path}"
                );
            }
            // Every documented status of the operation includes what came back.
            let documented = item[method]["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {path} answered {status}, not documented"
            );
        }
    }
}

#[tokio::test]
async fn models_and_voices_are_listed() {
    let models: Value = client()
        .get(url("/v1/models"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            assert!(m["created"].as_u64().unwrap() > 1_600_000_000);
            assert!(m["owned_by"].is_string());
            m["id"].as_str().unwrap()
        })
        .collect();
    for id in [
        "whisper-tiny.en",
        "whisper-base",
        "whisper-1",
        "piper",
        "tts-1",
        "en_US-joe-medium",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let voices: Value = client()
        .get(url("/v1/audio/voices"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(voices["object"], "list");
    assert_eq!(voices["data"][0]["id"], "en_US-joe-medium");
    assert_eq!(voices["data"][0]["language"], "en");
    assert_eq!(voices["data"][0]["sample_rate"], 24_000);
    for path in ["/v1/models", "/v1/audio/voices"] {
        let r = client().get(url(path)).send().await.unwrap();
        assert_error(r, 401, None).await;
    }
}
