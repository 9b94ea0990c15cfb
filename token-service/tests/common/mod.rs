//! Shared by the integration tests: the token router on a real socket, a minimal HTTP
//! client, and the project's Python (for checks by implementations that are not ours).
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use mka1_http_api::{ApiKeys, SecretString};
use mka1_token_service::{
    ClientUrl, ConfigKeys, LiveKitCredentials, TokenIssuer, TokenServiceState, router,
};

pub const API_KEY: &str = "test-api-key-0123456789abcdef";
pub const LIVEKIT_KEY: &str = "APItestkey";
pub const LIVEKIT_SECRET: &str = "livekit-test-secret-0123456789abcdefghij";
pub const TTL_SECS: u64 = 900;

/// The token router serving on 127.0.0.1 (a free port) from a runtime of its own.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: TokenServiceState,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(ClientUrl::ThisServer {
            fallback: "127.0.0.1:1".into(),
        })
    }

    pub fn start_with(client_url: ClientUrl) -> Self {
        let keys = ConfigKeys::parse(ConfigKeys::generate_entry("t1").expose()).unwrap();
        let issuer = TokenIssuer::new(
            LiveKitCredentials::new(LIVEKIT_KEY, SecretString::new(LIVEKIT_SECRET)),
            Duration::from_secs(TTL_SECS),
        );
        let api_keys = ApiKeys::new([API_KEY], SecretString::new("key-id-secret"));
        let state = TokenServiceState::from_parts(issuer, keys, client_url, api_keys);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone()).fallback(mka1_http_api::not_found_fallback);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POSTs `body` to the token route with `Authorization: Bearer API_KEY`, JSON content
    /// type and `extra` headers.
    pub fn post_token(&self, body: &str, extra: &[(&str, &str)]) -> Response {
        let mut headers = vec![
            ("Authorization", format!("Bearer {API_KEY}")),
            ("Content-Type", "application/json".to_owned()),
        ];
        headers.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        http(
            self.addr,
            "POST",
            mka1_token_service::TOKEN_PATH,
            &headers,
            body.as_bytes(),
        )
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, so the body is
/// everything until EOF). `headers` may override `Host`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    // The server may answer (413) before reading all of a large body and close: a failed
    // write then is expected, the answer is what counts.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The project's virtual environment Python, which `make test` provisions with the
/// pinned `livekit-api` and `meetkai-mka1`. Missing is a failure, not a skip.
pub fn venv_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or `make python-tools`) to create the project's \
         virtual environment with livekit-api and meetkai-mka1",
        python.display()
    );
    python
}

/// The claims of a JWT, decoded without checking anything (to look at the raw payload).
pub fn jwt_payload(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
