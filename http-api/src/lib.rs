//! The HTTP layer that the token service and the REST speech API share, so that every
//! endpoint answers the same way (shared/API.md, "Common rules"):
//!
//! - [`ApiError`]: the JSON error body `{"error": {"message", "type", "code"}}` and the one
//!   place that maps an error kind to its HTTP status (and `Retry-After` for 429/503);
//! - [`Json`]: axum's JSON extractor whose rejections (malformed JSON, wrong types, a
//!   missing content type, an oversize body) become such JSON errors too;
//! - [`ApiKeys`] and the [`Caller`] extractor: `Authorization: Bearer` checked in constant
//!   time, plus the optional `X-On-Behalf-Of` end user;
//! - [`DataDir`]: where generated keys (and later the history) live;
//! - [`SecretString`]: a string that never shows itself in `Debug` output.
#![forbid(unsafe_code)]

mod caller;
mod data_dir;
mod error;
mod json;
mod keys;
mod secret;

pub use caller::{Caller, MAX_ON_BEHALF_OF_CHARS, ON_BEHALF_OF_HEADER};
pub use data_dir::{DataDir, DataDirError, StoredSecret};
pub use error::{ApiError, ErrorKind, method_not_allowed_fallback, not_found_fallback};
pub use json::Json;
pub use keys::{ApiKeys, KeyError, KeyId, KeySource};
pub use secret::SecretString;

/// Fills `buf` from the operating system's random source. Every key, nonce and id the
/// server generates comes from here.
///
/// # Panics
/// When the OS has no random source at all: nothing secure can be done then, and going on
/// with predictable keys would be worse than stopping.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}
