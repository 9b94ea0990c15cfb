//! Transcription and TTS history (shared/API.md section 5): records in SQLite (WAL),
//! audio blobs content-addressed on disk, every record scoped to its owner.
//!
//! - [`HistoryStore`]: `open` a data directory, `insert_*` with an id from [`new_id`]
//!   (made before the audio exists, for `X-Tts-Id`), `list`/`get`/`delete`/`content`
//!   scoped to an [`Owner`] (API key + `X-On-Behalf-Of`); another owner's id is simply
//!   not found.
//! - [`router`]: the eight HTTP routes over a [`HistoryState`].
//!
//! On disk, in the data directory: `history.sqlite3` (schema versioned with
//! `PRAGMA user_version`, upgraded at open) and `blobs/<2 hex>/<sha256 hex>`: identical
//! audio is stored once, and removed with the last record that uses it.

mod blobs;
mod error;
mod records;
mod routes;
mod schema;
mod store;

pub use error::HistoryError;
pub use records::{
    DEFAULT_LIMIT, Deleted, HistoryRecord, LIMIT_RANGE, ListQuery, NewTranscription, NewTts, Order,
    Owner, PROVIDER_ID, Page, RecordKind, TranscriptionRecord, TtsRecord, new_id, tts_mime_type,
};
pub use routes::{HistoryState, TRANSCRIPTION_HISTORY_PATH, TTS_HISTORY_PATH, router};
pub use store::{BLOB_DIR, DB_FILE, HistoryStore, StoredAudio};
