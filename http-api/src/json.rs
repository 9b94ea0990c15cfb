//! A JSON extractor whose every rejection is a JSON [`ApiError`].

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// Like [`axum::Json`], but a body that cannot be read is answered with the API's JSON
/// error: 400 for malformed JSON or wrong types, 413 over the route's body limit
/// (`axum::extract::DefaultBodyLimit`), 415 without `Content-Type: application/json`.
///
/// axum itself answers wrong types with 422 and a plain-text body; the MKA1 API keeps 422
/// for unprocessable audio, so a body that does not fit the schema is a 400 here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(
                "Expected a JSON body: send `Content-Type: application/json`.",
            ),
            // serde's message names the field and the expected type, which is what the
            // client needs to fix the request.
            JsonRejection::JsonDataError(e) => {
                ApiError::bad_request(format!("Invalid request body: {}", source_text(&e)))
                    .with_code("invalid_type")
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request(format!("Malformed JSON: {}", source_text(&e)))
                    .with_code("invalid_json")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large(
                    "The request body is larger than this endpoint accepts.",
                )
            }
            other => ApiError::bad_request(format!(
                "The request body could not be read: {}",
                other.body_text()
            )),
        }
    }
}

/// The innermost cause of a rejection: serde's own words ("missing field `model` at line 1
/// column 12"), without axum's generic prefix.
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize)]
    struct Body1 {
        n: u32,
    }

    async fn echo(Json(b): Json<Body1>) -> Json<Body1> {
        Json(b)
    }

    async fn call(content_type: Option<&str>, body: &str) -> (u16, serde_json::Value) {
        use tower::ServiceExt as _;
        let app = Router::new()
            .route("/", post(echo))
            .layer(DefaultBodyLimit::max(64));
        let mut req = Request::post("/");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let response = app
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn rejections_are_json_errors() {
        let (s, b) = call(Some("application/json"), r#"{"n": 3}"#).await;
        assert_eq!((s, &b), (200, &serde_json::json!({"n": 3})));

        let (s, b) = call(Some("application/json"), r#"{"n": 3"#).await;
        assert_eq!(s, 400);
        assert_eq!(b["error"]["code"], "invalid_json");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Malformed JSON: ")
        );

        let (s, b) = call(Some("application/json"), r#"{"n": "three"}"#).await;
        assert_eq!(s, 400);
        assert_eq!(b["error"]["code"], "invalid_type");
        let m = b["error"]["message"].as_str().unwrap();
        assert!(m.contains("invalid type: string"), "{m}");

        let (s, b) = call(None, r#"{"n": 3}"#).await;
        assert_eq!(s, 415);
        assert_eq!(b["error"]["type"], "invalid_request_error");

        let (s, b) = call(
            Some("application/json"),
            &format!(r#"{{"n": 3, "pad": "{}"}}"#, "x".repeat(100)),
        )
        .await;
        assert_eq!(s, 413);
        assert_eq!(b["error"]["code"], "payload_too_large");
    }
}
