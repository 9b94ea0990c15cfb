//! One reply of the agent: the Responses stream feeds the synthesizer clause by clause,
//! and each clause comes back encoded, ready to play. Dropping a [`Reply`] cancels all of
//! it: the upstream request, synthesis and encoding.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use mka1_tts::{CancelToken, Chunking, PiperVoice, SynthesisOptions, Synthesizer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::encode::ClauseEncoder;
use crate::responses::{ResponsesClient, TurnEvent, TurnRequest};

/// Said when the Responses API fails or times out; the session carries on.
pub(crate) const APOLOGY: &str = "Sorry, I could not get an answer just now. Please try again.";

/// Encoded clauses a reply may hold before playback takes them (the rest waits in the
/// synthesizer, which waits in turn: bounded all the way).
const CLAUSE_QUEUE: usize = 8;

/// What a reply reports, in order.
#[derive(Debug)]
pub(crate) enum ReplyEvent {
    /// The first text delta of the answer arrived.
    FirstText { at: Instant },
    /// A clause is ready to play.
    Clause {
        text: String,
        packets: Vec<Bytes>,
        /// When the synthesizer delivered it.
        at: Instant,
    },
    /// The upstream response completed.
    Completed { response_id: String },
    /// The upstream failed; the apology is spoken instead of (or after) the answer.
    Failed { message: String },
    /// Synthesis failed; no more audio comes.
    AudioFailed { message: String },
    /// Every clause has been delivered.
    Done,
}

/// A reply in progress.
pub(crate) struct Reply {
    /// The user's words this reply answers.
    pub(crate) user_text: String,
    /// When the request went upstream.
    pub(crate) requested_at: Instant,
    events: mpsc::Receiver<ReplyEvent>,
    task: JoinHandle<()>,
    cancel: CancelToken,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("user_text", &self.user_text)
            .finish_non_exhaustive()
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        // Aborting drops the upstream stream (cancelling the request) and the synthesizer.
        self.task.abort();
        self.cancel.cancel();
    }
}

impl Reply {
    /// Starts answering: the request goes upstream now. `None` text source means a fixed
    /// `say` text (prompts, apologies) with no upstream request.
    pub(crate) fn start(
        client: Option<(&ResponsesClient, TurnRequest)>,
        say: Option<&str>,
        user_text: String,
        voice: Arc<PiperVoice>,
    ) -> Result<Self, mka1_tts::TtsError> {
        let options = SynthesisOptions::default().with_chunking(Chunking::FirstPhraseThenSentences);
        let synth = Synthesizer::start(voice, options)?;
        let cancel = synth.cancel_token();
        let (tx, events) = mpsc::channel(CLAUSE_QUEUE);
        let requested_at = Instant::now();
        let upstream = client.map(|(client, request)| client.turn(request));
        if let Some(text) = say {
            synth.push_text(text)?;
            synth.finish();
        }
        let task = tokio::spawn(run(upstream, synth, tx));
        Ok(Self {
            user_text,
            requested_at,
            events,
            task,
            cancel,
        })
    }

    /// The next event; `None` once the reply has nothing more to say.
    pub(crate) async fn next(&mut self) -> Option<ReplyEvent> {
        self.events.recv().await
    }
}

type Upstream = crate::responses::TurnStream;

async fn run(mut upstream: Option<Upstream>, synth: Synthesizer, tx: mpsc::Sender<ReplyEvent>) {
    let (text, mut chunks) = synth.split();
    let mut encoder = match ClauseEncoder::new() {
        Ok(encoder) => Some(encoder),
        Err(e) => {
            let _ = tx
                .send(ReplyEvent::AudioFailed {
                    message: e.to_string(),
                })
                .await;
            return;
        }
    };
    let mut first_text = true;
    let started = Instant::now();
    loop {
        tokio::select! {
            event = next_upstream(&mut upstream), if upstream.is_some() => {
                let report = match event {
                    Some(TurnEvent::TextDelta(delta)) => {
                        let mut report = None;
                        if first_text && !delta.trim().is_empty() {
                            first_text = false;
                            tracing::debug!(after_ms = started.elapsed().as_millis(), "reply first text");
                            report = Some(ReplyEvent::FirstText { at: Instant::now() });
                        }
                        if text.push_text(&delta).is_err() {
                            // The synthesizer stopped (cancelled or overfull): nothing more
                            // can be said.
                            upstream = None;
                            text.finish();
                        }
                        report
                    }
                    Some(TurnEvent::Completed { response_id, .. }) => {
                        upstream = None;
                        text.finish();
                        Some(ReplyEvent::Completed { response_id })
                    }
                    Some(TurnEvent::Failed(error)) => {
                        upstream = None;
                        tracing::warn!(%error, "responses request failed; apologising");
                        let _ = text.push_text(if first_text { APOLOGY } else { " ... " });
                        if !first_text {
                            let _ = text.push_text(APOLOGY);
                        }
                        text.finish();
                        Some(ReplyEvent::Failed { message: error.to_string() })
                    }
                    None => {
                        upstream = None;
                        let _ = text.push_text(APOLOGY);
                        text.finish();
                        Some(ReplyEvent::Failed {
                            message: "the Responses stream ended without completing".into(),
                        })
                    }
                };
                if let Some(report) = report
                    && tx.send(report).await.is_err()
                {
                    return;
                }
            }
            chunk = chunks.recv() => {
                let Some(chunk) = chunk else { return };
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        let _ = tx.send(ReplyEvent::AudioFailed { message: e.to_string() }).await;
                        return;
                    }
                };
                let at = Instant::now();
                let Some(mut enc) = encoder.take() else { return };
                let last = chunk.is_last;
                let (index, audio_ms) = (chunk.clause_index, chunk.samples_24k.len() / 24);
                let encoded = tokio::task::spawn_blocking(move || {
                    let packets = enc.encode(&chunk.samples_24k, mka1_tts::SAMPLE_RATE, last);
                    (enc, packets, chunk.text_of_clause)
                })
                .await;
                let Ok((enc, packets, clause_text)) = encoded else { return };
                tracing::debug!(
                    clause = index,
                    audio_ms,
                    synthesized_after_ms = at.duration_since(started).as_millis(),
                    encode_ms = at.elapsed().as_millis(),
                    text = %clause_text,
                    "reply clause ready"
                );
                encoder = Some(enc);
                let event = match packets {
                    Ok(packets) => ReplyEvent::Clause { text: clause_text, packets, at },
                    Err(e) => ReplyEvent::AudioFailed { message: e.to_string() },
                };
                if tx.send(event).await.is_err() {
                    return;
                }
                if last {
                    let _ = tx.send(ReplyEvent::Done).await;
                    return;
                }
            }
        }
    }
}

async fn next_upstream(upstream: &mut Option<Upstream>) -> Option<TurnEvent> {
    match upstream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
