//! The process's one ONNX Runtime environment, loaded from the provisioned library and
//! shared by every crate that runs ONNX models (VAD here, the Piper voices of `mka1-tts`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

/// ONNX Runtime allows one environment per process, and `ort` keeps only a weak reference
/// to it: holding it here keeps it alive for every later session.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Why the ONNX Runtime library could not be loaded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OnnxRuntimeError {
    /// The shared library is not where provisioning puts it.
    #[error(
        "the ONNX Runtime library is missing at {}: run `mka1-voice models install`",
        path.display()
    )]
    Missing {
        /// Where the library was looked for.
        path: PathBuf,
    },
    /// The library exists but could not be loaded (wrong file, wrong version, wrong arch).
    #[error("the ONNX Runtime library at {} could not be loaded: {reason}", path.display())]
    Load {
        /// The library that failed.
        path: PathBuf,
        /// What the loader reported.
        reason: String,
    },
}

/// The process-wide ONNX Runtime environment, loading the shared library at `library` on
/// first use.
///
/// The library can be loaded only once per process, so later calls return the first
/// environment whatever path they pass. Every crate that runs ONNX models in this process
/// (VAD, TTS) must get its environment here: a second `ort` environment cannot be built.
pub fn onnx_environment(library: &Path) -> Result<Environment, OnnxRuntimeError> {
    // The lock also serialises the first load, so two threads never race to dlopen.
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(environment) = slot.as_ref() {
        return Ok(environment.clone());
    }
    if !library.is_file() {
        return Err(OnnxRuntimeError::Missing {
            path: library.to_path_buf(),
        });
    }
    // `ort` resolves relative paths against the executable's directory, not the working
    // directory; an absolute path means what the caller meant.
    let path = std::path::absolute(library).map_err(|e| OnnxRuntimeError::Load {
        path: library.to_path_buf(),
        reason: e.to_string(),
    })?;
    let load_error = |reason: String| OnnxRuntimeError::Load {
        path: path.clone(),
        reason,
    };
    let environment = ort::init_from(&path)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("mka1-voice")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    *slot = Some(environment.clone());
    Ok(environment)
}
