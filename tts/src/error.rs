//! What can go wrong when loading a voice or synthesizing.

use std::path::PathBuf;

use mka1_media::{MediaError, OnnxRuntimeError};

/// Why a voice could not be loaded or a text not synthesized.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// No models directory could be determined (no `MKA1_MODELS_DIR` and no home cache).
    #[error("no models directory: {reason}")]
    NoModelsDir {
        /// What provisioning reported.
        reason: String,
    },
    /// The ONNX Runtime library is missing or does not load.
    #[error(transparent)]
    Runtime(#[from] OnnxRuntimeError),
    /// No voice has this id.
    #[error("unknown voice '{id}': known voices are {known}")]
    UnknownVoice {
        /// The id asked for.
        id: String,
        /// The ids there are, comma-separated.
        known: String,
    },
    /// The voice's model or config file is not where provisioning puts it.
    #[error("the voice file is missing at {}: run `mka1-voice models install`", path.display())]
    VoiceMissing {
        /// Where the file was looked for.
        path: PathBuf,
    },
    /// The voice's `.onnx.json` config cannot be read or lacks what synthesis needs.
    #[error("the voice config at {} is not usable: {reason}", path.display())]
    VoiceConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The ONNX model does not load or is not a Piper VITS voice.
    #[error("the voice model at {} could not be loaded: {reason}", path.display())]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime reported, or which input was unexpected.
        reason: String,
    },
    /// The espeak-ng program cannot be started.
    #[error("cannot run espeak-ng ('{program}'): {reason}; install the espeak-ng package")]
    EspeakMissing {
        /// The program that was tried.
        program: String,
        /// What the system reported.
        reason: String,
    },
    /// espeak-ng ran but failed.
    #[error("espeak-ng failed: {reason}")]
    Espeak {
        /// Its exit status or error output.
        reason: String,
    },
    /// ONNX Runtime failed while running the voice.
    #[error("speech synthesis failed: {reason}")]
    Inference {
        /// What ONNX Runtime reported.
        reason: String,
    },
    /// Resampling the voice's output failed.
    #[error("resampling speech failed: {0}")]
    Resample(#[from] MediaError),
    /// More text was pushed than the synthesizer may hold unspoken.
    #[error("the synthesizer already holds {limit} bytes of unspoken text")]
    TextQueueFull {
        /// The limit in bytes.
        limit: usize,
    },
    /// The synthesizer has stopped (finished, cancelled or failed) and takes no more text.
    #[error("the synthesizer has stopped")]
    Stopped,
    /// The worker thread could not be started.
    #[error("cannot start the synthesis thread: {reason}")]
    Thread {
        /// What the system reported.
        reason: String,
    },
}
