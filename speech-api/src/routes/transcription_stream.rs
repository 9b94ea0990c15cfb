//! `stream=true` on `POST /v1/audio/transcriptions`: Server-Sent Events as OpenAI sends
//! them, `transcript.text.delta` as text is recognised, then `transcript.text.done`.
//!
//! The audio is cut into windows of at most 30 s (Whisper's own window), in the pauses
//! the VAD hears, and the windows are transcribed one after the other: the first deltas
//! go out as soon as the first window is done, not after the whole file. Each window
//! keeps the language found in the first. Earlier text is deliberately not carried over
//! as a prompt (the engine decodes every call without context too): a window whose
//! speech resembles the text before it is then skipped or looped by Whisper.
//!
//! The first window is transcribed before the response starts, so a full queue (429), a
//! missing model (503) or a bad language (400) is still a real status. A later failure
//! can only be an `error` event (the shape the SDK raises on), after which the stream
//! ends. A client that goes away stops the remaining windows.

use std::ops::Range;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mka1_http_api::{ApiError, ErrorKind};
use mka1_media::vad::{Segment, SegmentConfig, detect_segments};
use mka1_stt::Transcript;
use serde_json::json;
use tokio::sync::mpsc;

use crate::errors::join_error;
use crate::routes::openai_speech::sse_event;
use crate::routes::tts::no_buffering;
use crate::state::SpeechState;
use crate::transcription::{ModelChoice, STT_RATE, SttRequest, resolve_model, transcribe};

/// Whisper's window, the longest piece decoded at once.
const WINDOW_SECONDS: usize = 30;
/// How often a window refused by a full queue is retried (once a second) before the
/// stream gives up with an error event.
const MAX_BUSY_RETRIES: u32 = 60;

/// The audio as windows of at most 30 s covering it all, cut in the middle of pauses
/// between `speech` segments where one is close enough, else hard at 30 s.
pub fn windows(total: usize, speech: &[Segment]) -> Vec<Range<usize>> {
    let max = WINDOW_SECONDS * STT_RATE as usize;
    let cuts: Vec<usize> = speech
        .windows(2)
        .map(|pair| {
            let (a, b) = (&pair[0], &pair[1]);
            usize::try_from((a.end_sample + b.start_sample.max(a.end_sample)) / 2)
                .unwrap_or(usize::MAX)
        })
        .filter(|c| *c > 0 && *c < total)
        .collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < total {
        let limit = start.saturating_add(max);
        if limit >= total {
            out.push(start..total);
            break;
        }
        let end = cuts
            .iter()
            .copied()
            .filter(|c| *c > start && *c <= limit)
            .max()
            .unwrap_or(limit);
        out.push(start..end);
        start = end;
    }
    out
}

/// Answers `stream=true` for 16 kHz `pcm`.
pub(crate) async fn stream_transcription(
    state: &SpeechState,
    pcm: Vec<f32>,
    request: &SttRequest,
) -> Result<Response, ApiError> {
    let model = resolve_model(state, request.model, request.language.as_deref())?;
    let mut request = SttRequest {
        model: ModelChoice::Id(model),
        ..request.clone()
    };
    let windows = if pcm.len() <= WINDOW_SECONDS * STT_RATE as usize {
        windows(pcm.len(), &[])
    } else {
        speech_windows(state, &pcm).await?
    };
    let mut windows = windows.into_iter();
    let first = windows.next().unwrap_or(0..0);
    let heard = transcribe(state, slice(&pcm, first), &request)
        .await?
        .transcript;
    request.language = Some(heard.language.clone());
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let state = state.clone();
    tokio::spawn(async move {
        let mut text = String::new();
        if !send_deltas(&tx, &heard, &mut text).await {
            return;
        }
        for window in windows {
            let heard = match transcribe_patiently(&state, slice(&pcm, window), &request).await {
                Ok(t) => t,
                Err(e) => {
                    let event = json!({"type": "error", "error": e.body()["error"]});
                    let _ = tx.send(sse_event(&event)).await;
                    return;
                }
            };
            if !send_deltas(&tx, &heard, &mut text).await {
                return;
            }
        }
        let _ = tx
            .send(sse_event(
                &json!({"type": "transcript.text.done", "text": text}),
            ))
            .await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(bytes), rx))
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    no_buffering(&mut headers);
    Ok((StatusCode::OK, headers, Body::from_stream(body)).into_response())
}

/// The windows of long audio, from the VAD's speech segments (on a blocking thread);
/// fixed 30 s windows when the VAD is not available.
async fn speech_windows(state: &SpeechState, pcm: &[f32]) -> Result<Vec<Range<usize>>, ApiError> {
    let Ok(vad) = state.vad().cloned() else {
        return Ok(windows(pcm.len(), &[]));
    };
    let audio = pcm.to_vec();
    let total = pcm.len();
    tokio::task::spawn_blocking(move || {
        let speech = detect_segments(&vad, &audio, &SegmentConfig::default()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "VAD failed: streaming in fixed 30 s windows");
            Vec::new()
        });
        windows(total, &speech)
    })
    .await
    .map_err(join_error)
}

fn slice(pcm: &[f32], range: Range<usize>) -> Vec<f32> {
    pcm.get(range).unwrap_or_default().to_vec()
}

/// Transcribes one window, waiting out a full queue: the response has started, so a
/// 429 can no longer reach the client.
async fn transcribe_patiently(
    state: &SpeechState,
    pcm: Vec<f32>,
    request: &SttRequest,
) -> Result<Transcript, ApiError> {
    let mut tries = 0;
    loop {
        match transcribe(state, pcm.clone(), request).await {
            Err(e) if e.kind() == ErrorKind::Overloaded && tries < MAX_BUSY_RETRIES => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other.map(|t| t.transcript),
        }
    }
}

/// One delta per segment; false once the client is gone.
async fn send_deltas(tx: &mpsc::Sender<Bytes>, heard: &Transcript, text: &mut String) -> bool {
    for segment in &heard.segments {
        let piece = segment.text.trim();
        if piece.is_empty() {
            continue;
        }
        let delta = if text.is_empty() {
            piece.to_owned()
        } else {
            format!(" {piece}")
        };
        text.push_str(&delta);
        let event = json!({"type": "transcript.text.delta", "delta": delta});
        if tx.send(sse_event(&event)).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const S: u64 = STT_RATE as u64;

    fn speech(start_s: u64, end_s: u64) -> Segment {
        Segment::from_samples(start_s * S, end_s * S)
    }

    #[test]
    fn short_audio_is_one_window() {
        let w = windows(10 * S as usize, &[]);
        assert_eq!((w.len(), w.first().cloned()), (1, Some(0..10 * S as usize)));
        assert!(windows(0, &[]).is_empty());
    }

    #[test]
    fn long_audio_is_cut_in_pauses() {
        let total = 70 * S as usize;
        // Pauses at 10-12 s, 25-27 s, 40-41 s, 55-57 s.
        let segments = [
            speech(0, 10),
            speech(12, 25),
            speech(27, 40),
            speech(41, 55),
            speech(57, 70),
        ];
        let w = windows(total, &segments);
        let s = S as usize;
        // Cut in the middle of a pause: the latest one that keeps a window within 30 s.
        assert_eq!(w, [0..26 * s, 26 * s..56 * s, 56 * s..total]);
    }

    #[test]
    fn without_pauses_windows_are_30_s() {
        let s = S as usize;
        let w = windows(65 * s, &[speech(0, 65)]);
        assert_eq!(w, [0..30 * s, 30 * s..60 * s, 60 * s..65 * s]);
    }
}
