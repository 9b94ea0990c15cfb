//! The caller of a WebSocket: the usual bearer header, or the key where browsers can put
//! it (a subprotocol, the query).

use axum::extract::{FromRequestParts, Query};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use mka1_http_api::{ApiError, Caller};
use serde::Deserialize;

use super::StreamState;

/// The subprotocol announcing that the next one is the API key.
pub(crate) const BEARER_PROTOCOL: &str = "bearer";

/// An authenticated WebSocket caller (401 otherwise, as JSON, before the upgrade).
pub(crate) struct WsCaller(pub(crate) Caller);

#[derive(Deserialize)]
struct KeyQuery {
    api_key: Option<String>,
}

impl FromRequestParts<StreamState> for WsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &StreamState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) {
            return Caller::from_request_parts(parts, state).await.map(Self);
        }
        let key = subprotocol_key(&parts.headers).or_else(|| {
            Query::<KeyQuery>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|Query(q)| q.api_key)
        });
        let Some(key) = key else {
            // No key anywhere: the shared extractor words the 401.
            return Caller::from_request_parts(parts, state).await.map(Self);
        };
        // The key goes through the one checker every route uses, as a bearer header that
        // lives only for this check.
        let header = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| ApiError::unauthorized("Invalid API key."))?;
        parts.headers.insert(AUTHORIZATION, header);
        let caller = Caller::from_request_parts(parts, state).await;
        parts.headers.remove(AUTHORIZATION);
        caller.map(Self)
    }
}

/// The key of `Sec-WebSocket-Protocol: bearer, <key>`: the protocol after `bearer`.
fn subprotocol_key(headers: &HeaderMap) -> Option<String> {
    let offered: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let at = offered
        .iter()
        .position(|p| p.eq_ignore_ascii_case(BEARER_PROTOCOL))?;
    offered
        .get(at + 1)
        .filter(|k| !k.is_empty())
        .map(|k| (*k).to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_key_is_the_protocol_after_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(subprotocol_key(&h), None);
        h.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("bearer, k-123"),
        );
        assert_eq!(subprotocol_key(&h).as_deref(), Some("k-123"));
        h.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("json,Bearer,k2"),
        );
        assert_eq!(subprotocol_key(&h).as_deref(), Some("k2"));
        h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("bearer"));
        assert_eq!(subprotocol_key(&h), None);
    }
}
