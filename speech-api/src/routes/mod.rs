//! The HTTP handlers: thin glue that extracts, calls the domain modules and answers.

pub(crate) mod catalog;
pub(crate) mod openai_speech;
pub(crate) mod openai_transcriptions;
pub(crate) mod service;
pub(crate) mod transcription_stream;
pub(crate) mod transcriptions;
pub(crate) mod tts;
