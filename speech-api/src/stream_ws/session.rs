//! One WebSocket session: messages in, recognizer events out, one task, bounded.

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use mka1_stt::streaming::{AudioSender, EventReceiver, InputError, StreamError, StreamEvent};
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use super::MAX_MESSAGE_BYTES;

/// A session whose client sends nothing for this long is closed (it holds a session slot
/// and a thread). Real-time clients send every 20 to 100 ms.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long the server waits for the client's close frame after sending its own.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// An event as the client sees it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerEvent<'a> {
    SpeechStarted {
        at_ms: u64,
    },
    Partial {
        text: &'a str,
    },
    Final {
        text: &'a str,
        start_ms: u64,
        end_ms: u64,
    },
    SpeechStopped {
        at_ms: u64,
    },
    Error {
        message: &'a str,
        code: &'a str,
    },
}

/// What the client said, as far as the session is concerned.
enum Incoming {
    Audio(Vec<u8>),
    Stop,
    /// A message to answer with an error event; the session goes on.
    Invalid {
        message: String,
        code: &'static str,
    },
    /// Over the size limit: error event, then close.
    TooLarge,
    /// Ping, pong: the WebSocket layer answers them.
    Ignore,
    /// The client closed or the connection broke.
    Gone,
}

/// Runs a session until the client leaves or the stream is finished. `recognizer` is the
/// spawned recognition thread's channels (or why it could not start).
pub(super) async fn run(
    mut socket: WebSocket,
    recognizer: Result<(AudioSender<Vec<u8>>, EventReceiver), StreamError>,
    _permit: OwnedSemaphorePermit,
) {
    let (audio, mut events) = match recognizer {
        Ok(channels) => channels,
        Err(e) => {
            tracing::error!(error = %e, "streaming session could not start");
            let _ = send_error(
                &mut socket,
                "The recognizer could not start.",
                "internal_error",
            )
            .await;
            close(&mut socket, close_code::ERROR).await;
            return;
        }
    };
    // Audio waiting for room in the recognizer's queue: while it waits, the socket is not
    // read, and TCP pushes back on the client.
    let mut pending: Option<Vec<u8>> = None;
    let mut reading = true;
    let mut last_partial = String::new();
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            // Events first: they are what the client waits for, and taking them is what
            // lets the recognizer take more audio.
            biased;
            event = events.recv() => match event {
                Some(event) => {
                    if send_event(&mut socket, event, &mut last_partial).await.is_err() {
                        return;
                    }
                }
                // The recognizer is done (after `stop`): everything has been sent.
                None => break,
            },
            permit = audio.reserve(pending.as_ref().map_or(0, Vec::len)), if pending.is_some() => {
                match (permit, pending.take()) {
                    (Ok(permit), Some(bytes)) => permit.send(bytes),
                    _ => break,
                }
            }
            () = &mut idle, if reading && pending.is_none() => {
                let message = format!(
                    "No message for {} s; closing.",
                    IDLE_TIMEOUT.as_secs()
                );
                let _ = send_error(&mut socket, &message, "idle_timeout").await;
                close(&mut socket, close_code::POLICY).await;
                return;
            }
            message = socket.recv(), if reading && pending.is_none() => {
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                match classify(message) {
                    Incoming::Audio(bytes) => pending = Some(bytes),
                    Incoming::Stop => {
                        reading = false;
                        if audio.finish().is_err() {
                            break;
                        }
                    }
                    Incoming::Invalid { message, code } => {
                        if send_error(&mut socket, &message, code).await.is_err() {
                            return;
                        }
                    }
                    Incoming::TooLarge => {
                        let message = format!(
                            "Messages are limited to {MAX_MESSAGE_BYTES} bytes; closing."
                        );
                        let _ = send_error(&mut socket, &message, "message_too_large").await;
                        close(&mut socket, close_code::SIZE).await;
                        return;
                    }
                    Incoming::Ignore => {}
                    // Dropping the channels stops the recognizer.
                    Incoming::Gone => return,
                }
            }
        }
    }
    close(&mut socket, close_code::NORMAL).await;
}

fn classify(message: Option<Result<Message, axum::Error>>) -> Incoming {
    match message {
        Some(Ok(Message::Binary(bytes))) if bytes.len() > MAX_MESSAGE_BYTES => Incoming::TooLarge,
        Some(Ok(Message::Binary(bytes))) => Incoming::Audio(bytes.into()),
        Some(Ok(Message::Text(text))) if text.len() > MAX_MESSAGE_BYTES => Incoming::TooLarge,
        Some(Ok(Message::Text(text))) => control(text.as_str()),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Incoming::Ignore,
        Some(Ok(Message::Close(_))) | None => Incoming::Gone,
        Some(Err(error)) => {
            // The WebSocket layer enforces the size limit while reading, before a whole
            // oversize message is in memory; any other read error is a broken connection.
            let too_large = std::error::Error::source(&error)
                .and_then(|e| e.downcast_ref::<tungstenite::Error>())
                .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
            if too_large {
                Incoming::TooLarge
            } else {
                tracing::debug!(%error, "streaming session read");
                Incoming::Gone
            }
        }
    }
}

/// A text message: `{"type":"stop"}` or an error to report.
fn control(text: &str) -> Incoming {
    let kind = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
    match kind.as_deref() {
        Some("stop") => Incoming::Stop,
        Some(other) => Incoming::Invalid {
            message: format!(
                "Unknown message type '{}': the only one is `stop`.",
                other.chars().take(64).collect::<String>()
            ),
            code: "unknown_message_type",
        },
        None => Incoming::Invalid {
            message: "Text messages must be JSON objects with a `type` (`{\"type\":\"stop\"}`); \
                      audio goes in binary messages."
                .into(),
            code: "invalid_message",
        },
    }
}

/// Sends one recognizer event or error; pauses and resumes are not part of this protocol
/// (a pause's text goes out as a partial when it is new).
async fn send_event(
    socket: &mut WebSocket,
    event: Result<StreamEvent, StreamError>,
    last_partial: &mut String,
) -> Result<(), axum::Error> {
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            let (message, code) = describe(&error);
            return send_error(socket, &message, code).await;
        }
    };
    let json = match &event {
        StreamEvent::SpeechStarted { at_ms } => ServerEvent::SpeechStarted { at_ms: *at_ms },
        StreamEvent::Partial { text } | StreamEvent::Pause { text, .. } => {
            if text == last_partial {
                return Ok(());
            }
            last_partial.clone_from(text);
            ServerEvent::Partial { text }
        }
        StreamEvent::Final {
            text,
            start_ms,
            end_ms,
        } => {
            last_partial.clear();
            ServerEvent::Final {
                text,
                start_ms: *start_ms,
                end_ms: *end_ms,
            }
        }
        StreamEvent::SpeechStopped { at_ms } => ServerEvent::SpeechStopped { at_ms: *at_ms },
        _ => return Ok(()),
    };
    send_json(socket, &json).await
}

/// The client's view of a recognizer error: what happened and a stable code; internals go
/// to the log only.
fn describe(error: &StreamError) -> (String, &'static str) {
    match error {
        StreamError::Input(InputError::InvalidPacket(e)) => (
            format!("Skipped a message that is not an Opus packet: {e}."),
            "invalid_audio",
        ),
        StreamError::Input(e) => (
            format!("Skipped audio that could not be decoded: {e}."),
            "invalid_audio",
        ),
        StreamError::Stt(_) => (
            "Transcribing part of the audio failed.".into(),
            "transcription_failed",
        ),
        _ => (
            "Processing part of the audio failed.".into(),
            "internal_error",
        ),
    }
}

async fn send_error(socket: &mut WebSocket, message: &str, code: &str) -> Result<(), axum::Error> {
    send_json(socket, &ServerEvent::Error { message, code }).await
}

async fn send_json(socket: &mut WebSocket, event: &ServerEvent<'_>) -> Result<(), axum::Error> {
    // Serializing plain strings and integers cannot fail.
    let text = serde_json::to_string(event).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}

/// Starts the closing handshake and waits (briefly) for the client's answer, reading and
/// dropping what it still had in flight: closing the TCP connection on unread data would
/// reset it, and the client might never see the events and the close frame sent before.
async fn close(socket: &mut WebSocket, code: u16) {
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}
