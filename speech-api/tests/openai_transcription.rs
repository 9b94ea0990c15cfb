//! OpenAI's `/v1/audio/transcriptions` over real HTTP: every `response_format`, word and
//! segment timestamps, and the SSE stream, parsed the way clients parse them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_error, auth, client, reference, sample, url, wer};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

const CLIP: &str = "librivox/sense-0870.wav";

fn form(fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new().part(
        "file",
        Part::bytes(sample(CLIP))
            .file_name("speech.wav")
            .mime_str("audio/wav")
            .unwrap(),
    );
    for (k, v) in fields {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    form
}

async fn post(fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(url("/v1/audio/transcriptions"))
        .header("authorization", auth())
        .multipart(form(fields))
        .send()
        .await
        .unwrap()
}

/// `HH:MM:SS<sep>mmm` → milliseconds.
fn parse_timestamp(t: &str, sep: char) -> u64 {
    let (hms, ms) = t.split_once(sep).unwrap();
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{t}");
    assert_eq!(ms.len(), 3, "{t}");
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().unwrap()
}

#[tokio::test]
async fn json_and_text() {
    let r = post(&[("model", "whisper-1"), ("language", "en")]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        wer(&reference(CLIP), body["text"].as_str().unwrap()) <= 0.1,
        "{body}"
    );
    assert_eq!(body["usage"]["type"], "duration");

    let r = post(&[
        ("model", "whisper-1"),
        ("language", "en"),
        ("response_format", "text"),
    ])
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(wer(&reference(CLIP), &text) <= 0.1, "{text}");
}

#[tokio::test]
async fn srt_and_vtt_parse() {
    let srt = post(&[("model", "whisper-tiny.en"), ("response_format", "srt")])
        .await
        .text()
        .await
        .unwrap();
    let mut spoken = Vec::new();
    let mut last_end = 0;
    for (i, cue) in srt.trim_end().split("\n\n").enumerate() {
        let lines: Vec<&str> = cue.lines().collect();
        assert_eq!(lines[0], (i + 1).to_string(), "{srt}");
        let (start, end) = lines[1].split_once(" --> ").unwrap();
        let (start, end) = (parse_timestamp(start, ','), parse_timestamp(end, ','));
        assert!(start >= last_end && end > start, "{srt}");
        last_end = end;
        spoken.push(lines[2..].join(" "));
    }
    assert!(last_end > 5000 && last_end <= 7200, "{srt}");
    assert!(wer(&reference(CLIP), &spoken.join(" ")) <= 0.1, "{srt}");

    let vtt = post(&[("model", "whisper-tiny.en"), ("response_format", "vtt")])
        .await
        .text()
        .await
        .unwrap();
    let rest = vtt.strip_prefix("WEBVTT\n\n").unwrap();
    let mut spoken = Vec::new();
    for cue in rest.trim_end().split("\n\n") {
        let lines: Vec<&str> = cue.lines().collect();
        let (start, end) = lines[0].split_once(" --> ").unwrap();
        assert!(
            parse_timestamp(end, '.') > parse_timestamp(start, '.'),
            "{vtt}"
        );
        spoken.push(lines[1..].join(" "));
    }
    assert!(wer(&reference(CLIP), &spoken.join(" ")) <= 0.1, "{vtt}");
}

#[tokio::test]
async fn verbose_json_has_segments_and_words() {
    let r = post(&[
        ("model", "whisper-1"),
        ("language", "en"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
    ])
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["task"], "transcribe");
    assert_eq!(body["language"], "english");
    let duration = body["duration"].as_f64().unwrap();
    assert!((duration - 7.1).abs() < 0.05, "{duration}");
    let segments = body["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["id"], i);
        for key in [
            "seek",
            "start",
            "end",
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        ] {
            assert!(s[key].is_number(), "{key} in {s}");
        }
        assert!(s["text"].is_string());
        assert!(!s["tokens"].as_array().unwrap().is_empty(), "{s}");
        assert!(s["avg_logprob"].as_f64().unwrap() <= 0.0);
        let p = s["no_speech_prob"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
    let words = body["words"].as_array().unwrap();
    let said: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert!(wer(&reference(CLIP), &said.join(" ")) <= 0.1, "{said:?}");
    let mut last = 0.0;
    for w in words {
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(
            start >= last - 0.01 && end >= start && end <= duration + 0.1,
            "{w}"
        );
        last = start;
    }
    // Word granularity alone: words, no segments (as OpenAI answers).
    let body: Value = post(&[
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
    ])
    .await
    .json()
    .await
    .unwrap();
    assert!(
        body.get("segments").is_none() && body["words"].is_array(),
        "{body}"
    );
}

#[tokio::test]
async fn stream_sends_deltas_then_done() {
    let r = post(&[
        ("model", "whisper-1"),
        ("language", "en"),
        ("stream", "true"),
    ])
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let (done, deltas) = events.split_last().unwrap();
    assert_eq!(done["type"], "transcript.text.done");
    assert!(!deltas.is_empty());
    let joined: String = deltas
        .iter()
        .map(|d| {
            assert_eq!(d["type"], "transcript.text.delta");
            d["delta"].as_str().unwrap()
        })
        .collect();
    assert_eq!(joined.trim(), done["text"].as_str().unwrap().trim());
    assert!(wer(&reference(CLIP), &joined) <= 0.1);
}

#[tokio::test]
async fn bad_requests() {
    assert_error(
        post(&[("model", "whisper-1"), ("response_format", "diarized_json")]).await,
        400,
        Some("Unsupported `response_format` 'diarized_json': use one of json, text, srt, vtt, verbose_json."),
    )
    .await;
    assert_error(post(&[("model", "gpt-5")]).await, 400, None).await;
    assert_error(
        post(&[("model", "whisper-1"), ("temperature", "2")]).await,
        400,
        None,
    )
    .await;
    assert_error(
        post(&[
            ("model", "whisper-1"),
            ("timestamp_granularities[]", "char"),
        ])
        .await,
        400,
        None,
    )
    .await;
    let r = client()
        .post(url("/v1/audio/transcriptions"))
        .header("authorization", auth())
        .multipart(Form::new().text("model", "whisper-1"))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, None).await;
    let r = client()
        .post(url("/v1/audio/transcriptions"))
        .multipart(form(&[("model", "whisper-1")]))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, None).await;
}

#[tokio::test]
async fn long_audio_streams_window_by_window() {
    // About 57 s of real speech with pauses: two 30 s windows or more.
    let clips = [
        "librivox/sense-0870.wav",
        "librivox/sense-0880.wav",
        "librivox/sense-0890.wav",
        "librivox/sense-0920.wav",
        "librivox/sense-0930.wav",
    ];
    let mut audio = Vec::new();
    let mut said = Vec::new();
    for _ in 0..2 {
        for clip in clips {
            audio.extend(common::decode_16k(&sample(clip)));
            audio.extend(std::iter::repeat_n(0.0f32, 16_000));
            said.push(reference(clip));
        }
    }
    assert!(audio.len() > 16_000 * 50);
    let wav = mka1_media::encode::encode_wav(&audio, 16_000);
    let form = Form::new()
        .part("file", Part::bytes(wav).file_name("long.wav"))
        .text("model", "whisper-1")
        .text("language", "en")
        .text("stream", "true");
    let r = client()
        .post(url("/v1/audio/transcriptions"))
        .header("authorization", auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let (done, deltas) = events.split_last().unwrap();
    assert_eq!(done["type"], "transcript.text.done", "{text}");
    assert!(deltas.len() >= 4, "{text}");
    let joined: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(joined, done["text"].as_str().unwrap());
    let w = wer(&said.join(" "), &joined);
    assert!(w <= 0.1, "WER {w}: {joined}");
}
