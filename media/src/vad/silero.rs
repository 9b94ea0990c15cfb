//! Silero VAD v6: the shared model and per-stream state.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use mka1_models::ModelsDir;
use mka1_models::catalog::paths;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use super::{CONTEXT_SAMPLES, SAMPLE_RATE, VadError, WINDOW_SAMPLES, onnx_environment};

/// The model's input and output names, in the order the session is fed and read.
const INPUTS: [&str; 3] = ["input", "state", "sr"];
const OUTPUTS: [&str; 2] = ["output", "stateN"];
/// The recurrent state, `[2, batch = 1, 128]`.
const STATE_SHAPE: [usize; 3] = [2, 1, 128];
const STATE_LEN: usize = 2 * 128;
const FRAME_LEN: usize = CONTEXT_SAMPLES + WINDOW_SAMPLES;
/// The `sr` input, an int64 scalar.
static RATE: [i64; 1] = [SAMPLE_RATE as i64];

/// The loaded Silero VAD model: load once per process, clone freely (clones share the
/// session), and open one [`VadStream`] per audio stream.
#[derive(Clone)]
pub struct SileroVad {
    // `ort` runs a session through `&mut`, so concurrent streams take turns; one window
    // costs well under a millisecond, far less than the 32 ms it covers.
    session: Arc<Mutex<Session>>,
}

impl fmt::Debug for SileroVad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SileroVad").finish_non_exhaustive()
    }
}

impl SileroVad {
    /// Loads the model at `model` with the ONNX Runtime library at `runtime_library`.
    pub fn load(runtime_library: &Path, model: &Path) -> Result<Self, VadError> {
        if !runtime_library.is_file() {
            return Err(VadError::RuntimeMissing {
                path: runtime_library.to_path_buf(),
            });
        }
        if !model.is_file() {
            return Err(VadError::ModelMissing {
                path: model.to_path_buf(),
            });
        }
        let environment = onnx_environment(runtime_library)?;
        let model_error = |reason: String| VadError::ModelLoad {
            path: model.to_path_buf(),
            reason,
        };
        // One intra-op thread: a window is tiny, and every real-time stream grabbing all
        // cores would make them contend instead of run side by side.
        let session = Session::builder(&environment)
            .map_err(|e| model_error(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| model_error(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| model_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| model_error(e.to_string()))?
            .commit_from_file(model)
            .map_err(|e| model_error(e.to_string()))?;
        check_signature(&session).map_err(model_error)?;
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
        })
    }

    /// Loads the provisioned model and runtime library from a models directory.
    pub fn from_models_dir(dir: &ModelsDir) -> Result<Self, VadError> {
        Self::load(&dir.path(paths::ONNXRUNTIME), &dir.path(paths::SILERO_VAD))
    }

    /// Loads from the models directory named by `MKA1_MODELS_DIR` (or the default cache).
    pub fn from_env() -> Result<Self, VadError> {
        let dir = ModelsDir::from_env().map_err(|e| VadError::NoModelsDir {
            reason: e.to_string(),
        })?;
        Self::from_models_dir(&dir)
    }

    /// A new stream with fresh state, sharing this model.
    pub fn stream(&self) -> VadStream {
        VadStream::new(self.clone())
    }

    /// Runs one window: `frame` is context + new samples, `state` is replaced by the new
    /// recurrent state. Returns the speech probability.
    fn infer(
        &self,
        frame: &[f32; FRAME_LEN],
        state: &mut [f32; STATE_LEN],
    ) -> Result<f32, VadError> {
        let inference = |e: ort::Error| VadError::Inference {
            reason: e.to_string(),
        };
        let input = TensorRef::from_array_view(([1, FRAME_LEN], &frame[..])).map_err(inference)?;
        let state_in = TensorRef::from_array_view((STATE_SHAPE, &state[..])).map_err(inference)?;
        let rate = TensorRef::from_array_view(((), &RATE[..])).map_err(inference)?;

        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session
            .run(ort::inputs![input, state_in, rate])
            .map_err(inference)?;
        let (_, probability) = outputs[0].try_extract_tensor::<f32>().map_err(inference)?;
        let (_, new_state) = outputs[1].try_extract_tensor::<f32>().map_err(inference)?;
        let (Some(&probability), true) = (probability.first(), new_state.len() == STATE_LEN) else {
            return Err(VadError::Inference {
                reason: format!(
                    "unexpected output sizes: {} probabilities, state of {}",
                    probability.len(),
                    new_state.len()
                ),
            });
        };
        state.copy_from_slice(new_state);
        Ok(probability)
    }
}

/// Rejects models whose inputs or outputs are not Silero v5/v6's, so a wrong file fails at
/// load time rather than on the first window.
fn check_signature(session: &Session) -> Result<(), String> {
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    if inputs != INPUTS || outputs != OUTPUTS {
        return Err(format!(
            "expected Silero VAD v5/v6 (inputs {INPUTS:?}, outputs {OUTPUTS:?}), \
             found inputs {inputs:?}, outputs {outputs:?}"
        ));
    }
    Ok(())
}

/// One audio stream's VAD state: the model's recurrent state, the last 64 samples it saw
/// (its context) and the samples still short of a full window.
pub struct VadStream {
    vad: SileroVad,
    /// Context followed by the window being filled: exactly the model's `input` row.
    frame: [f32; FRAME_LEN],
    /// How many new samples `frame` holds after the context.
    filled: usize,
    state: [f32; STATE_LEN],
    windows: u64,
}

impl fmt::Debug for VadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VadStream")
            .field("buffered", &self.filled)
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

impl VadStream {
    /// A stream with fresh state over `vad`.
    pub fn new(vad: SileroVad) -> Self {
        Self {
            vad,
            frame: [0.0; FRAME_LEN],
            filled: 0,
            state: [0.0; STATE_LEN],
            windows: 0,
        }
    }

    /// Feeds 16 kHz mono samples of any length, appending one speech probability (0..=1)
    /// to `out` per completed 512-sample window; the remainder waits for the next call.
    ///
    /// Non-finite samples count as silence. On error the failed window and the rest of
    /// `samples` are dropped; the stream stays usable.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), VadError> {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (WINDOW_SAMPLES - self.filled).min(rest.len());
            let start = CONTEXT_SAMPLES + self.filled;
            for (slot, &sample) in self.frame[start..start + take]
                .iter_mut()
                .zip(&rest[..take])
            {
                *slot = if sample.is_finite() { sample } else { 0.0 };
            }
            self.filled += take;
            rest = &rest[take..];
            if self.filled == WINDOW_SAMPLES {
                out.push(self.run_window()?);
            }
        }
        Ok(())
    }

    /// Zero-pads and runs a partial window, if one is buffered (end of input).
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), VadError> {
        if self.filled == 0 {
            return Ok(());
        }
        self.frame[CONTEXT_SAMPLES + self.filled..].fill(0.0);
        self.filled = WINDOW_SAMPLES;
        out.push(self.run_window()?);
        Ok(())
    }

    /// Forgets everything: state, context, buffered samples and the window count.
    pub fn reset(&mut self) {
        self.frame = [0.0; FRAME_LEN];
        self.filled = 0;
        self.state = [0.0; STATE_LEN];
        self.windows = 0;
    }

    /// Windows run since creation or the last [`reset`](Self::reset): window `n` covers
    /// samples `n * 512 .. (n + 1) * 512` of the stream.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Samples waiting for a full window.
    pub fn buffered(&self) -> usize {
        self.filled
    }

    fn run_window(&mut self) -> Result<f32, VadError> {
        // The window is consumed whatever happens, so a failing model cannot wedge the
        // stream in a loop over the same samples.
        self.filled = 0;
        self.windows += 1;
        let probability = self.vad.infer(&self.frame, &mut self.state);
        // The last 64 samples of this call are the next call's context (OnnxWrapper's
        // `x[..., -context_size:]`).
        self.frame.copy_within(WINDOW_SAMPLES.., 0);
        let probability = probability?;
        Ok(if probability.is_finite() {
            probability.clamp(0.0, 1.0)
        } else {
            0.0
        })
    }
}
