//! The talk page at `/`: plain HTML and JavaScript (no build step) that gets a session
//! token, opens the microphone, calls [`super::OFFER_PATH`] and shows the session's
//! events (transcripts, agent state, per-turn latency).
//!
//! Element ids a browser test can read: `#talk` (the button), `#state`,
//! `#user-transcript`, `#agent-transcript`, `#latency`, `#status`, `#text-input`,
//! `#send`, `#api-key`, `#agent-audio`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Where the page is served.
pub const PAGE_PATH: &str = "/";

/// The page, compiled into the binary.
const PAGE: &str = include_str!("page/index.html");

/// `GET /`: the talk page.
pub fn page_router() -> Router {
    Router::new().route(PAGE_PATH, get(page))
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is small and changes with the server: never serve a stale one.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_calls_the_routes_this_server_serves() {
        assert!(PAGE.contains(super::super::OFFER_PATH));
        assert!(PAGE.contains(mka1_token_service::TOKEN_PATH));
        assert!(PAGE.contains(&format!(
            "createDataChannel(\"{}\")",
            super::super::DATA_CHANNEL_LABEL
        )));
        for id in [
            "talk",
            "state",
            "user-transcript",
            "agent-transcript",
            "latency",
        ] {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }
}
