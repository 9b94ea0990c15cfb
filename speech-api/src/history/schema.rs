//! The database schema, versioned with `PRAGMA user_version`: migration `n` takes a
//! database from version `n` to `n + 1`, so a database of any older version is brought up
//! to date at open, and one written by a newer server is refused.

use rusqlite::{Connection, TransactionBehavior};

use super::error::HistoryError;

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: both kinds of record. `seq` orders records created in the same second (it only
    // grows: AUTOINCREMENT never reuses a deleted row's number). Owners are compared with
    // `IS` so that "no end user" (NULL) is a scope of its own.
    "
    CREATE TABLE transcriptions (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        key_id          TEXT NOT NULL,
        on_behalf_of    TEXT,
        created_at      INTEGER NOT NULL,
        model           TEXT NOT NULL,
        text            TEXT NOT NULL,
        language        TEXT NOT NULL,
        confidence      REAL,
        filename        TEXT,
        speakers        TEXT,
        streaming       INTEGER NOT NULL,
        metadata        TEXT NOT NULL,
        audio_sha256    TEXT NOT NULL,
        audio_bytes     INTEGER NOT NULL,
        audio_mime_type TEXT NOT NULL
    );
    CREATE INDEX transcriptions_by_owner
        ON transcriptions (key_id, on_behalf_of, created_at, seq);
    CREATE INDEX transcriptions_by_blob ON transcriptions (audio_sha256);

    CREATE TABLE tts (
        seq               INTEGER PRIMARY KEY AUTOINCREMENT,
        id                TEXT NOT NULL UNIQUE,
        key_id            TEXT NOT NULL,
        on_behalf_of      TEXT,
        created_at        INTEGER NOT NULL,
        model             TEXT NOT NULL,
        text              TEXT NOT NULL,
        language          TEXT NOT NULL,
        detected_language TEXT,
        format            TEXT NOT NULL,
        characters        INTEGER NOT NULL,
        streaming         INTEGER NOT NULL,
        metadata          TEXT NOT NULL,
        audio_sha256      TEXT NOT NULL,
        audio_bytes       INTEGER NOT NULL,
        audio_mime_type   TEXT NOT NULL
    );
    CREATE INDEX tts_by_owner ON tts (key_id, on_behalf_of, created_at, seq);
    CREATE INDEX tts_by_blob ON tts (audio_sha256);
    ",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], each migration in its own transaction
/// (an interrupted upgrade resumes where it stopped).
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, HistoryError> {
    loop {
        // IMMEDIATE: two processes opening a new database at once do not both migrate.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(version);
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "history database schema upgraded");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        // Idempotent: nothing left to apply.
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, HistoryError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }
}
