//! What the integration tests share: the provisioned voice, loaded once.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};

use mka1_models::ModelsDir;
use mka1_tts::{JOE, PiperVoice, VoiceOptions};

/// The models directory (`MKA1_MODELS_DIR` or the default cache).
pub fn models() -> ModelsDir {
    ModelsDir::from_env().unwrap_or_else(|e| panic!("no models directory: {e}"))
}

/// The joe voice, loaded once per test binary; a clear failure when it is not provisioned.
pub fn voice() -> Arc<PiperVoice> {
    static VOICE: OnceLock<Arc<PiperVoice>> = OnceLock::new();
    VOICE
        .get_or_init(|| {
            let voice = PiperVoice::load(&JOE, &models(), &VoiceOptions::default())
                .unwrap_or_else(|e| {
                    panic!("{e}\n(the TTS tests need provisioned models and espeak-ng: run `make models`)")
                });
            Arc::new(voice)
        })
        .clone()
}
