//! What can go wrong in the history, and the one place it becomes an HTTP answer.

use std::path::PathBuf;

use mka1_http_api::ApiError;

use super::records::{LIMIT_RANGE, RecordKind};

/// Errors of the history store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// No record of this kind and id belongs to the caller (it may belong to someone else:
    /// that is not told apart, so ids cannot be probed).
    #[error("no {} with id `{id}`", kind.noun())]
    NotFound {
        /// The kind asked for.
        kind: RecordKind,
        /// The id asked for.
        id: String,
    },
    /// The `after` cursor names no record of the caller.
    #[error("`after` names no {} of yours: `{id}`", kind.noun())]
    UnknownCursor {
        /// The kind listed.
        kind: RecordKind,
        /// The cursor given.
        id: String,
    },
    /// A page size outside 1..=100.
    #[error("`limit` must be between 1 and 100, got {limit}")]
    InvalidLimit {
        /// The size asked for.
        limit: u32,
    },
    /// An id that is not of the kind's form (`stt_…`/`tts_…`); only on insert (a lookup of
    /// such an id is simply not found).
    #[error("`{id}` is not a {} id", kind.noun())]
    InvalidId {
        /// The kind being inserted.
        kind: RecordKind,
        /// The id given.
        id: String,
    },
    /// Record metadata that is not a JSON object.
    #[error("`metadata` must be a JSON object")]
    InvalidMetadata,
    /// A record with this id already exists.
    #[error("a history item with id `{id}` already exists")]
    DuplicateId {
        /// The id given.
        id: String,
    },
    /// The database was written by a newer version of this server.
    #[error(
        "the history database has schema version {found}, newer than this server's \
         {supported}: upgrade the server or move the data directory"
    )]
    SchemaTooNew {
        /// The version on disk.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite failed.
    #[error("history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file of the store could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("writing", "renaming", …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The blocking task that ran the database work panicked or was cancelled.
    #[error("history task failed: {0}")]
    Task(String),
}

impl HistoryError {
    /// An [`HistoryError::Io`] for `path`, for `map_err`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::NotFound { kind, id } => {
                ApiError::not_found(format!("No {} with id `{id}`.", kind.noun()))
            }
            HistoryError::UnknownCursor { kind, id } => ApiError::bad_request(format!(
                "`after` must be the id of one of your {}s; `{id}` is not.",
                kind.noun()
            ))
            .with_code("invalid_value")
            .with_param("after"),
            HistoryError::InvalidLimit { limit } => ApiError::bad_request(format!(
                "`limit` must be an integer between {} and {}, got {limit}.",
                LIMIT_RANGE.start(),
                LIMIT_RANGE.end()
            ))
            .with_code("invalid_value")
            .with_param("limit"),
            HistoryError::InvalidMetadata => {
                ApiError::bad_request("`metadata` must be a JSON object.")
                    .with_code("invalid_type")
                    .with_param("metadata")
            }
            // Everything else is the server's fault: the details go to the log only.
            other => {
                tracing::error!(error = %other, "history store failed");
                ApiError::internal("The history store failed; please retry later.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_their_status_and_server_errors_hide_details() {
        let e = ApiError::from(HistoryError::NotFound {
            kind: RecordKind::Tts,
            id: "tts_x".into(),
        });
        assert_eq!(e.status().as_u16(), 404);
        assert_eq!(
            e.message(),
            "No text-to-speech history item with id `tts_x`."
        );
        let e = ApiError::from(HistoryError::InvalidLimit { limit: 101 });
        assert_eq!((e.status().as_u16(), e.param()), (400, Some("limit")));
        let e = ApiError::from(HistoryError::Io {
            action: "writing",
            path: "/secret/place".into(),
            source: std::io::Error::other("disk full"),
        });
        assert_eq!(e.status().as_u16(), 500);
        assert!(!e.message().contains("/secret"), "{}", e.message());
    }
}
