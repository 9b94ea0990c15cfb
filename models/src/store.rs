//! The models directory: where provisioned files live and how to find them.

use std::path::{Path, PathBuf};

use crate::error::ProvisionError;

/// The directory that caches every provisioned model (`MKA1_MODELS_DIR`,
/// default `~/.cache/mka1-voice/models`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir {
    root: PathBuf,
}

impl ModelsDir {
    /// A models directory at `root` (not created until something is installed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `MKA1_MODELS_DIR`, else `~/.cache/mka1-voice/models`.
    pub fn from_env() -> Result<Self, ProvisionError> {
        if let Some(dir) = std::env::var_os("MKA1_MODELS_DIR") {
            return Ok(Self::new(dir));
        }
        dirs::cache_dir()
            .map(|c| Self::new(c.join("mka1-voice").join("models")))
            .ok_or(ProvisionError::NoModelsDir)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Absolute path of a file given relative to the directory (see `catalog::paths`).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Where package files are downloaded before unpacking.
    pub(crate) fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// The record of installed packages, used to make installs idempotent.
    pub(crate) fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
}
