//! The one error type of this crate: what was wrong with the caller's audio.

/// Why audio could not be decoded or resampled.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The input held no bytes at all.
    #[error("the audio input is empty")]
    Empty,
    /// The bytes are in no container this crate knows, and no raw PCM layout was given.
    #[error("the input is not audio in any known container")]
    NotAudio,
    /// The container was recognised but no audio could be decoded from it.
    #[error("the audio could not be decoded: {reason}")]
    Undecodable {
        /// What the decoder reported, for logs and error bodies.
        reason: String,
    },
    /// The decoded audio ran past the configured length limit.
    #[error("the audio is longer than the limit of {max_seconds} s")]
    TooLong {
        /// The limit that was exceeded, in seconds.
        max_seconds: f64,
    },
    /// A sample rate outside what real audio uses.
    #[error("sample rate {rate} Hz is outside {min}..={max} Hz")]
    InvalidSampleRate {
        /// The rejected rate.
        rate: u32,
        /// The lowest rate this crate accepts.
        min: u32,
        /// The highest rate this crate accepts.
        max: u32,
    },
    /// An encoder refused its input or parameters.
    #[error("audio encoding failed: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
    /// The resampler refused its input; this points at a bug here, not at the caller's data.
    #[error("resampling failed: {reason}")]
    Resample {
        /// What rubato reported.
        reason: String,
    },
    /// The streaming resampler has no exact filter for this pair of rates: their ratio does
    /// not reduce to small enough terms (44101 Hz against 48 kHz, say).
    #[error("cannot resample a stream from {from} Hz to {to} Hz")]
    UnsupportedRatePair {
        /// The input rate.
        from: u32,
        /// The output rate.
        to: u32,
    },
    /// An Opus packet is malformed: damaged on the network or in a file.
    #[error("invalid Opus packet: {reason}")]
    InvalidOpusPacket {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// libopus refused a call: a setting out of range, or an internal failure.
    #[error("Opus {call} failed: {reason}")]
    Opus {
        /// The libopus function that failed.
        call: &'static str,
        /// libopus's description of the error.
        reason: &'static str,
    },
    /// A caller's buffer has the wrong length for the call.
    #[error("the {what} holds {actual} samples where {expected} are needed")]
    BufferSize {
        /// Which buffer.
        what: &'static str,
        /// The length the call needs (exact for input frames, at least for output).
        expected: usize,
        /// The length it has.
        actual: usize,
    },
}
