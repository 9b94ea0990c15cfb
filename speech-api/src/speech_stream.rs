//! Streamed speech: a [`Synthesizer`] renders clause after clause on its own thread, an
//! encoder on a blocking thread turns each clause into bytes of the output format, and the
//! HTTP body forwards every encoded chunk the moment it exists.
//!
//! The response is held back until the first clause is encoded, so that a synthesis that
//! fails at once is still answered with a JSON error and a real status; from then on
//! headers and audio flow together. Dropping the body (the client went away) cancels the
//! synthesizer at once, inside the clause being rendered, and the encoder thread ends with
//! it: no speech is rendered for nobody.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use mka1_media::encode::{AudioFormat, StreamEncoder, stream_encoder};
use mka1_media::{MediaError, OggOpusWriter};
use mka1_tts::{CancelToken, PiperVoice, SAMPLE_RATE, SynthesisOptions, Synthesizer, TtsError};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// MP3 bitrate of every MP3 the API sends (shared/API.md section 3).
pub const MP3_KBPS: u32 = 96;

/// Encoded chunks queued between the encoder thread and the socket. Small: a client that
/// reads slowly holds synthesis back instead of letting audio pile up in memory.
const BODY_QUEUE: usize = 4;

/// An output format of streamed speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// MP3, 24 kHz mono, constant 96 kbps.
    Mp3,
    /// A WAV header of unknown length, then 16-bit PCM (MKA1 `pcm`, OpenAI `wav`).
    WavStream,
    /// Raw signed 16-bit little-endian PCM, no header (OpenAI `pcm`).
    RawPcm,
    /// Ogg Opus, one page per clause.
    OggOpus,
    /// FLAC: its header holds the total length, so it goes out whole at the end.
    Flac,
}

impl StreamFormat {
    /// The `Content-Type` of the response.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::WavStream => "audio/wav",
            Self::RawPcm => "audio/pcm",
            Self::OggOpus => "audio/ogg",
            Self::Flac => "audio/flac",
        }
    }

    /// A short name for logs, metrics and history records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::WavStream => "wav",
            Self::RawPcm => "pcm",
            Self::OggOpus => "opus",
            Self::Flac => "flac",
        }
    }

    fn encoder(self) -> Result<Encoder, MediaError> {
        Ok(match self {
            Self::Mp3 => Encoder::Stream(stream_encoder(AudioFormat::Mp3, SAMPLE_RATE, MP3_KBPS)?),
            Self::WavStream => {
                Encoder::Stream(stream_encoder(AudioFormat::Wav, SAMPLE_RATE, MP3_KBPS)?)
            }
            Self::RawPcm => {
                Encoder::Stream(stream_encoder(AudioFormat::Pcm, SAMPLE_RATE, MP3_KBPS)?)
            }
            Self::Flac => {
                Encoder::Stream(stream_encoder(AudioFormat::Flac, SAMPLE_RATE, MP3_KBPS)?)
            }
            Self::OggOpus => Encoder::Opus(Some(Box::new(OggOpusWriter::new(SAMPLE_RATE)?))),
        })
    }
}

/// One encoder interface over media's stream encoders and the Ogg Opus writer.
enum Encoder {
    Stream(Box<dyn StreamEncoder>),
    /// `None` once finished (the writer is consumed by `finish`). Boxed: the writer
    /// holds its packet buffer inline.
    Opus(Option<Box<OggOpusWriter>>),
}

impl Encoder {
    fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        match self {
            Self::Stream(e) => e.push(samples, out),
            Self::Opus(Some(w)) => {
                w.push(samples, out)?;
                // A page per clause: a full page would hold a second of audio back.
                w.flush_page(out);
                Ok(())
            }
            Self::Opus(None) => Ok(()),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        match self {
            Self::Stream(e) => e.finish(out),
            Self::Opus(w) => match w.take() {
                Some(w) => (*w).finish(out),
                None => Ok(()),
            },
        }
    }
}

/// Why a speech stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeechStreamError {
    /// Synthesis failed.
    #[error(transparent)]
    Tts(#[from] TtsError),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] MediaError),
    /// The encoder thread ended without a word (it panicked).
    #[error("the speech encoder stopped unexpectedly")]
    EncoderGone,
}

/// What to do with the whole encoded audio once the stream completed (`store=true`).
pub type OnComplete = Box<dyn FnOnce(Vec<u8>) + Send>;

/// A speech stream to start.
pub struct SpeechJob {
    /// The voice.
    pub voice: Arc<PiperVoice>,
    /// The text to speak.
    pub text: String,
    /// Speed, chunking, ...
    pub options: SynthesisOptions,
    /// The output format.
    pub format: StreamFormat,
    /// Called on the encoder thread with every encoded byte once the stream completed;
    /// never called for a stream that failed or whose client went away.
    pub on_complete: Option<OnComplete>,
    /// Where the time to first audio is recorded.
    pub metrics: Metrics,
    /// When the request arrived.
    pub started: Instant,
}

/// Starts synthesis and waits for the first encoded chunk. `Ok` is the body to send;
/// `Err` means nothing was sent yet, so the caller can still answer with an error status.
pub async fn start(job: SpeechJob) -> Result<SpeechBody, SpeechStreamError> {
    let SpeechJob {
        voice,
        text,
        options,
        format,
        on_complete,
        metrics,
        started,
    } = job;
    let mut encoder = format.encoder()?;
    let chunks = Synthesizer::speak(voice, &text, options)?;
    let cancel = chunks.cancel_token();
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, SpeechStreamError>>(BODY_QUEUE);
    let store = on_complete.is_some();
    // Encoding is CPU work: it runs beside the synthesizer, never on the async runtime.
    tokio::task::spawn_blocking(move || {
        let mut chunks = chunks;
        let mut kept = Vec::new();
        let mut out = Vec::new();
        let mut completed = false;
        while let Some(item) = chunks.blocking_recv() {
            let chunk = match item {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            let mut result = encoder.push(&chunk.samples_24k, &mut out);
            if chunk.is_last {
                completed = true;
                result = result.and_then(|()| encoder.finish(&mut out));
            }
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
            if !out.is_empty() {
                if store {
                    kept.extend_from_slice(&out);
                }
                if tx
                    .blocking_send(Ok(Bytes::from(std::mem::take(&mut out))))
                    .is_err()
                {
                    // The body was dropped: dropping `chunks` cancels synthesis.
                    return;
                }
            }
            if completed {
                break;
            }
        }
        if completed && let Some(on_complete) = on_complete {
            on_complete(kept);
        }
    });
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Err(e),
        None => return Err(SpeechStreamError::EncoderGone),
    };
    metrics.observe_first_audio(format.name(), started.elapsed());
    Ok(SpeechBody {
        first: Some(first),
        rx,
        cancel,
        metrics,
        finished: false,
    })
}

/// The body of a speech response: encoded chunks as they come. Dropping it before the
/// end cancels synthesis.
pub struct SpeechBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Result<Bytes, SpeechStreamError>>,
    cancel: CancelToken,
    metrics: Metrics,
    finished: bool,
}

impl std::fmt::Debug for SpeechBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechBody")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Stream for SpeechBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Err(e))) => {
                // Headers are gone already: all that is left is to break the body off, so
                // the client sees an incomplete response rather than a clean end.
                tracing::error!(error = %e, "speech stream failed mid-way");
                self.finished = true;
                Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SpeechBody {
    fn drop(&mut self) {
        if !self.finished {
            tracing::info!("speech stream dropped before its end: cancelling synthesis");
            self.metrics.count_cancelled_stream();
            self.cancel.cancel();
        }
    }
}
