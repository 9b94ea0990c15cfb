//! The voice agent: one [`session`] per caller runs VAD → streaming STT → the Responses
//! API ([`responses`]) → streaming TTS, with preemptive generation and barge-in, over a
//! [`transport`] (direct browser WebRTC here; the session only sees a [`transport::MediaLink`]).

pub mod responses;
pub mod session;
pub mod transport;

pub use responses::{
    ResponsesClient, ResponsesError, ResponsesTimeouts, TurnEvent, TurnRequest, TurnStream,
};
