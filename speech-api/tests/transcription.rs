//! Speech to text over real HTTP with the real models: every container of the samples,
//! speakers, storing, and every kind of bad upload with its exact status and message.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_error, auth, client, reference, sample, url, wer};
use mka1_stt::wer::{normalize, word_errors};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

const PATH: &str = "/api/v1/llm/speech/transcriptions";

fn file_part(bytes: Vec<u8>, name: &str, content_type: Option<&str>) -> Part {
    let part = Part::bytes(bytes).file_name(name.to_owned());
    match content_type {
        Some(ct) => part.mime_str(ct).unwrap(),
        None => part,
    }
}

async fn post(query: &str, form: Form) -> reqwest::Response {
    client()
        .post(url(&format!("{PATH}{query}")))
        .header("authorization", auth())
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn transcribe(relative: &str, query: &str, content_type: Option<&str>) -> Value {
    let name = relative.rsplit('/').next().unwrap();
    let form = Form::new().part("file", file_part(sample(relative), name, content_type));
    let response = post(query, form).await;
    assert_eq!(response.status(), 200, "{relative}");
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_container_is_transcribed() {
    let cases = [
        ("librivox/sense-0870.wav", None),
        ("formats/sense-0880.mp3", Some("audio/mpeg")),
        ("formats/sense-0930.flac", None),
        ("formats/sense-0890-44k-stereo.ogg", Some("audio/ogg")),
        ("formats/sense-0920-48k-stereo.webm", Some("audio/webm")),
        ("formats/sense-0870-44k.m4a", Some("audio/mp4")),
        ("formats/sense-0930-48k.opus", Some("audio/ogg")),
        ("formats/please-try-again-22k-f32.wav", Some("audio/wav")),
        // A wrong part type does not matter: containers are detected from the bytes.
        ("formats/vm-goodbye-48k-stereo-s24.wav", Some("audio/mpeg")),
        ("asterisk/tt-weasels-8k.wav", None),
        ("goforward-16k.raw", Some("audio/pcm")),
    ];
    let (mut errors, mut words) = (0, 0);
    let mut report = String::new();
    for (relative, content_type) in cases {
        // Exactly what the official SDK sends: `model=auto` without a language, so the
        // multilingual model, which also detects the language.
        let body = transcribe(
            relative,
            "?model=auto&include_speaker_data=false&store=false",
            content_type,
        )
        .await;
        let text = body["text"].as_str().unwrap();
        let reference = normalize(&reference(relative));
        let e = word_errors(&reference, &normalize(text));
        report.push_str(&format!(
            "{relative}: {e}/{} errors, heard {text:?}\n",
            reference.len()
        ));
        // One clip alone may lose a borderline word; none may be mostly wrong.
        assert!(e * 4 <= reference.len().max(1), "{report}");
        errors += e;
        words += reference.len();
        assert_eq!(body["language"], "en", "{relative}");
        let confidence = body["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence), "{confidence}");
        assert!(body.get("speakers").is_none(), "speakers only when asked");
    }
    let wer = errors as f64 / words as f64;
    eprintln!("{report}WER over every container: {wer:.3}");
    assert!(wer <= 0.1, "{report}WER {wer:.3}");
}

#[tokio::test]
async fn raw_pcm_needs_its_content_type_and_l16_names_the_rate() {
    let raw = sample("goforward-16k.raw");
    let body = transcribe(
        "goforward-16k.raw",
        "?language=en",
        Some("audio/L16;rate=16000"),
    )
    .await;
    assert!(
        wer(
            &reference("goforward-16k.raw"),
            body["text"].as_str().unwrap()
        ) <= 0.1
    );
    // The same bytes without the type are not audio.
    let form = Form::new().part("file", file_part(raw, "goforward.raw", None));
    assert_error(post("", form).await, 415, None).await;
}

#[tokio::test]
async fn auto_model_detects_the_language_with_the_multilingual_model() {
    // No language: `auto` picks whisper-base, which detects English.
    let body = transcribe(
        "librivox/sense-0930.wav",
        "?model=auto&include_speaker_data=false&store=false",
        None,
    )
    .await;
    assert_eq!(body["language"], "en");
    let w = wer(
        &reference("librivox/sense-0930.wav"),
        body["text"].as_str().unwrap(),
    );
    assert!(w <= 0.1, "{body}");
    let body = transcribe(
        "librivox/sense-0930.wav",
        "?model=whisper-base&language=en-US",
        None,
    )
    .await;
    assert!(
        wer(
            &reference("librivox/sense-0930.wav"),
            body["text"].as_str().unwrap()
        ) <= 0.1
    );
}

#[tokio::test]
async fn speakers_of_a_two_speaker_recording() {
    let truth: Value = serde_json::from_slice(&sample("two-speakers-16k.json")).unwrap();
    let body = transcribe(
        "two-speakers-16k.wav",
        "?model=auto&include_speaker_data=true&store=false",
        Some("audio/wav"),
    )
    .await;
    let speakers = body["speakers"].as_array().unwrap();
    let turns = truth["turns"].as_array().unwrap();
    assert_eq!(speakers.len(), turns.len(), "{body}");
    for (got, want) in speakers.iter().zip(turns) {
        assert_eq!(got["speaker"], want["speaker"], "{body}");
        let w = wer(
            want["text"].as_str().unwrap(),
            got["text"].as_str().unwrap(),
        );
        assert!(w <= 0.2, "turn text {got} vs {want}\n{body}");
        let offset = got["offset_ms"].as_i64().unwrap();
        let end = offset + got["duration_ms"].as_i64().unwrap();
        assert!(
            (offset - want["start_ms"].as_i64().unwrap()).abs() <= 500,
            "{got} vs {want}"
        );
        assert!(
            (end - want["end_ms"].as_i64().unwrap()).abs() <= 500,
            "{got} vs {want}"
        );
        let c = got["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
    }
    let w = wer(
        &reference("two-speakers-16k.wav"),
        body["text"].as_str().unwrap(),
    );
    assert!(w <= 0.1, "{body}");
}

#[tokio::test]
async fn store_keeps_the_uploaded_bytes() {
    let bytes = sample("formats/sense-0930.flac");
    let form = Form::new().part(
        "file",
        file_part(bytes.clone(), "clip.flac", Some("audio/flac")),
    );
    let response = client()
        .post(url(&format!("{PATH}?store=true&language=en")))
        .header("authorization", auth())
        .header("x-on-behalf-of", "stt-user")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-transcription-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let get = |path: String| {
        client()
            .get(url(&path))
            .header("authorization", auth())
            .header("x-on-behalf-of", "stt-user")
            .send()
    };
    let record: Value = get(format!("{PATH}/history/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["text"], body["text"]);
    assert_eq!(record["model"], "whisper-tiny.en");
    assert_eq!(record["filename"], "clip.flac");
    assert_eq!(record["audio_mime_type"], "audio/flac");
    assert_eq!(record["audio_bytes"], bytes.len());
    let content = get(format!("{PATH}/history/{id}/content"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&content[..], &bytes[..]);
}

#[tokio::test]
async fn bad_uploads_get_their_status_and_message() {
    let wav = || {
        file_part(
            sample("librivox/sense-0880.wav"),
            "a.wav",
            Some("audio/wav"),
        )
    };
    // Empty file.
    let form = Form::new().part(
        "file",
        file_part(Vec::new(), "empty.wav", Some("audio/wav")),
    );
    assert_error(
        post("", form).await,
        400,
        Some("The uploaded file is empty."),
    )
    .await;
    // Not audio.
    let form = Form::new().part(
        "file",
        file_part(
            b"Just some text, not audio at all.".repeat(40),
            "notes.mp3",
            Some("audio/mpeg"),
        ),
    );
    let e = assert_error(post("", form).await, 415, None).await;
    assert_eq!(e["error"]["code"], "unsupported_audio_format");
    // A known container whose audio cannot be decoded: a FLAC header and then noise.
    let mut flac = sample("formats/sense-0930.flac");
    for (i, b) in flac.iter_mut().enumerate().skip(200) {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3];
    }
    let form = Form::new().part("file", file_part(flac, "broken.flac", None));
    let e = assert_error(post("", form).await, 422, None).await;
    assert_eq!(e["error"]["code"], "undecodable_audio");
    // Missing `file`.
    let form = Form::new().text("audio", "nothing");
    assert_error(
        post("", form).await,
        400,
        Some("The multipart body has no `file` field: send the audio as a file part named `file`."),
    )
    .await;
    // Unknown model.
    let form = Form::new().part("file", wav());
    assert_error(
        post("?model=whisper-large", form).await,
        400,
        Some("Unknown model 'whisper-large': use one of auto, whisper-tiny.en, whisper-base."),
    )
    .await;
    // Diarization of an MP3.
    let form = Form::new().part(
        "file",
        file_part(
            sample("formats/sense-0880.mp3"),
            "a.mp3",
            Some("audio/mpeg"),
        ),
    );
    assert_error(
        post("?include_speaker_data=true", form).await,
        400,
        Some(
            "Speaker diarization currently requires WAV/PCM audio for non-streaming transcription.",
        ),
    )
    .await;
    // Parameters out of range.
    let form = Form::new().part("file", wav());
    assert_error(
        post("?temperature=1.5", form).await,
        400,
        Some("`temperature` must be between 0 and 1, not 1.5."),
    )
    .await;
    let form = Form::new().part("file", wav());
    assert_error(post("?store=perhaps", form).await, 400, None).await;
    let form = Form::new().part("file", wav());
    assert_error(post("?language=klingon", form).await, 400, None).await;
    // Not multipart at all, and malformed multipart.
    let r = client()
        .post(url(PATH))
        .header("authorization", auth())
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, None).await;
    let r = client()
        .post(url(PATH))
        .header("authorization", auth())
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    let e = assert_error(r, 400, None).await;
    assert_eq!(e["error"]["code"], "invalid_multipart");
    // No key, wrong key.
    let r = client()
        .post(url(PATH))
        .multipart(Form::new().part("file", wav()))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, None).await;
    let r = client()
        .post(url(PATH))
        .header("authorization", "Bearer not-the-key")
        .multipart(Form::new().part("file", wav()))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, Some("Invalid API key.")).await;
    // Still serving.
    let body = transcribe("librivox/sense-0930.wav", "?language=en", None).await;
    assert!(
        wer(
            &reference("librivox/sense-0930.wav"),
            body["text"].as_str().unwrap()
        ) <= 0.1
    );
}

#[tokio::test]
async fn a_truncated_mp3_is_transcribed_as_far_as_it_goes() {
    let mp3 = sample("formats/sense-0880.mp3");
    let half = mp3[..mp3.len() * 6 / 10].to_vec();
    let form = Form::new().part("file", file_part(half, "cut.mp3", Some("audio/mpeg")));
    let response = post("?language=en", form).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let text = body["text"].as_str().unwrap().to_lowercase();
    // "he was not an ill disposed young man": the start is heard, the end is cut off.
    assert!(text.contains("he was not"), "{text}");
    assert!(!text.contains("young man"), "{text}");
}

#[tokio::test]
async fn over_25_mib_is_413_with_content_length_and_chunked() {
    let message = "The file is larger than the limit of 25 MiB (26214400 bytes).";
    let big = vec![0u8; 26 * 1024 * 1024];
    // Content-Length.
    let form = Form::new().part("file", file_part(big.clone(), "big.wav", Some("audio/wav")));
    assert_error(post("", form).await, 413, Some(message)).await;
    // Chunked, on a raw socket so that nothing but `Transfer-Encoding: chunked` says
    // where the body ends.
    let (status, body) = chunked_upload(&big).await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["message"], message);
    // Without a key, a big upload is still answered cleanly (drained, then 401).
    let r = client()
        .post(url(PATH))
        .multipart(Form::new().part("file", file_part(big.clone(), "big.wav", None)))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, None).await;
    // Exactly the limit is read in full (and is then not audio).
    let form = Form::new().part(
        "file",
        file_part(
            vec![1u8; 26_214_400],
            "max.raw",
            Some("application/octet-stream"),
        ),
    );
    assert_error(post("", form).await, 415, None).await;
    // Still serving.
    let body = transcribe("librivox/sense-0880.wav", "?language=en", None).await;
    assert!(!body["text"].as_str().unwrap().is_empty());
}

/// Uploads `file` as the `file` part of a multipart body sent with
/// `Transfer-Encoding: chunked`; returns the status and the body of the answer.
async fn chunked_upload(file: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut body =
        b"--chunky\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\
Content-Type: audio/wav\r\n\r\n"
            .to_vec();
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--chunky--\r\n");
    let mut socket = tokio::net::TcpStream::connect(common::server().addr)
        .await
        .unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         Content-Type: multipart/form-data; boundary=chunky\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        auth()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        socket
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        socket.write_all(chunk).await.unwrap();
        socket.write_all(b"\r\n").await.unwrap();
    }
    socket.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}
