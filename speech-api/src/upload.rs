//! Multipart audio uploads: the `file` part (at most 25 MiB) and any small text fields.
//!
//! The limit is counted on the bytes actually received, so a chunked upload (no
//! `Content-Length`) is held to it too. axum's `DefaultBodyLimit` is switched off on the
//! upload routes and this reader enforces the limit itself, because of what happens next:
//! a server that answers 413 while the client is still sending closes a socket with
//! unread data, the kernel resets the connection, and most clients then report a broken
//! pipe instead of the 413. So an oversize body is drained (up to a bound) before the
//! answer goes out, and the client reads a proper JSON 413.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use mka1_http_api::{ApiError, ApiKeys, Caller};
use mka1_media::PcmHint;

/// Largest accepted audio file: 25 MiB (shared/API.md section 1).
pub const MAX_FILE_BYTES: u64 = 26_214_400;
/// Room in the body for the multipart framing and the text fields around the file.
const FORM_OVERHEAD_BYTES: u64 = 1 << 20;
/// Largest accepted request body.
pub const MAX_BODY_BYTES: u64 = MAX_FILE_BYTES + FORM_OVERHEAD_BYTES;
/// How much of an oversize body is read and thrown away so the client sees the 413.
const DRAIN_MAX_BYTES: u64 = 64 << 20;
/// How long draining may take (a slow sender must not hold a task forever).
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);
/// Most text fields accepted in one form, and the longest one.
const MAX_TEXT_FIELDS: usize = 64;
const MAX_TEXT_FIELD_BYTES: usize = 64 << 10;
/// Longest file name kept (history records show it).
const MAX_FILENAME_CHARS: usize = 255;

/// The uploaded file.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// Its bytes, exactly as received.
    pub bytes: Bytes,
    /// The part's file name, if any (control characters removed).
    pub filename: Option<String>,
    /// The part's own `Content-Type`, if any.
    pub content_type: Option<String>,
}

impl UploadedFile {
    /// How to read bytes without a container signature: raw s16le only when the part
    /// says `audio/pcm` (16 kHz unless it names a `rate`) or `audio/L16;rate=N`.
    pub fn pcm_hint(&self) -> Result<PcmHint, ApiError> {
        pcm_hint(self.content_type.as_deref())
    }
}

/// A parsed `multipart/form-data` body.
#[derive(Debug, Default)]
pub struct UploadForm {
    /// The `file` part.
    pub file: Option<UploadedFile>,
    /// The other parts, as text, in order (a name may repeat, as `timestamp_granularities[]`).
    pub fields: Vec<(String, String)>,
}

impl UploadForm {
    /// The `file` part, or 400 saying it is missing.
    pub fn take_file(&mut self) -> Result<UploadedFile, ApiError> {
        self.file.take().ok_or_else(|| {
            ApiError::bad_request(
                "The multipart body has no `file` field: send the audio as a file part named \
                 `file`.",
            )
            .with_code("missing_file")
            .with_param("file")
        })
    }

    /// The last value of field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of field `name`, in order.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for UploadForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        read_form(&parts.headers, body).await
    }
}

/// An authenticated upload: the [`Caller`] and the form. A request with a missing or
/// wrong key is answered 401 only after its body was drained (within the drain bounds),
/// for the reason given in the module documentation; nothing of it is parsed or kept.
#[derive(Debug)]
pub struct AuthedUpload {
    /// Who is calling.
    pub caller: Caller,
    /// The form.
    pub form: UploadForm,
}

impl<S> FromRequest<S> for AuthedUpload
where
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        match Caller::from_request_parts(&mut parts, state).await {
            Ok(caller) => Ok(Self {
                caller,
                form: read_form(&parts.headers, body).await?,
            }),
            Err(e) => {
                drain(body).await;
                Err(e)
            }
        }
    }
}

/// Reads and drops a body, within the drain bounds.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let drain = async {
        let mut drained = 0u64;
        while drained < MAX_BODY_BYTES + DRAIN_MAX_BYTES {
            match stream.next().await {
                Some(Ok(c)) => drained = drained.saturating_add(c.len() as u64),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
}

fn not_multipart() -> ApiError {
    ApiError::bad_request("Expected a `multipart/form-data` body with the audio in a `file` field.")
        .with_code("invalid_content_type")
}

fn too_large() -> ApiError {
    ApiError::payload_too_large(format!(
        "The file is larger than the limit of 25 MiB ({MAX_FILE_BYTES} bytes)."
    ))
    .with_code("file_too_large")
    .with_param("file")
}

/// The body was cut off by the limit (after draining).
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
struct BodyTooLarge;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads a whole multipart form from `body`.
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<UploadForm, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(not_multipart)?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| not_multipart())?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared
        && len > MAX_BODY_BYTES
    {
        let expects_continue = headers
            .get(header::EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        // A client waiting for `100 Continue` has sent nothing yet; one that declared far
        // more than can be drained is not worth reading. Either way, answer now.
        if expects_continue || len > MAX_BODY_BYTES + DRAIN_MAX_BYTES {
            return Err(too_large());
        }
    }
    let mut multipart = multer::Multipart::new(limited(body, MAX_BODY_BYTES), boundary);
    let mut form = UploadForm::default();
    let mut file_too_large = false;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && form.file.is_none() && !file_too_large {
            let filename = field.file_name().map(clean_filename);
            let part_type = field
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if file_too_large {
                    continue;
                }
                if (bytes.len() + chunk.len()) as u64 > MAX_FILE_BYTES {
                    // Keep reading (and discarding) so the client can read the answer.
                    file_too_large = true;
                    bytes = Vec::new();
                    continue;
                }
                bytes.extend_from_slice(&chunk);
            }
            if !file_too_large {
                form.file = Some(UploadedFile {
                    bytes: Bytes::from(bytes),
                    filename,
                    content_type: part_type,
                });
            }
        } else {
            let mut value = Vec::new();
            let mut oversize = false;
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if value.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                    oversize = true;
                } else if !oversize {
                    value.extend_from_slice(&chunk);
                }
            }
            if name == "file" || file_too_large {
                continue;
            }
            if oversize {
                return Err(ApiError::bad_request(format!(
                    "The form field `{}` is longer than {MAX_TEXT_FIELD_BYTES} bytes.",
                    echo(&name)
                ))
                .with_param(name));
            }
            if form.fields.len() >= MAX_TEXT_FIELDS {
                return Err(ApiError::bad_request(format!(
                    "The form has more than {MAX_TEXT_FIELDS} fields."
                )));
            }
            let value = String::from_utf8(value).map_err(|_| {
                ApiError::bad_request(format!(
                    "The form field `{}` is not UTF-8 text.",
                    echo(&name)
                ))
                .with_param(name.clone())
            })?;
            form.fields.push((name, value));
        }
    }
    if file_too_large {
        return Err(too_large());
    }
    Ok(form)
}

/// `body` as a stream that ends in [`BodyTooLarge`] once more than `limit` bytes came,
/// after reading and dropping the rest (within the drain bounds).
fn limited(body: Body, limit: u64) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    futures_util::stream::unfold(
        Some((body.into_data_stream(), 0u64)),
        move |state| async move {
            let (mut stream, seen) = state?;
            match stream.next().await {
                None => None,
                Some(Err(e)) => Some((Err(Box::new(e) as BoxError), None)),
                Some(Ok(chunk)) => {
                    let seen = seen.saturating_add(chunk.len() as u64);
                    if seen <= limit {
                        return Some((Ok(chunk), Some((stream, seen))));
                    }
                    let drain = async {
                        let mut drained = 0u64;
                        while drained < DRAIN_MAX_BYTES {
                            match stream.next().await {
                                Some(Ok(c)) => drained = drained.saturating_add(c.len() as u64),
                                _ => break,
                            }
                        }
                    };
                    let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
                    Some((Err(Box::new(BodyTooLarge) as BoxError), None))
                }
            }
        },
    )
}

/// A multipart parse failure: 413 when the body ran over the limit, 400 otherwise.
fn multipart_error(error: multer::Error) -> ApiError {
    if let multer::Error::StreamReadFailed(inner) = &error {
        if inner.downcast_ref::<BodyTooLarge>().is_some() {
            return too_large();
        }
        return ApiError::bad_request(format!("The request body could not be read: {inner}."))
            .with_code("body_read_failed");
    }
    ApiError::bad_request(format!("Malformed multipart body: {error}."))
        .with_code("invalid_multipart")
}

/// The PCM layout a part's `Content-Type` announces (see [`UploadedFile::pcm_hint`]).
pub fn pcm_hint(content_type: Option<&str>) -> Result<PcmHint, ApiError> {
    let Some(content_type) = content_type else {
        return Ok(PcmHint::None);
    };
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut rate = None;
    let mut channels = None;
    for param in parts {
        if let Some((k, v)) = param.split_once('=') {
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "rate" => rate = Some(v.to_owned()),
                "channels" => channels = Some(v.to_owned()),
                _ => {}
            }
        }
    }
    let default_rate = match essence.as_str() {
        "audio/pcm" => Some(16_000),
        "audio/l16" => None,
        _ => return Ok(PcmHint::None),
    };
    if let Some(ch) = channels
        && ch != "1"
    {
        return Err(ApiError::bad_request(format!(
            "Raw PCM must be mono: the part's Content-Type says channels={}.",
            echo(&ch)
        ))
        .with_code("unsupported_pcm")
        .with_param("file"));
    }
    let sample_rate = match (rate, default_rate) {
        (Some(r), _) => r.parse::<u32>().map_err(|_| {
            ApiError::bad_request(format!(
                "The part's Content-Type has an invalid rate '{}'.",
                echo(&r)
            ))
            .with_code("unsupported_pcm")
            .with_param("file")
        })?,
        (None, Some(r)) => r,
        (None, None) => {
            return Err(ApiError::bad_request(
                "`audio/L16` needs its sample rate: `audio/L16;rate=16000`.",
            )
            .with_code("unsupported_pcm")
            .with_param("file"));
        }
    };
    Ok(PcmHint::RawS16le { sample_rate })
}

fn clean_filename(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect()
}

/// A client's value, shortened for an error message.
pub(crate) fn echo(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX)
        .collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pcm_hints() {
        assert_eq!(pcm_hint(None).unwrap(), PcmHint::None);
        assert_eq!(pcm_hint(Some("audio/wav")).unwrap(), PcmHint::None);
        assert_eq!(
            pcm_hint(Some("audio/pcm")).unwrap(),
            PcmHint::RawS16le {
                sample_rate: 16_000
            }
        );
        assert_eq!(
            pcm_hint(Some("audio/L16; rate=8000; channels=1")).unwrap(),
            PcmHint::RawS16le { sample_rate: 8_000 }
        );
        assert_eq!(
            pcm_hint(Some("audio/L16")).unwrap_err().status().as_u16(),
            400
        );
        assert_eq!(
            pcm_hint(Some("audio/L16;rate=x"))
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            pcm_hint(Some("audio/pcm;channels=2"))
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
    }

    async fn parse(content_type: &str, body: &'static [u8]) -> Result<UploadForm, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        read_form(&headers, Body::from(body)).await
    }

    #[tokio::test]
    async fn reads_file_and_fields() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\t.wav\"\r\nContent-Type: audio/L16;rate=8000\r\n\r\nRIFFdata\r\n\
--b\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n\
--b\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nsegment\r\n--b--\r\n";
        let mut form = parse("multipart/form-data; boundary=b", body)
            .await
            .unwrap();
        assert_eq!(form.field("model"), Some("whisper-1"));
        assert_eq!(
            form.all("timestamp_granularities[]").collect::<Vec<_>>(),
            ["word", "segment"]
        );
        let file = form.take_file().unwrap();
        assert_eq!(&file.bytes[..], b"RIFFdata");
        assert_eq!(file.filename.as_deref(), Some("a.wav"));
        assert_eq!(
            file.pcm_hint().unwrap(),
            PcmHint::RawS16le { sample_rate: 8_000 }
        );
        assert_eq!(form.take_file().unwrap_err().code(), "missing_file");
    }

    #[tokio::test]
    async fn malformed_bodies_are_400() {
        let e = parse("application/json", b"{}").await.unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (400, "invalid_content_type")
        );
        let e = parse("multipart/form-data; boundary=b", b"--b\r\nContent-Disp")
            .await
            .unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_multipart"));
    }
}
