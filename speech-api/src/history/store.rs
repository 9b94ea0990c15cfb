//! [`HistoryStore`]: records in SQLite (WAL), audio in [`BlobDir`], every query scoped to
//! its [`Owner`], every call run on tokio's blocking pool.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension as _, Row, TransactionBehavior, params};

use super::blobs::{BlobDir, StagedBlob, create_private_dir};
use super::error::HistoryError;
use super::records::{
    HistoryRecord, LIMIT_RANGE, ListQuery, NewTranscription, NewTts, Order, Owner, PROVIDER_ID,
    Page, RecordKind, TranscriptionRecord, TtsRecord, tts_mime_type,
};
use super::schema;

/// The database file in the data directory.
pub const DB_FILE: &str = "history.sqlite3";
/// The blob folder in the data directory.
pub const BLOB_DIR: &str = "blobs";
/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: WAL lets them read while the one writer writes.
const READERS: usize = 4;
/// Longest id accepted on insert (ours are 28 characters).
const MAX_ID_CHARS: usize = 64;

/// The history: cheap to clone (shared), safe to use from any task.
///
/// One process should own a data directory at a time: blob removal is coordinated with
/// inserts by this process's write lock.
#[derive(Clone)]
pub struct HistoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The one connection that writes; blob renames and removals happen under its lock
    /// too, so a blob can never be removed between its rename and its record's insert.
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    blobs: BlobDir,
    dir: PathBuf,
}

impl fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// Stored audio, opened for reading: the file stays readable even if its record is
/// deleted meanwhile.
#[derive(Debug)]
pub struct StoredAudio {
    /// The open blob.
    pub file: File,
    /// Its size in bytes.
    pub len: u64,
    /// The MIME type recorded with it.
    pub mime_type: String,
}

impl HistoryStore {
    /// Opens (creating or upgrading) the history in `dir`: `dir/history.sqlite3` and
    /// `dir/blobs/`. Blocking (file I/O, a sweep of leftover blobs): call it at start-up
    /// or from a blocking task.
    pub fn open(dir: &Path) -> Result<Self, HistoryError> {
        create_private_dir(dir)?;
        let db_path = dir.join(DB_FILE);
        let mut writer = connect(&db_path)?;
        // WAL: readers do not block the writer nor the writer the readers; NORMAL sync
        // is safe in WAL mode (a power cut may lose the last commits, never corrupt).
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "history database is not in WAL mode");
        }
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let version = schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = connect(&db_path)?;
                conn.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, HistoryError>>()?;
        let blobs = BlobDir::open(dir.join(BLOB_DIR))?;
        let swept = blobs.sweep(|hash| blob_is_referenced(&writer, hash))?;
        if swept.temp_files + swept.orphans > 0 {
            tracing::info!(
                temp_files = swept.temp_files,
                orphans = swept.orphans,
                "removed leftover history blobs"
            );
        }
        tracing::debug!(dir = %dir.display(), version, "history store open");
        Ok(Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                blobs,
                dir: dir.to_path_buf(),
            }),
        })
    }

    /// The data directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stores a transcription under `id` (from [`super::new_id`]) for `owner`.
    pub async fn insert_transcription(
        &self,
        owner: &Owner,
        id: &str,
        new: NewTranscription,
    ) -> Result<TranscriptionRecord, HistoryError> {
        check_new_id(RecordKind::Transcription, id)?;
        let metadata = object_or_empty(new.metadata)?;
        let speakers = new.speakers.filter(|s| !s.is_null());
        let (owner, id) = (owner.clone(), id.to_owned());
        self.blocking(move |inner| {
            let record = TranscriptionRecord {
                id,
                object: RecordKind::Transcription.object(),
                text: new.text,
                language: new.language,
                confidence: Some(new.confidence).filter(|c| c.is_finite()),
                model: new.model,
                provider_id: PROVIDER_ID,
                filename: new.filename,
                audio_bytes: new.audio.len() as u64,
                audio_mime_type: new.audio_mime_type,
                speakers,
                streaming: new.streaming,
                metadata,
                created_at: now_unix(),
            };
            inner.insert(&record.id, &new.audio, |conn, hash| {
                conn.prepare_cached(
                    "INSERT INTO transcriptions (id, key_id, on_behalf_of, created_at, model,
                        text, language, confidence, filename, speakers, streaming, metadata,
                        audio_sha256, audio_bytes, audio_mime_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?
                .execute(params![
                    record.id,
                    owner.key_id,
                    owner.on_behalf_of,
                    record.created_at,
                    record.model,
                    record.text,
                    record.language,
                    record.confidence.map(f64::from),
                    record.filename,
                    record.speakers.as_ref().map(ToString::to_string),
                    record.streaming,
                    record.metadata.to_string(),
                    hash,
                    to_sql_len(record.audio_bytes),
                    record.audio_mime_type,
                ])
            })?;
            Ok(record)
        })
        .await
    }

    /// Stores a synthesis under `id` (from [`super::new_id`]) for `owner`.
    pub async fn insert_tts(
        &self,
        owner: &Owner,
        id: &str,
        new: NewTts,
    ) -> Result<TtsRecord, HistoryError> {
        check_new_id(RecordKind::Tts, id)?;
        let metadata = object_or_empty(new.metadata)?;
        let (owner, id) = (owner.clone(), id.to_owned());
        self.blocking(move |inner| {
            let detected_language =
                (!new.language.eq_ignore_ascii_case("auto")).then(|| new.language.clone());
            let record = TtsRecord {
                id,
                object: RecordKind::Tts.object(),
                characters: new.text.chars().count() as u64,
                text: new.text,
                language: new.language,
                detected_language,
                model: new.model,
                provider_id: PROVIDER_ID,
                format: new.format,
                audio_bytes: new.audio.len() as u64,
                streaming: new.streaming,
                metadata,
                created_at: now_unix(),
            };
            let mime_type = tts_mime_type(&record.format);
            inner.insert(&record.id, &new.audio, |conn, hash| {
                conn.prepare_cached(
                    "INSERT INTO tts (id, key_id, on_behalf_of, created_at, model, text,
                        language, detected_language, format, characters, streaming, metadata,
                        audio_sha256, audio_bytes, audio_mime_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?
                .execute(params![
                    record.id,
                    owner.key_id,
                    owner.on_behalf_of,
                    record.created_at,
                    record.model,
                    record.text,
                    record.language,
                    record.detected_language,
                    record.format,
                    to_sql_len(record.characters),
                    record.streaming,
                    record.metadata.to_string(),
                    hash,
                    to_sql_len(record.audio_bytes),
                    mime_type,
                ])
            })?;
            Ok(record)
        })
        .await
    }

    /// One page of `owner`'s records of `kind`.
    pub async fn list(
        &self,
        owner: &Owner,
        kind: RecordKind,
        query: ListQuery,
    ) -> Result<Page<HistoryRecord>, HistoryError> {
        if !LIMIT_RANGE.contains(&query.limit) {
            return Err(HistoryError::InvalidLimit { limit: query.limit });
        }
        let owner = owner.clone();
        self.blocking(move |inner| {
            let conn = inner.reader();
            let table = table(kind);
            let cursor = match &query.after {
                None => None,
                Some(after) => Some(
                    conn.prepare_cached(&format!(
                        "SELECT created_at, seq FROM {table}
                         WHERE id = ?1 AND key_id = ?2 AND on_behalf_of IS ?3"
                    ))?
                    .query_row(params![after, owner.key_id, owner.on_behalf_of], |row| {
                        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                    })
                    .optional()?
                    .ok_or_else(|| HistoryError::UnknownCursor {
                        kind,
                        id: after.clone(),
                    })?,
                ),
            };
            // Without a cursor, start before the first (asc) or after the last (desc)
            // possible position: one statement shape for both cases.
            let (direction, comparison, start) = match query.order {
                Order::Asc => ("ASC", ">", cursor.unwrap_or((i64::MIN, i64::MIN))),
                Order::Desc => ("DESC", "<", cursor.unwrap_or((i64::MAX, i64::MAX))),
            };
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {columns} FROM {table}
                 WHERE key_id = ?1 AND on_behalf_of IS ?2 AND (?3 IS NULL OR model = ?3)
                   AND (created_at, seq) {comparison} (?4, ?5)
                 ORDER BY created_at {direction}, seq {direction}
                 LIMIT ?6",
                columns = columns(kind),
            ))?;
            // One more than asked tells whether another page follows.
            let fetch = i64::from(query.limit) + 1;
            let mut data = statement
                .query_map(
                    params![
                        owner.key_id,
                        owner.on_behalf_of,
                        query.model,
                        start.0,
                        start.1,
                        fetch
                    ],
                    |row| record_from_row(kind, row),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = data.len() > query.limit as usize;
            data.truncate(query.limit as usize);
            Ok(Page::new(data, has_more))
        })
        .await
    }

    /// `owner`'s record `id` of `kind`.
    pub async fn get(
        &self,
        owner: &Owner,
        kind: RecordKind,
        id: &str,
    ) -> Result<HistoryRecord, HistoryError> {
        let (owner, id) = (owner.clone(), id.to_owned());
        self.blocking(move |inner| {
            let conn = inner.reader();
            conn.prepare_cached(&format!(
                "SELECT {} FROM {} WHERE id = ?1 AND key_id = ?2 AND on_behalf_of IS ?3",
                columns(kind),
                table(kind)
            ))?
            .query_row(params![id, owner.key_id, owner.on_behalf_of], |row| {
                record_from_row(kind, row)
            })
            .optional()?
            .ok_or(HistoryError::NotFound { kind, id })
        })
        .await
    }

    /// Deletes `owner`'s record `id` of `kind`, and its audio when no other record shares
    /// it. Returns whether the record existed.
    pub async fn delete(
        &self,
        owner: &Owner,
        kind: RecordKind,
        id: &str,
    ) -> Result<bool, HistoryError> {
        let (owner, id) = (owner.clone(), id.to_owned());
        self.blocking(move |inner| {
            let mut conn = inner.writer();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let table = table(kind);
            let hash: Option<String> = tx
                .prepare_cached(&format!(
                    "DELETE FROM {table} WHERE id = ?1 AND key_id = ?2 AND on_behalf_of IS ?3
                     RETURNING audio_sha256"
                ))?
                .query_row(params![id, owner.key_id, owner.on_behalf_of], |row| {
                    row.get(0)
                })
                .optional()?;
            let Some(hash) = hash else {
                return Ok(false);
            };
            let still_used = blob_is_referenced(&tx, &hash)?;
            tx.commit()?;
            if !still_used {
                // The record is gone either way; a blob that cannot be removed now is an
                // orphan that the next start sweeps.
                if let Err(e) = inner.blobs.remove(&hash) {
                    tracing::warn!(error = %e, "could not remove an unreferenced history blob");
                }
            }
            Ok(true)
        })
        .await
    }

    /// The stored audio of `owner`'s record `id` of `kind`, opened for reading.
    pub async fn content(
        &self,
        owner: &Owner,
        kind: RecordKind,
        id: &str,
    ) -> Result<StoredAudio, HistoryError> {
        let (owner, id) = (owner.clone(), id.to_owned());
        self.blocking(move |inner| {
            let conn = inner.reader();
            let lookup = |conn: &Connection| -> Result<Option<(String, String)>, HistoryError> {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT audio_sha256, audio_mime_type FROM {}
                         WHERE id = ?1 AND key_id = ?2 AND on_behalf_of IS ?3",
                        table(kind)
                    ))?
                    .query_row(params![id, owner.key_id, owner.on_behalf_of], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?)
            };
            let not_found = || HistoryError::NotFound {
                kind,
                id: id.clone(),
            };
            let (hash, mime_type) = lookup(&conn)?.ok_or_else(not_found)?;
            let path = inner.blobs.path(&hash);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) => {
                    // Deleted between the lookup and the open: the record is gone now.
                    // A record whose blob is missing, though, is a fault of the store.
                    let raced =
                        e.kind() == std::io::ErrorKind::NotFound && lookup(&conn)?.is_none();
                    return Err(if raced {
                        not_found()
                    } else {
                        HistoryError::io("opening", path)(e)
                    });
                }
            };
            let len = file
                .metadata()
                .map_err(HistoryError::io("reading the size of", &path))?
                .len();
            Ok(StoredAudio {
                file,
                len,
                mime_type,
            })
        })
        .await
    }

    /// Runs `work` on tokio's blocking pool: SQLite and file I/O never run on the async
    /// runtime's workers.
    async fn blocking<T, F>(&self, work: F) -> Result<T, HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, HistoryError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| HistoryError::Task(e.to_string()))?
    }
}

impl Inner {
    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held rolled its transaction back (rusqlite
        // transactions roll back on drop): the connection is still sound.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free read connection, else the next one in turn (waiting for it).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        for i in 0..count {
            if let Some(reader) = self.readers.get((start + i) % count)
                && let Ok(guard) = reader.try_lock()
            {
                return guard;
            }
        }
        match self.readers.get(start % count.max(1)) {
            Some(reader) => reader.lock().unwrap_or_else(PoisonError::into_inner),
            // No readers (never configured so): read through the writer.
            None => self.writer(),
        }
    }

    /// Puts `audio` in its blob and runs `insert_row` in one write transaction. On
    /// failure, a blob that this insert brought in and nothing references is removed.
    fn insert(
        &self,
        id: &str,
        audio: &[u8],
        insert_row: impl FnOnce(&Connection, &str) -> rusqlite::Result<usize>,
    ) -> Result<(), HistoryError> {
        // Hashing and writing the (up to 25 MB) file happen before taking the lock.
        let mut staged: StagedBlob = self.blobs.stage(audio)?;
        let mut conn = self.writer();
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            self.blobs.commit(&mut staged, audio)?;
            insert_row(&tx, &staged.hash).map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation) => {
                    HistoryError::DuplicateId { id: id.to_owned() }
                }
                _ => HistoryError::Sqlite(e),
            })?;
            tx.commit()?;
            Ok(())
        })();
        if result.is_err() && !blob_is_referenced(&conn, &staged.hash).unwrap_or(true) {
            let _ = self.blobs.remove(&staged.hash);
        }
        result
    }
}

/// Whether any record of either kind uses the blob `hash`.
fn blob_is_referenced(conn: &Connection, hash: &str) -> Result<bool, HistoryError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM transcriptions WHERE audio_sha256 = ?1)
                 OR EXISTS (SELECT 1 FROM tts WHERE audio_sha256 = ?1)",
        )?
        .query_row([hash], |row| row.get(0))?)
}

fn connect(path: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

const fn table(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Transcription => "transcriptions",
        RecordKind::Tts => "tts",
    }
}

/// The columns [`record_from_row`] reads, in its order.
const fn columns(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Transcription => {
            "id, created_at, model, text, language, confidence, filename, speakers, streaming,
             metadata, audio_bytes, audio_mime_type"
        }
        RecordKind::Tts => {
            "id, created_at, model, text, language, detected_language, format, characters,
             streaming, metadata, audio_bytes"
        }
    }
}

fn record_from_row(kind: RecordKind, row: &Row<'_>) -> rusqlite::Result<HistoryRecord> {
    Ok(match kind {
        RecordKind::Transcription => HistoryRecord::Transcription(TranscriptionRecord {
            id: row.get(0)?,
            object: kind.object(),
            created_at: row.get(1)?,
            model: row.get(2)?,
            text: row.get(3)?,
            language: row.get(4)?,
            // Stored from an f32, so this narrowing is exact.
            confidence: row.get::<_, Option<f64>>(5)?.map(|c| c as f32),
            provider_id: PROVIDER_ID,
            filename: row.get(6)?,
            speakers: json_column(row, 7)?,
            streaming: row.get(8)?,
            metadata: json_column(row, 9)?.unwrap_or_else(empty_object),
            audio_bytes: from_sql_len(row.get(10)?),
            audio_mime_type: row.get(11)?,
        }),
        RecordKind::Tts => HistoryRecord::Tts(TtsRecord {
            id: row.get(0)?,
            object: kind.object(),
            created_at: row.get(1)?,
            model: row.get(2)?,
            text: row.get(3)?,
            language: row.get(4)?,
            detected_language: row.get(5)?,
            provider_id: PROVIDER_ID,
            format: row.get(6)?,
            characters: from_sql_len(row.get(7)?),
            streaming: row.get(8)?,
            metadata: json_column(row, 9)?.unwrap_or_else(empty_object),
            audio_bytes: from_sql_len(row.get(10)?),
        }),
    })
}

/// A nullable TEXT column holding JSON.
fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
            })
        })
        .transpose()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Record metadata: a JSON object, with `null` meaning none.
fn object_or_empty(value: serde_json::Value) -> Result<serde_json::Value, HistoryError> {
    match value {
        serde_json::Value::Null => Ok(empty_object()),
        object @ serde_json::Value::Object(_) => Ok(object),
        _ => Err(HistoryError::InvalidMetadata),
    }
}

/// Ids come from [`super::new_id`]; anything else is a bug of the caller.
fn check_new_id(kind: RecordKind, id: &str) -> Result<(), HistoryError> {
    let well_formed = id.len() <= MAX_ID_CHARS
        && id.strip_prefix(kind.id_prefix()).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if well_formed {
        Ok(())
    } else {
        Err(HistoryError::InvalidId {
            kind,
            id: id.to_owned(),
        })
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// SQLite integers are signed; sizes here are far below `i64::MAX`.
fn to_sql_len(len: u64) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

fn from_sql_len(len: i64) -> u64 {
    u64::try_from(len).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_ids_of_the_kind_are_inserted() {
        check_new_id(RecordKind::Tts, &super::super::new_id(RecordKind::Tts)).unwrap();
        for bad in [
            "",
            "tts_",
            "stt_abc",
            "tts_ABC",
            "tts_a/b",
            &format!("tts_{}", "a".repeat(80)),
        ] {
            assert!(check_new_id(RecordKind::Tts, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_must_be_an_object() {
        assert_eq!(
            object_or_empty(serde_json::Value::Null).unwrap(),
            serde_json::json!({})
        );
        assert!(matches!(
            object_or_empty(serde_json::json!([1])),
            Err(HistoryError::InvalidMetadata)
        ));
    }
}
