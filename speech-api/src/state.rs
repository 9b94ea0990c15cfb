//! What the speech routes share: loaded models, the history, the keys, the metrics.
//! Built once at start-up; cheap to clone.

use std::sync::Arc;

use axum::extract::FromRef;
use mka1_http_api::ApiKeys;
use mka1_media::SileroVad;
use mka1_models::ModelsDir;
use mka1_stt::pool::{PoolConfig, PoolError, TranscriptionPool};
use mka1_stt::streaming::DecodeBudget;
use mka1_stt::{ModelId, SttError};
use mka1_tts::VoiceOptions;

use crate::history::HistoryStore;
use crate::metrics::Metrics;
use crate::stream_ws::{self, ModelProvider, StreamState};
use crate::tokenizer::Tokenizers;
use crate::voices::Voices;

/// Longest audio accepted for one transcription, in seconds (decoded length, not what a
/// header claims). 25 MiB of Opus at 16 kbps is over three hours; Whisper on two cores
/// would take longer than any client waits, so the cap stays at two hours.
pub const DEFAULT_MAX_AUDIO_SECONDS: f64 = 2.0 * 3600.0;

/// Settings of the speech API.
#[derive(Debug, Clone)]
pub struct SpeechConfig {
    /// Where the models are (`MKA1_MODELS_DIR`).
    pub models_dir: ModelsDir,
    /// The transcription pool (workers, queue bound, threads per job).
    pub pool: PoolConfig,
    /// Whisper models loaded at start-up, so that the first request is warm (those not
    /// installed are skipped with a warning).
    pub preload: Vec<ModelId>,
    /// Longest accepted audio, in seconds.
    pub max_audio_seconds: f64,
    /// How the TTS voices run (threads, espeak-ng program).
    pub voice_options: VoiceOptions,
}

impl SpeechConfig {
    /// Defaults for the models in `models_dir`: the pool's defaults (one worker on every
    /// core, 8 jobs queued), every Whisper model preloaded (tiny.en serves English,
    /// base serves `model=auto` without a language: both are hit from the first request).
    pub fn new(models_dir: ModelsDir) -> Self {
        Self {
            pool: PoolConfig::new(models_dir.clone()),
            models_dir,
            preload: ModelId::ALL.to_vec(),
            max_audio_seconds: DEFAULT_MAX_AUDIO_SECONDS,
            voice_options: VoiceOptions::default(),
        }
    }

    /// The settings from the environment: `MKA1_MODELS_DIR` and the pool's
    /// `MKA1_STT_WORKERS`, `MKA1_STT_QUEUE`, `MKA1_STT_THREADS`.
    pub fn from_env() -> Result<Self, PoolError> {
        let pool = PoolConfig::from_env()?;
        Ok(Self {
            pool: pool.clone(),
            ..Self::new(pool.models_dir)
        })
    }
}

/// The state of the speech routes. Build it with [`SpeechState::load`] (or
/// [`SpeechState::from_parts`]) and hand it to [`crate::router`].
#[derive(Clone)]
pub struct SpeechState {
    inner: Arc<Inner>,
}

struct Inner {
    keys: ApiKeys,
    models_dir: ModelsDir,
    pool: TranscriptionPool,
    vad: Result<SileroVad, String>,
    voices: Voices,
    history: HistoryStore,
    metrics: Metrics,
    max_audio_seconds: f64,
    tokenizers: Tokenizers,
    stream_budget: Arc<DecodeBudget>,
}

impl std::fmt::Debug for SpeechState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechState")
            .field("models_dir", &self.inner.models_dir.root())
            .field("voices", &self.inner.voices)
            .field("vad", &self.inner.vad.is_ok())
            .field("history", &self.inner.history)
            .finish_non_exhaustive()
    }
}

/// The parts of a [`SpeechState`], for callers that load models themselves (tests, or a
/// server that shares them with the voice agent).
pub struct SpeechParts {
    /// Accepted API keys.
    pub keys: ApiKeys,
    /// Models directory (for listing what is installed).
    pub models_dir: ModelsDir,
    /// The transcription pool.
    pub pool: TranscriptionPool,
    /// Silero VAD, or why it could not be loaded (diarization answers 503 then).
    pub vad: Result<SileroVad, String>,
    /// The TTS voices.
    pub voices: Voices,
    /// The history store (`store=true`).
    pub history: HistoryStore,
    /// Metrics shared with the rest of the server.
    pub metrics: Metrics,
    /// Longest accepted audio, in seconds.
    pub max_audio_seconds: f64,
}

impl SpeechState {
    /// Loads everything the speech routes need: the transcription pool (preloading
    /// `config.preload`), Silero VAD, every installed voice (espeak-ng started, ONNX
    /// warmed up). Blocking; call it at start-up. A missing model does not stop the
    /// server: it is logged, and the routes that need it answer 503 with what to install.
    /// Only an invalid pool configuration is an error.
    pub fn load(
        config: SpeechConfig,
        keys: ApiKeys,
        history: HistoryStore,
        metrics: Metrics,
    ) -> Result<Self, PoolError> {
        let dir = config.models_dir.clone();
        tracing::info!(models = %dir.root().display(), "loading the speech models");
        let pool = TranscriptionPool::new(config.pool.clone())?;
        // The voice (ONNX optimisation, espeak-ng, a warm-up phrase) and the Whisper
        // models load side by side: start-up is the longer of the two, not their sum.
        let (vad, voices) = std::thread::scope(|scope| {
            let tts = scope.spawn(|| {
                let vad = SileroVad::from_models_dir(&dir).map_err(|e| e.to_string());
                (vad, Voices::load(&dir, &config.voice_options))
            });
            for model in &config.preload {
                if let Err(e) = pool.model(*model) {
                    tracing::warn!(
                        model = %model,
                        error = %e,
                        "Whisper model not available: transcriptions that need it will answer 503"
                    );
                }
            }
            let loaded: Vec<&str> = pool.loaded_models().iter().map(|m| m.as_str()).collect();
            tracing::info!(models = ?loaded, workers = pool.workers(), "transcription pool ready");
            tts.join().unwrap_or_else(|_| {
                let why = "loading panicked".to_owned();
                (Err(why.clone()), Voices::failed(&why))
            })
        });
        match &vad {
            Ok(_) => tracing::info!("Silero VAD loaded"),
            Err(e) => {
                tracing::warn!(error = %e, "Silero VAD not available: diarization will answer 503");
            }
        }
        Ok(Self::from_parts(SpeechParts {
            keys,
            models_dir: dir,
            pool,
            vad,
            voices,
            history,
            metrics,
            max_audio_seconds: config.max_audio_seconds,
        }))
    }

    /// A state from loaded parts.
    pub fn from_parts(parts: SpeechParts) -> Self {
        let SpeechParts {
            keys,
            models_dir,
            pool,
            vad,
            voices,
            history,
            metrics,
            max_audio_seconds,
        } = parts;
        Self {
            inner: Arc::new(Inner {
                keys,
                models_dir,
                pool,
                vad,
                voices,
                history,
                metrics,
                max_audio_seconds,
                tokenizers: Tokenizers::default(),
                stream_budget: Arc::new(DecodeBudget::new(stream_ws::lone_stream_threads())),
            }),
        }
    }

    /// The accepted API keys.
    pub fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    /// The models directory.
    pub fn models_dir(&self) -> &ModelsDir {
        &self.inner.models_dir
    }

    /// The transcription pool (shared with the streaming WebSocket).
    pub fn pool(&self) -> &TranscriptionPool {
        &self.inner.pool
    }

    /// The Whisper threads shared by every streaming recognizer of the process (the
    /// WebSocket's sessions and the voice agent's): a decode of a stream that is open
    /// alone uses up to 4 cores, one beside others (see [`DecodeBudget`]).
    pub fn stream_budget(&self) -> &Arc<DecodeBudget> {
        &self.inner.stream_budget
    }

    /// Silero VAD, or why it is not available.
    pub fn vad(&self) -> Result<&SileroVad, &str> {
        self.inner.vad.as_ref().map_err(String::as_str)
    }

    /// The TTS voices.
    pub fn voices(&self) -> &Voices {
        &self.inner.voices
    }

    /// The history store.
    pub fn history(&self) -> &HistoryStore {
        &self.inner.history
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Longest accepted audio, in seconds.
    pub fn max_audio_seconds(&self) -> f64 {
        self.inner.max_audio_seconds
    }

    /// Whisper's vocabularies (loaded on first use).
    pub fn tokenizers(&self) -> &Tokenizers {
        &self.inner.tokenizers
    }

    /// The state of the streaming STT WebSocket ([`crate::stream_ws`]), sharing this
    /// state's keys, VAD and loaded Whisper models (`model=auto`'s rule picks one per
    /// session language). `Err` says why it cannot run: it needs the VAD.
    pub fn stream_state(&self) -> Result<StreamState, String> {
        let vad = self.vad().map_err(str::to_owned)?.clone();
        let state = self.clone();
        let models: ModelProvider = Arc::new(move |language: Option<&str>| {
            let dir = state.models_dir();
            let model = ModelId::auto(language, &ModelId::installed(dir)).ok_or_else(|| {
                SttError::NotInstalled {
                    model: ModelId::TinyEn,
                    path: ModelId::TinyEn.ggml_path(dir).display().to_string(),
                }
            })?;
            state.pool().model(model)
        });
        Ok(StreamState::new(self.keys().clone(), vad, models)
            .with_budget(Arc::clone(self.stream_budget())))
    }
}

impl FromRef<SpeechState> for ApiKeys {
    fn from_ref(state: &SpeechState) -> Self {
        state.inner.keys.clone()
    }
}
