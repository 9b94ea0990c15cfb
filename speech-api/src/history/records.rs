//! The history's data types: who owns a record, what is inserted, what is listed, and
//! the exact JSON shapes of shared/API.md section 5.

use mka1_http_api::Caller;
use serde::Serialize;

/// The `provider_id` of every record: this server produced the transcription or audio.
/// The official SDK's models require the field (nullable), though API.md does not list it.
pub const PROVIDER_ID: &str = "mka1-voice";

/// Random characters after an id's prefix.
const ID_RANDOM_CHARS: usize = 24;
/// The alphabet of an id's random part.
const ID_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The two kinds of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Speech to text (`stt_…`, `speech.transcription`).
    Transcription,
    /// Text to speech (`tts_…`, `speech.tts`).
    Tts,
}

impl RecordKind {
    /// The prefix of this kind's ids.
    pub const fn id_prefix(self) -> &'static str {
        match self {
            Self::Transcription => "stt_",
            Self::Tts => "tts_",
        }
    }

    /// The `object` field of this kind's records.
    pub const fn object(self) -> &'static str {
        match self {
            Self::Transcription => "speech.transcription",
            Self::Tts => "speech.tts",
        }
    }

    /// How error messages name an item of this kind.
    pub const fn noun(self) -> &'static str {
        match self {
            Self::Transcription => "transcription history item",
            Self::Tts => "text-to-speech history item",
        }
    }
}

/// A fresh record id: the kind's prefix and 24 random lowercase alphanumerics (≈124 bits).
///
/// Ids are made before the record exists because streaming TTS sends `X-Tts-Id` in the
/// response headers, before the audio is synthesized and stored.
pub fn new_id(kind: RecordKind) -> String {
    let mut id = String::with_capacity(kind.id_prefix().len() + ID_RANDOM_CHARS);
    id.push_str(kind.id_prefix());
    let mut pool = [0u8; 32];
    let mut pos = pool.len();
    let mut made = 0;
    while made < ID_RANDOM_CHARS {
        if pos == pool.len() {
            mka1_http_api::random_bytes(&mut pool);
            pos = 0;
        }
        let byte = pool[pos];
        pos += 1;
        // Rejection sampling: 252 = 7 × 36, so accepted bytes map uniformly.
        if byte < 252 {
            id.push(char::from(ID_ALPHABET[usize::from(byte % 36)]));
            made += 1;
        }
    }
    id
}

/// Who a record belongs to: the API key (by its non-secret id) and the end user it acted
/// for. A call without `X-On-Behalf-Of` is its own scope, distinct from every end user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The [`mka1_http_api::KeyId`] of the caller's key, as text.
    pub key_id: String,
    /// The `X-On-Behalf-Of` end user, if any.
    pub on_behalf_of: Option<String>,
}

impl From<&Caller> for Owner {
    fn from(caller: &Caller) -> Self {
        Self {
            key_id: caller.key_id.as_str().to_owned(),
            on_behalf_of: caller.on_behalf_of.clone(),
        }
    }
}

/// A transcription to store (`store=true` on `POST /transcriptions`, or a streaming one).
#[derive(Debug, Clone)]
pub struct NewTranscription {
    /// The transcribed text.
    pub text: String,
    /// The language used or detected (`en`).
    pub language: String,
    /// Confidence 0..1 (a non-finite value is stored as unknown, `null`).
    pub confidence: f32,
    /// The model that transcribed (`tiny.en`, `base`).
    pub model: String,
    /// The uploaded file's name, when the upload had one.
    pub filename: Option<String>,
    /// The uploaded bytes, exactly as received.
    pub audio: Vec<u8>,
    /// The audio's MIME type (`audio/wav`, `audio/mpeg`, …).
    pub audio_mime_type: String,
    /// The `speakers` array when diarization was requested.
    pub speakers: Option<serde_json::Value>,
    /// Whether it came from the streaming WebSocket.
    pub streaming: bool,
    /// A JSON object (`null` counts as `{}`).
    pub metadata: serde_json::Value,
}

/// A synthesis to store (`store=true` on `POST /tts` or `/tts/stream`).
#[derive(Debug, Clone)]
pub struct NewTts {
    /// The input text.
    pub text: String,
    /// The language of the synthesis. Pass the language actually used (what
    /// `X-Language-Code` says): it is also reported as `detected_language`, unless it is
    /// `auto`.
    pub language: String,
    /// The TTS model (voice) used.
    pub model: String,
    /// `wav`, `mp3` or `pcm`: decides the content type the audio is served with.
    pub format: String,
    /// The audio as sent to the client.
    pub audio: Vec<u8>,
    /// Whether it came from `/tts/stream`.
    pub streaming: bool,
    /// A JSON object (`null` counts as `{}`).
    pub metadata: serde_json::Value,
}

/// A stored transcription, serialized exactly as API.md section 5 (plus `provider_id`,
/// which the official SDK's model requires).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptionRecord {
    /// `stt_…`.
    pub id: String,
    /// Always `speech.transcription`.
    pub object: &'static str,
    /// The transcribed text.
    pub text: String,
    /// Language code.
    pub language: String,
    /// Confidence 0..1, `null` when unknown.
    pub confidence: Option<f32>,
    /// The model used.
    pub model: String,
    /// Always [`PROVIDER_ID`].
    pub provider_id: &'static str,
    /// The uploaded file's name.
    pub filename: Option<String>,
    /// Size of the stored audio.
    pub audio_bytes: u64,
    /// MIME type of the stored audio.
    pub audio_mime_type: String,
    /// Diarization segments, `null` when not requested.
    pub speakers: Option<serde_json::Value>,
    /// From the streaming WebSocket.
    pub streaming: bool,
    /// A JSON object.
    pub metadata: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// A stored synthesis, serialized exactly as API.md section 5 (plus `detected_language`
/// and `provider_id`, which the official SDK's model requires).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TtsRecord {
    /// `tts_…`.
    pub id: String,
    /// Always `speech.tts`.
    pub object: &'static str,
    /// The input text.
    pub text: String,
    /// The language of the request.
    pub language: String,
    /// The language used, `null` when only `auto` is known.
    pub detected_language: Option<String>,
    /// The model used.
    pub model: String,
    /// Always [`PROVIDER_ID`].
    pub provider_id: &'static str,
    /// `wav`, `mp3` or `pcm`.
    pub format: String,
    /// Size of the stored audio.
    pub audio_bytes: u64,
    /// Characters (Unicode scalar values) of the text.
    pub characters: u64,
    /// From `/tts/stream`.
    pub streaming: bool,
    /// A JSON object.
    pub metadata: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// A record of either kind; serializes as the record itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HistoryRecord {
    /// A transcription.
    Transcription(TranscriptionRecord),
    /// A synthesis.
    Tts(TtsRecord),
}

impl HistoryRecord {
    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Transcription(r) => &r.id,
            Self::Tts(r) => &r.id,
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Transcription(_) => RecordKind::Transcription,
            Self::Tts(_) => RecordKind::Tts,
        }
    }

    /// The model that produced it.
    pub fn model(&self) -> &str {
        match self {
            Self::Transcription(r) => &r.model,
            Self::Tts(r) => &r.model,
        }
    }

    /// Unix seconds.
    pub fn created_at(&self) -> i64 {
        match self {
            Self::Transcription(r) => r.created_at,
            Self::Tts(r) => r.created_at,
        }
    }
}

/// Sort order by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first (the default).
    #[default]
    Desc,
}

/// Smallest and largest page size, and the default.
pub const LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;

/// A page request. `after` is an id of the owner's: the page holds the records strictly
/// after it in `order`. An `after` that names no record of the owner (never existed,
/// deleted, someone else's) is refused (400) rather than read as the end of the list, so a
/// client never mistakes a stale cursor for "no more items".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Cursor: an id from a previous page.
    pub after: Option<String>,
    /// Page size, within [`LIMIT_RANGE`].
    pub limit: u32,
    /// Sort order.
    pub order: Order,
    /// Only records of this model.
    pub model: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            after: None,
            limit: DEFAULT_LIMIT,
            order: Order::Desc,
            model: None,
        }
    }
}

/// One page: `{"object": "list", "data", "has_more", "first_id", "last_id"}` (the ids are
/// `null` on an empty page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// Always `list`.
    pub object: &'static str,
    /// The records, in the requested order.
    pub data: Vec<T>,
    /// Whether more records follow `last_id`.
    pub has_more: bool,
    /// The first record's id.
    pub first_id: Option<String>,
    /// The last record's id: the `after` of the next page.
    pub last_id: Option<String>,
}

impl Page<HistoryRecord> {
    /// A page of `data`; `has_more` when records follow the last one.
    pub fn new(data: Vec<HistoryRecord>, has_more: bool) -> Self {
        Self {
            object: "list",
            first_id: data.first().map(|r| r.id().to_owned()),
            last_id: data.last().map(|r| r.id().to_owned()),
            data,
            has_more,
        }
    }
}

/// The body of a successful delete: `{"id", "object", "deleted": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The deleted record's id.
    pub id: String,
    /// The deleted record's `object` name.
    pub object: &'static str,
    /// Always true.
    pub deleted: bool,
}

impl Deleted {
    /// The confirmation for `id` of `kind`.
    pub fn new(kind: RecordKind, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            object: kind.object(),
            deleted: true,
        }
    }
}

/// The MIME type TTS audio of `format` is served with.
pub fn tts_mime_type(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        // `pcm` from /tts/stream is a WAV header followed by PCM (API.md section 3).
        "wav" | "pcm" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "opus" | "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_have_prefix_and_24_lowercase_alphanumerics() {
        let mut seen = HashSet::new();
        for kind in [RecordKind::Transcription, RecordKind::Tts] {
            for _ in 0..500 {
                let id = new_id(kind);
                let rest = id.strip_prefix(kind.id_prefix()).unwrap();
                assert_eq!(rest.len(), 24, "{id}");
                assert!(
                    rest.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                    "{id}"
                );
                assert!(seen.insert(id));
            }
        }
        // Every symbol of the alphabet shows up over 24,000 draws (uniform sampling).
        let chars: HashSet<char> = seen.iter().flat_map(|id| id[4..].chars()).collect();
        assert_eq!(chars.len(), 36);
    }

    #[test]
    fn records_serialize_with_the_api_fields() {
        let t = HistoryRecord::Transcription(TranscriptionRecord {
            id: "stt_a".into(),
            object: RecordKind::Transcription.object(),
            text: "hello".into(),
            language: "en".into(),
            confidence: Some(0.5),
            model: "tiny.en".into(),
            provider_id: PROVIDER_ID,
            filename: None,
            audio_bytes: 3,
            audio_mime_type: "audio/wav".into(),
            speakers: None,
            streaming: false,
            metadata: serde_json::json!({}),
            created_at: 7,
        });
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({
                "id": "stt_a", "object": "speech.transcription", "text": "hello",
                "language": "en", "confidence": 0.5, "model": "tiny.en",
                "provider_id": "mka1-voice", "filename": null, "audio_bytes": 3,
                "audio_mime_type": "audio/wav", "speakers": null, "streaming": false,
                "metadata": {}, "created_at": 7
            })
        );
        let empty = Page::new(vec![], false);
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            serde_json::json!({"object": "list", "data": [], "has_more": false,
                               "first_id": null, "last_id": null})
        );
        assert_eq!(
            serde_json::to_value(Deleted::new(RecordKind::Tts, "tts_x")).unwrap(),
            serde_json::json!({"id": "tts_x", "object": "speech.tts", "deleted": true})
        );
    }

    #[test]
    fn tts_formats_map_to_content_types() {
        assert_eq!(tts_mime_type("wav"), "audio/wav");
        assert_eq!(tts_mime_type("pcm"), "audio/wav");
        assert_eq!(tts_mime_type("MP3"), "audio/mpeg");
        assert_eq!(tts_mime_type("aac"), "application/octet-stream");
    }
}
