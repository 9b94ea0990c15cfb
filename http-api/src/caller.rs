//! Who is calling: the API key (checked) and the optional end user it acts for.

use std::fmt;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::keys::{ApiKeys, KeyId};
use crate::secret::SecretString;

/// The header naming the end user a call is made for.
pub const ON_BEHALF_OF_HEADER: &str = "x-on-behalf-of";
/// Longest accepted `X-On-Behalf-Of`, in characters.
pub const MAX_ON_BEHALF_OF_CHARS: usize = 256;

/// An authenticated caller. Extracting it answers 401 (JSON) for a missing or wrong
/// `Authorization: Bearer <key>`, and 400 for an invalid `X-On-Behalf-Of`.
///
/// The router's state must provide [`ApiKeys`] (`FromRef`).
#[derive(Clone)]
pub struct Caller {
    /// Non-secret id of the key used: for logs and ownership of stored records.
    pub key_id: KeyId,
    /// The key itself: only for passing on to the Responses API inside sealed
    /// configuration. Never log it.
    pub api_key: SecretString,
    /// The end user (`X-On-Behalf-Of`): non-empty, at most 256 printable characters.
    pub on_behalf_of: Option<String>,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("key_id", &self.key_id)
            .field("on_behalf_of", &self.on_behalf_of)
            .finish_non_exhaustive()
    }
}

impl<S> FromRequestParts<S> for Caller
where
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = ApiKeys::from_ref(state);
        let presented = bearer_token(parts)?;
        let key_id = keys
            .verify(presented)
            .ok_or_else(|| ApiError::unauthorized("Invalid API key."))?;
        let api_key = SecretString::new(presented);
        let on_behalf_of = on_behalf_of(parts)?;
        Ok(Self {
            key_id,
            api_key,
            on_behalf_of,
        })
    }
}

/// The key of `Authorization: Bearer <key>` (scheme case-insensitive, as RFC 7235 says).
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::unauthorized("Missing API key: send it as `Authorization: Bearer <key>`.")
            .with_code("missing_api_key")
    };
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Invalid API key."))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

fn on_behalf_of(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(ON_BEHALF_OF_HEADER) else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        ApiError::bad_request(format!("`X-On-Behalf-Of` {why}"))
            .with_code("invalid_header")
            .with_param("X-On-Behalf-Of")
    };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| invalid("must be UTF-8 text."))?
        .trim();
    if text.is_empty() {
        return Err(invalid("must not be empty."));
    }
    if text.chars().count() > MAX_ON_BEHALF_OF_CHARS {
        return Err(invalid(&format!(
            "must be at most {MAX_ON_BEHALF_OF_CHARS} characters."
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("must be printable text (no control characters)."));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::Request;

    async fn extract(headers: &[(&str, &[u8])]) -> Result<Caller, ApiError> {
        let keys = ApiKeys::new(["right-key-0123456789"], SecretString::new("id"));
        let mut req = Request::get("/");
        for (k, v) in headers {
            req = req.header(*k, axum::http::HeaderValue::from_bytes(v).unwrap());
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        Caller::from_request_parts(&mut parts, &keys).await
    }

    #[tokio::test]
    async fn bearer_key_is_required_and_checked() {
        let e = extract(&[]).await.unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "missing_api_key"));
        let e = extract(&[("authorization", b"Basic abc")])
            .await
            .unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "missing_api_key"));
        let e = extract(&[("authorization", b"Bearer wrong-key")])
            .await
            .unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_api_key"));
        assert_eq!(e.message(), "Invalid API key.");
        let ok = extract(&[("authorization", b"bearer  right-key-0123456789 ")])
            .await
            .unwrap();
        assert_eq!(ok.api_key.expose(), "right-key-0123456789");
        assert_eq!(ok.on_behalf_of, None);
        assert!(!format!("{ok:?}").contains("right-key"));
    }

    #[tokio::test]
    async fn on_behalf_of_is_validated() {
        let auth: (&str, &[u8]) = ("authorization", b"Bearer right-key-0123456789");
        let ok = extract(&[auth, ("x-on-behalf-of", "usér-42".as_bytes())])
            .await
            .unwrap();
        assert_eq!(ok.on_behalf_of.as_deref(), Some("usér-42"));

        let cases: [(&[u8], &str); 4] = [
            (b"", "`X-On-Behalf-Of` must not be empty."),
            (
                &[b'a'; 257],
                "`X-On-Behalf-Of` must be at most 256 characters.",
            ),
            (
                b"a\tb",
                "`X-On-Behalf-Of` must be printable text (no control characters).",
            ),
            (b"\xff\xfe", "`X-On-Behalf-Of` must be UTF-8 text."),
        ];
        for (value, message) in cases {
            let e = extract(&[auth, ("x-on-behalf-of", value)])
                .await
                .unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{value:?}");
            assert_eq!(e.message(), message);
        }
        let ok = extract(&[auth, ("x-on-behalf-of", &[b'a'; 256])])
            .await
            .unwrap();
        assert_eq!(ok.on_behalf_of.unwrap().len(), 256);
    }
}
