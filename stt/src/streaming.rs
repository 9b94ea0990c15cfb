//! Streaming speech recognition: live 16 kHz audio in, speech events and transcripts out.
//!
//! The same engine serves the streaming STT WebSocket and the voice agent. Silero VAD
//! (through [`mka1_media::vad`]) delimits utterances; Whisper re-transcribes the current
//! utterance while it grows ([`StreamEvent::Partial`]) and once more when it ends
//! ([`StreamEvent::Final`]).
//!
//! Two halves, two ways to run them:
//! - the *scheduler* (VAD, utterance tracking, when to decode what) and the *decoder*
//!   (Whisper, and every event, in the scheduler's order);
//! - [`StreamingTranscriber`], the blocking core: [`push`](StreamingTranscriber::push)
//!   samples of any chunk size, get events; both halves run on the calling thread, one
//!   decode after the other, so results do not depend on timing.
//! - [`spawn`], the async-friendly handle: the halves on two dedicated threads, fed through
//!   a bounded [`AudioSender`] and read through a bounded [`EventReceiver`], so nothing
//!   blocks the async runtime and a slow consumer slows the producer down instead of
//!   buffering. An [`AudioFrontend`] converts what the producer sends (16 kHz samples,
//!   s16le PCM at any rate, Opus packets) on the listening thread.

//! # Events of one utterance
//!
//! ```text
//! SpeechStarted  (Partial | Pause | Resumed | Final)*  SpeechStopped
//! ```
//!
//! - [`SpeechStarted`](StreamEvent::SpeechStarted) comes once the VAD has heard the minimum
//!   speech duration; it reports a start that includes the pre-roll, so in the past.
//! - [`Partial`](StreamEvent::Partial): the utterance so far, re-transcribed about every
//!   [`StreamConfig::partial_interval_ms`] of speech, sent when its text changed.
//! - [`Pause`](StreamEvent::Pause) / [`Resumed`](StreamEvent::Resumed): see below.
//! - [`Final`](StreamEvent::Final): normally one, just before `SpeechStopped`. Speech longer
//!   than [`StreamConfig::max_utterance_ms`] is cut at its quietest recent window into
//!   several finals (Whisper sees at most 30 s at once), each as the cut is made.
//! - Partials, pauses and finals always carry text: an utterance in which Whisper finds no
//!   words (a cough, a door) has no final.
//!
//! Times are milliseconds on the input timeline (sample 0 of the stream is 0 ms).
//!
//! # Early finals, for preemptive generation
//!
//! When the speaker has been silent for [`StreamConfig::pause_ms`] (default 200 ms), the
//! core decodes the utterance so far, exactly as it would for the final, and emits
//! [`StreamEvent::Pause`] with that text. A voice agent can start generating its reply
//! from it. Then either:
//! - speech resumes: [`StreamEvent::Resumed`] follows, the early text is stale (drop the
//!   preemptive reply);
//! - the silence reaches [`StreamConfig::silence_ms`]: the [`StreamEvent::Final`] covers the
//!   same audio, so its text is the pause text (reused, not decoded again), and the final
//!   costs no decoding at all at the end-of-speech decision.
//!
//! This is also what makes finals fast: the last decode of an utterance starts `pause_ms`
//! after its last voiced window instead of `silence_ms` after it.
//!
//! # Scheduling
//!
//! One decode runs at a time per stream. Partials and pause decodes are decided on the
//! newest audio, and a partial is only asked for while the newest window is voiced and no
//! earlier partial or pause decode of the utterance is still running, so when decoding is
//! slower than real time partials simply get sparser.
//!
//! In a spawned stream the scheduler keeps listening while Whisper runs, and stops decodes
//! whose result can no longer matter ([`crate::Cancel`]; whisper.cpp checks after its
//! encoder pass and after each token):
//! - a partial still running when the pause is heard (the pause decode covers more) or
//!   when the utterance ends: the pause decode starts behind what is left of its encoder
//!   pass instead of behind the whole partial;
//! - a pause decode still running when speech resumes: its text would be stale, and no
//!   `Pause`/`Resumed` pair is sent for it.
//!
//! With `pause_ms >= silence_ms` there is no pause decode and the final decode starts at
//! the decision.

mod audio;
mod budget;
mod config;
mod decoder;
mod frontend;
mod handle;
mod scheduler;
mod text;
mod transcriber;

pub use budget::{DecodeBudget, OpenStream};
pub use config::StreamConfig;
pub use frontend::{AudioEncoding, AudioFrontend, AudioInput, EncodedAudio, InputError, Pcm16k};
pub use handle::{AudioPermit, AudioSender, ChannelCapacity, EventReceiver, StreamClosed, spawn};
pub use text::clean_transcript;
pub use transcriber::StreamingTranscriber;

use mka1_media::vad::VadError;

use crate::engine::SttError;

/// What the recognizer reports about the live audio. Times are milliseconds on the input
/// timeline.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Speech was confirmed; it started at `at_ms` (pre-roll included, so in the past).
    SpeechStarted {
        /// Start of the utterance.
        at_ms: u64,
    },
    /// The current utterance so far, re-transcribed (only sent when the text changed).
    Partial {
        /// Text of the utterance so far.
        text: String,
    },
    /// The speaker has been silent for `pause_ms`: the early final of the utterance so far
    /// (see the module docs).
    Pause {
        /// End of the last voiced audio.
        at_ms: u64,
        /// Text of the utterance up to the pause (never empty); the final's text if no speech
        /// follows.
        text: String,
    },
    /// Speech resumed after a [`StreamEvent::Pause`]: its text is stale.
    Resumed {
        /// Where the new speech starts.
        at_ms: u64,
    },
    /// The transcript of a finished utterance (or of a piece of one longer than
    /// [`StreamConfig::max_utterance_ms`]). Never empty.
    Final {
        /// The transcript.
        text: String,
        /// Start of the audio transcribed (pre-roll included).
        start_ms: u64,
        /// End of the last voiced audio in it.
        end_ms: u64,
    },
    /// The utterance ended: the silence after it reached `silence_ms`, or the stream ended.
    SpeechStopped {
        /// End of the last voiced audio.
        at_ms: u64,
    },
}

/// Why streaming recognition failed. The stream stays usable after any of these.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The VAD failed on a window (the rest of that chunk was dropped).
    #[error(transparent)]
    Vad(#[from] VadError),
    /// Whisper failed on a decode (that partial or final is missing).
    #[error(transparent)]
    Stt(#[from] SttError),
    /// Input the frontend could not convert (that input was skipped).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The recognition thread could not be started.
    #[error("could not start the streaming recognition thread: {0}")]
    Spawn(#[source] std::io::Error),
}
