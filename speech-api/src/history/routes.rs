//! The history routes of shared/API.md section 5: thin HTTP glue over [`HistoryStore`].

use std::io::Read as _;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mka1_http_api::{ApiError, ApiKeys, Caller, Json};
use serde::Deserialize;

use super::records::{DEFAULT_LIMIT, Deleted, LIMIT_RANGE, ListQuery, Order, Owner, RecordKind};
use super::store::{HistoryStore, StoredAudio};

/// Transcription history: list here, `/{id}` for one, `/{id}/content` for its audio.
pub const TRANSCRIPTION_HISTORY_PATH: &str = "/api/v1/llm/speech/transcriptions/history";
/// Text-to-speech history, same shape.
pub const TTS_HISTORY_PATH: &str = "/api/v1/llm/speech/tts/history";

/// Audio is streamed to the client in chunks of this size.
const CHUNK_BYTES: u64 = 64 * 1024;
/// Longest piece of a bad parameter echoed back in an error message.
const MAX_ECHO_CHARS: usize = 64;

/// What the history routes need.
#[derive(Debug, Clone)]
pub struct HistoryState {
    /// The records and their audio.
    pub store: HistoryStore,
    /// The accepted API keys (for the [`Caller`] extractor).
    pub keys: ApiKeys,
}

impl FromRef<HistoryState> for ApiKeys {
    fn from_ref(state: &HistoryState) -> Self {
        state.keys.clone()
    }
}

impl FromRef<HistoryState> for HistoryStore {
    fn from_ref(state: &HistoryState) -> Self {
        state.store.clone()
    }
}

/// The eight history routes (list, get, delete, content for each kind), ready to merge
/// into a server.
pub fn router(state: HistoryState) -> Router {
    Router::new()
        .merge(kind_routes(
            RecordKind::Transcription,
            TRANSCRIPTION_HISTORY_PATH,
        ))
        .merge(kind_routes(RecordKind::Tts, TTS_HISTORY_PATH))
        .with_state(state)
}

fn kind_routes(kind: RecordKind, base: &str) -> Router<HistoryState> {
    Router::new()
        .route(
            base,
            get(
                move |State(store): State<HistoryStore>,
                      caller: Caller,
                      query: Result<Query<RawListQuery>, QueryRejection>| {
                    list(kind, store, caller, query)
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(
                move |State(store): State<HistoryStore>,
                      caller: Caller,
                      id: Result<Path<String>, PathRejection>| {
                    get_one(kind, store, caller, id)
                },
            )
            .delete(
                move |State(store): State<HistoryStore>,
                      caller: Caller,
                      id: Result<Path<String>, PathRejection>| {
                    delete_one(kind, store, caller, id)
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}/content"),
            get(
                move |State(store): State<HistoryStore>,
                      caller: Caller,
                      id: Result<Path<String>, PathRejection>| {
                    content(kind, store, caller, id)
                },
            ),
        )
}

/// The list query as sent; parsed by [`list_query`] so that every mistake gets the
/// API's JSON error. Unknown parameters are ignored; an empty value counts as absent.
#[derive(Debug, Deserialize)]
struct RawListQuery {
    after: Option<String>,
    limit: Option<String>,
    order: Option<String>,
    model: Option<String>,
}

async fn list(
    kind: RecordKind,
    store: HistoryStore,
    caller: Caller,
    query: Result<Query<RawListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(raw) = query.map_err(|e| {
        ApiError::bad_request(format!("Invalid query string: {}", e.body_text()))
            .with_code("invalid_query")
    })?;
    let query = list_query(raw)?;
    let page = store.list(&Owner::from(&caller), kind, query).await?;
    Ok(Json(page).into_response())
}

async fn get_one(
    kind: RecordKind,
    store: HistoryStore,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let record = store.get(&Owner::from(&caller), kind, &id).await?;
    Ok(Json(record).into_response())
}

async fn delete_one(
    kind: RecordKind,
    store: HistoryStore,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    if store.delete(&Owner::from(&caller), kind, &id).await? {
        tracing::debug!(key_id = %caller.key_id, %id, "history item deleted");
        Ok(Json(Deleted::new(kind, id)).into_response())
    } else {
        Err(super::HistoryError::NotFound { kind, id }.into())
    }
}

async fn content(
    kind: RecordKind,
    store: HistoryStore,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let StoredAudio {
        file,
        len,
        mime_type,
    } = store.content(&Owner::from(&caller), kind, &id).await?;
    let mut response = file_body(file, len).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, served_content_type(kind, &mime_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    // Someone's recorded voice: no shared cache may keep it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The `{id}` of the path. Only invalid percent-encoding can make it fail.
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id).map_err(|e| {
        ApiError::bad_request(format!("Invalid history item id: {}", e.body_text()))
            .with_code("invalid_value")
            .with_param("id")
    })
}

fn list_query(raw: RawListQuery) -> Result<ListQuery, ApiError> {
    let present = |v: Option<String>| v.filter(|v| !v.is_empty());
    let limit = match present(raw.limit) {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| LIMIT_RANGE.contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`limit` must be an integer between {} and {}, got `{}`.",
                    LIMIT_RANGE.start(),
                    LIMIT_RANGE.end(),
                    echo(&text)
                ))
                .with_code("invalid_value")
                .with_param("limit")
            })?,
    };
    let order = match present(raw.order).as_deref() {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`order` must be `asc` or `desc`, got `{}`.",
                echo(other)
            ))
            .with_code("invalid_value")
            .with_param("order"));
        }
    };
    Ok(ListQuery {
        after: present(raw.after),
        limit,
        order,
        model: present(raw.model),
    })
}

/// A client's value, cut short for an error message.
fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let mut shown: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        shown.push('…');
    }
    shown
}

/// Content types the official SDK accepts for a transcription's stored input audio
/// (`get_transcription_history_content` raises on any other). Parameters such as
/// `; codecs=opus` are ignored by its check.
const SDK_TRANSCRIPTION_CONTENT_TYPES: &[&str] = &[
    "audio/flac",
    "audio/x-flac",
    "audio/mpeg",
    "audio/mp3",
    "audio/mp4",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "audio/ogg",
    "video/mp4",
    "video/mpeg",
    "video/webm",
    "audio/x-m4a",
    "audio/mpga",
    "application/octet-stream",
];

/// The `Content-Type` of stored audio: the recorded MIME type, except that a
/// transcription upload of a type the SDK does not know (raw `audio/pcm`,
/// `audio/L16;rate=8000`) goes out as `application/octet-stream`, which it accepts.
fn served_content_type(kind: RecordKind, stored: &str) -> HeaderValue {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let known = match kind {
        RecordKind::Transcription => SDK_TRANSCRIPTION_CONTENT_TYPES.contains(&essence.as_str()),
        RecordKind::Tts => true,
    };
    known
        .then(|| HeaderValue::from_str(stored).ok())
        .flatten()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"))
}

/// The first `len` bytes of `file` as a streamed body: each chunk is read on the
/// blocking pool, and only when the client is ready for it, so a 25 MB file is never
/// held in memory whole and a slow client holds no thread.
fn file_body(file: std::fs::File, len: u64) -> Body {
    let chunks = futures_util::stream::try_unfold((file, len), |(file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = remaining.min(CHUNK_BYTES);
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            let read = (&file).take(want).read_to_end(&mut chunk);
            read.map(|_| (file, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        if chunk.is_empty() {
            // Blobs never change; a short one means the disk is failing. End the body
            // with an error so the client sees a truncated transfer, not a short file.
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "stored audio is shorter than recorded",
            ));
        }
        let left = remaining - chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (file, left))))
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(limit: Option<&str>, order: Option<&str>) -> RawListQuery {
        RawListQuery {
            after: None,
            limit: limit.map(Into::into),
            order: order.map(Into::into),
            model: Some(String::new()),
        }
    }

    #[test]
    fn list_queries_are_checked() {
        let q = list_query(raw(None, None)).unwrap();
        assert_eq!(q, ListQuery::default());
        let q = list_query(raw(Some("100"), Some("asc"))).unwrap();
        assert_eq!((q.limit, q.order), (100, Order::Asc));
        for bad in ["0", "101", "-1", "ten", "1.5"] {
            let e = list_query(raw(Some(bad), None)).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.param()),
                (400, Some("limit")),
                "{bad}"
            );
        }
        let e = list_query(raw(None, Some("ASC"))).unwrap_err();
        assert_eq!(e.message(), "`order` must be `asc` or `desc`, got `ASC`.");
        let long = "x".repeat(500);
        let e = list_query(raw(None, Some(&long))).unwrap_err();
        assert!(e.message().len() < 150, "{}", e.message());
    }

    #[test]
    fn content_types_stay_within_what_the_sdk_accepts() {
        let t = RecordKind::Transcription;
        assert_eq!(served_content_type(t, "audio/wav"), "audio/wav");
        assert_eq!(
            served_content_type(t, "audio/ogg; codecs=opus"),
            "audio/ogg; codecs=opus"
        );
        assert_eq!(
            served_content_type(t, "audio/L16;rate=16000"),
            "application/octet-stream"
        );
        assert_eq!(
            served_content_type(t, "bad\nvalue"),
            "application/octet-stream"
        );
        assert_eq!(
            served_content_type(RecordKind::Tts, "audio/mpeg"),
            "audio/mpeg"
        );
    }
}
