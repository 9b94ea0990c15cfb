//! A loaded Piper voice: the ONNX session, its config and its espeak-ng voice.

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use mka1_models::ModelsDir;
use mka1_models::catalog::paths;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::TensorRef;

use crate::engine::{Chunking, Pipeline};
use crate::phonemize::Espeak;
use crate::voice::{PiperConfig, Voice};
use crate::{AudioChunk, SAMPLE_RATE, TtsError};

/// How a voice is loaded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceOptions {
    /// ONNX Runtime intra-op threads per synthesis call. Two by default (one on a
    /// single-core machine): calls take turns on the one shared session anyway, and the
    /// second thread is what brings a short first clause under 60 ms (BENCHMARKS.md).
    pub intra_threads: usize,
    /// The espeak-ng program; `None` takes `MKA1_ESPEAK` or `espeak-ng` on the `PATH`.
    pub espeak_program: Option<String>,
}

impl Default for VoiceOptions {
    fn default() -> Self {
        Self {
            intra_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
            espeak_program: None,
        }
    }
}

impl VoiceOptions {
    /// With `n` intra-op threads (at least one).
    #[must_use]
    pub fn with_intra_threads(mut self, n: usize) -> Self {
        self.intra_threads = n.max(1);
        self
    }

    /// With an explicit espeak-ng program.
    #[must_use]
    pub fn with_espeak_program(mut self, program: impl Into<String>) -> Self {
        self.espeak_program = Some(program.into());
        self
    }
}

/// How a text is spoken.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthesisOptions {
    /// Speaking rate, 0.25..=4 (1 is the voice's own pace); divides the length scale.
    pub speed: f32,
    /// Generator noise; `None` uses the voice's default.
    pub noise_scale: Option<f32>,
    /// Phoneme-width noise; `None` uses the voice's default.
    pub noise_w: Option<f32>,
    /// Each chunk is scaled so its loudest sample has this magnitude (Piper normalises
    /// each sentence to full scale likewise); `None` keeps the model's raw level.
    pub peak: Option<f32>,
    /// How text is grouped into synthesis calls and chunks.
    pub chunking: Chunking,
}

impl Default for SynthesisOptions {
    fn default() -> Self {
        Self {
            speed: 1.0,
            noise_scale: None,
            noise_w: None,
            peak: Some(0.95),
            chunking: Chunking::Clause,
        }
    }
}

impl SynthesisOptions {
    /// With a speaking rate (clamped to 0.25..=4, the OpenAI API's range).
    #[must_use]
    pub fn with_speed(mut self, speed: f32) -> Self {
        self.speed = if speed.is_finite() {
            speed.clamp(0.25, 4.0)
        } else {
            1.0
        };
        self
    }

    /// With a chunking policy.
    #[must_use]
    pub fn with_chunking(mut self, chunking: Chunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// With peak normalisation to `peak` (0..=1), or none.
    #[must_use]
    pub fn with_peak(mut self, peak: Option<f32>) -> Self {
        self.peak = peak
            .filter(|p| p.is_finite() && *p > 0.0)
            .map(|p| p.min(1.0));
        self
    }
}

/// A loaded Piper voice. Load once per process and share it (`Arc<PiperVoice>`): it is
/// `Send + Sync`, and concurrent calls take turns on the one ONNX session.
pub struct PiperVoice {
    voice: Voice,
    config: PiperConfig,
    espeak: Espeak,
    model_path: PathBuf,
    // `ort` runs a session through `&mut`.
    session: Mutex<Session>,
}

impl fmt::Debug for PiperVoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiperVoice")
            .field("voice", &self.voice.id)
            .field("model", &self.model_path)
            .field("espeak", &self.espeak)
            .finish_non_exhaustive()
    }
}

impl PiperVoice {
    /// Loads `voice` from the models directory named by `MKA1_MODELS_DIR` (or the default
    /// cache), with default options.
    pub fn from_env(voice: &Voice) -> Result<Self, TtsError> {
        let dir = ModelsDir::from_env().map_err(|e| TtsError::NoModelsDir {
            reason: e.to_string(),
        })?;
        Self::load(voice, &dir, &VoiceOptions::default())
    }

    /// Loads `voice` and the ONNX Runtime library from a models directory.
    pub fn load(voice: &Voice, dir: &ModelsDir, options: &VoiceOptions) -> Result<Self, TtsError> {
        Self::load_files(
            voice,
            &dir.path(paths::ONNXRUNTIME),
            &voice.model_path(dir),
            &voice.config_path(dir),
            options,
        )
    }

    /// Loads a voice from explicit files.
    pub fn load_files(
        voice: &Voice,
        runtime_library: &Path,
        model: &Path,
        config: &Path,
        options: &VoiceOptions,
    ) -> Result<Self, TtsError> {
        if !model.is_file() {
            return Err(TtsError::VoiceMissing {
                path: model.to_path_buf(),
            });
        }
        let config = PiperConfig::load(config)?;
        let espeak = match &options.espeak_program {
            Some(program) => Espeak::new(program.clone(), config.espeak_voice.clone()),
            None => Espeak::from_env(config.espeak_voice.clone()),
        };
        espeak.check()?;
        espeak.prepare();
        let environment = mka1_media::onnx_environment(runtime_library)?;
        let model_error = |reason: String| TtsError::ModelLoad {
            path: model.to_path_buf(),
            reason,
        };
        let threads = options.intra_threads.max(1);
        let mut builder = Session::builder(&environment)
            .map_err(|e| model_error(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| model_error(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| model_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| model_error(e.to_string()))?;
        if threads > 1 {
            // Spinning pool threads would steal the core espeak-ng runs on.
            builder = builder
                .with_intra_op_spinning(false)
                .map_err(|e| model_error(e.to_string()))?;
        }
        let session = builder
            .commit_from_file(model)
            .map_err(|e| model_error(e.to_string()))?;
        check_signature(&session, config.num_speakers).map_err(model_error)?;
        Ok(Self {
            voice: *voice,
            config,
            espeak,
            model_path: model.to_path_buf(),
            session: Mutex::new(session),
        })
    }

    /// The registry entry of this voice.
    pub fn voice(&self) -> &Voice {
        &self.voice
    }

    /// The voice's Piper config.
    pub fn config(&self) -> &PiperConfig {
        &self.config
    }

    /// How this voice runs espeak-ng.
    pub fn espeak(&self) -> &Espeak {
        &self.espeak
    }

    /// Speaks `text` with default options: mono `f32` at 24 kHz.
    pub fn synthesize(&self, text: &str) -> Result<Vec<f32>, TtsError> {
        self.synthesize_with(text, &SynthesisOptions::default())
    }

    /// Speaks `text`: mono `f32` at 24 kHz.
    pub fn synthesize_with(
        &self,
        text: &str,
        options: &SynthesisOptions,
    ) -> Result<Vec<f32>, TtsError> {
        let mut audio = Vec::new();
        self.synthesize_each(text, options, |chunk| {
            audio.extend_from_slice(&chunk.samples_24k);
            ControlFlow::Continue(())
        })?;
        Ok(audio)
    }

    /// Speaks `text`, handing each chunk to `on_chunk` as soon as it is synthesized (on
    /// this thread); `on_chunk` stops synthesis by returning `Break`.
    pub fn synthesize_each(
        &self,
        text: &str,
        options: &SynthesisOptions,
        mut on_chunk: impl FnMut(AudioChunk) -> ControlFlow<()>,
    ) -> Result<(), TtsError> {
        let mut pipeline = Pipeline::new(self.espeak.clone(), options.chunking);
        pipeline.push_text(text);
        pipeline.finish();
        let mut delivered_last = false;
        while let Some((unit, phonemes)) = pipeline.next_unit()? {
            let samples_24k = self.render(&phonemes, options, None)?;
            let is_last = pipeline.is_done();
            delivered_last = is_last;
            let chunk = AudioChunk {
                samples_24k,
                text_of_clause: unit.text,
                clause_index: unit.index,
                is_last,
            };
            if on_chunk(chunk).is_break() {
                return Ok(());
            }
        }
        if !delivered_last {
            // Empty text: still one (silent) last chunk, as the streaming API promises.
            let _ = on_chunk(AudioChunk {
                samples_24k: Vec::new(),
                text_of_clause: String::new(),
                clause_index: 0,
                is_last: true,
            });
        }
        Ok(())
    }

    /// The phonemes of each synthesis call for `text`, as handed to the voice (for
    /// comparing with Piper's own front end).
    pub fn phonemes(&self, text: &str, chunking: Chunking) -> Result<Vec<String>, TtsError> {
        let mut pipeline = Pipeline::new(self.espeak.clone(), chunking);
        pipeline.push_text(text);
        pipeline.finish();
        let mut out = Vec::new();
        while let Some((_, phonemes)) = pipeline.next_unit()? {
            if !phonemes.is_empty() {
                out.push(phonemes);
            }
        }
        Ok(out)
    }

    /// Audio at 24 kHz for one unit's phonemes (empty phonemes give no audio).
    pub(crate) fn render(
        &self,
        phonemes: &str,
        options: &SynthesisOptions,
        run: Option<&RunOptions>,
    ) -> Result<Vec<f32>, TtsError> {
        if phonemes.trim().is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.config.phoneme_ids(phonemes);
        let native = self.infer(&ids, options, run)?;
        let mut audio = mka1_media::resample(&native, self.config.sample_rate, SAMPLE_RATE)?;
        if let Some(peak) = options.peak {
            normalize_peak(&mut audio, peak);
        }
        Ok(audio)
    }

    /// Runs the model on phoneme ids: audio at the voice's own rate.
    pub(crate) fn infer(
        &self,
        ids: &[i64],
        options: &SynthesisOptions,
        run: Option<&RunOptions>,
    ) -> Result<Vec<f32>, TtsError> {
        let inference = |e: ort::Error| TtsError::Inference {
            reason: e.to_string(),
        };
        let speed = if options.speed.is_finite() && options.speed > 0.0 {
            options.speed.clamp(0.25, 4.0)
        } else {
            1.0
        };
        let scales = [
            options.noise_scale.unwrap_or(self.config.noise_scale),
            self.config.length_scale / speed,
            options.noise_w.unwrap_or(self.config.noise_w),
        ];
        let lengths = [ids.len() as i64];
        let sid = [0i64];
        let input = TensorRef::from_array_view(([1, ids.len()], ids)).map_err(inference)?;
        let input_lengths = TensorRef::from_array_view(([1], &lengths[..])).map_err(inference)?;
        let scales = TensorRef::from_array_view(([3], &scales[..])).map_err(inference)?;
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = if self.config.num_speakers > 1 {
            let sid = TensorRef::from_array_view(([1], &sid[..])).map_err(inference)?;
            let inputs = ort::inputs![input, input_lengths, scales, sid];
            match run {
                Some(run) => session.run_with_options(inputs, run),
                None => session.run(inputs),
            }
        } else {
            let inputs = ort::inputs![input, input_lengths, scales];
            match run {
                Some(run) => session.run_with_options(inputs, run),
                None => session.run(inputs),
            }
        }
        .map_err(inference)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(inference)?;
        Ok(audio.to_vec())
    }
}

/// Rejects models that are not Piper VITS voices, so a wrong file fails at load time.
fn check_signature(session: &Session, speakers: u32) -> Result<(), String> {
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let mut expected = vec!["input", "input_lengths", "scales"];
    if speakers > 1 {
        expected.push("sid");
    }
    if inputs != expected || session.outputs().is_empty() {
        return Err(format!(
            "expected a Piper voice (inputs {expected:?}), found inputs {inputs:?}"
        ));
    }
    Ok(())
}

/// Scales `audio` so its loudest sample is `peak`; silence stays silence.
fn normalize_peak(audio: &mut [f32], peak: f32) {
    let max = audio
        .iter()
        .filter(|s| s.is_finite())
        .fold(0.0f32, |m, s| m.max(s.abs()));
    if max < 1e-4 {
        return;
    }
    let gain = peak / max;
    for s in audio.iter_mut() {
        *s = if s.is_finite() {
            (*s * gain).clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_normalisation() {
        let mut a = [0.1, -0.5, 0.25, f32::NAN];
        normalize_peak(&mut a, 0.9);
        for (got, want) in a.iter().zip([0.18, -0.9, 0.45, 0.0]) {
            assert!((got - want).abs() < 1e-6, "{a:?}");
        }
        let mut silence = [0.0; 4];
        normalize_peak(&mut silence, 0.9);
        assert_eq!(silence, [0.0; 4]);
    }

    #[test]
    fn options_are_clamped() {
        assert_eq!(SynthesisOptions::default().with_speed(10.0).speed, 4.0);
        assert_eq!(SynthesisOptions::default().with_speed(f32::NAN).speed, 1.0);
        assert_eq!(
            SynthesisOptions::default().with_peak(Some(3.0)).peak,
            Some(1.0)
        );
        assert_eq!(SynthesisOptions::default().with_peak(Some(-1.0)).peak, None);
        assert_eq!(
            VoiceOptions::default().with_intra_threads(0).intra_threads,
            1
        );
    }
}
