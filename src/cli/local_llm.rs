//! The local Responses provider as a child process, and the route that proxies to it.
//!
//! llama.cpp and whisper.cpp bundle different copies of ggml that cannot be linked into
//! one binary (DESIGN.md, "Two ggml copies"), so the LLM runs as `mka1-local-llm`, a
//! sibling executable. `serve` starts it, learns its port from the one line it prints,
//! and forwards `POST /api/v1/llm/responses` to it with the body streamed through
//! unchanged (SSE included). The child dies with the [`LocalLlm`] handle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mka1_http_api::{ApiKeys, Caller};
use mka1_models::ModelsDir;
use mka1_models::catalog::paths;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Environment variable naming the `mka1-local-llm` executable explicitly.
pub const BIN_ENV: &str = "MKA1_LOCAL_LLM_BIN";
/// The executable's file name.
const BIN_NAME: &str = "mka1-local-llm";
/// What the child prints once it listens (`mka1_local_llm::LISTENING_PREFIX`).
const LISTENING_PREFIX: &str = "listening on http://";
/// Loading a 100 MB GGUF takes well under a second here; a slow disk gets ample margin.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request body forwarded (the child refuses more with the same limit).
const BODY_LIMIT: usize = 1024 * 1024;

/// A running `mka1-local-llm`; killed when dropped.
#[derive(Debug)]
pub struct LocalLlm {
    base_url: String,
    _child: Child,
    /// Held open so that the child never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Its end closes when this process exits: the child's signal to exit too.
    _stdin: ChildStdin,
}

impl LocalLlm {
    /// Starts the provider on a free loopback port with the models of `models_dir`, and
    /// waits until it listens. Its log goes to this process's stderr.
    pub async fn spawn(models_dir: &ModelsDir) -> anyhow::Result<Self> {
        let gguf = models_dir.path(paths::SMOLLM2_135M_INSTRUCT);
        if !gguf.is_file() {
            bail!(
                "the local LLM {} is not installed: run `mka1-voice models install`",
                gguf.display()
            );
        }
        let bin = find_binary()?;
        let mut child = Command::new(&bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--exit-with-stdin",
                "--models-dir",
            ])
            .arg(models_dir.root())
            // Held open by us: the provider exits when this process dies, however it dies.
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdin = child
            .stdin
            .take()
            .context("the local LLM's stdin was not captured")?;
        let stdout = child
            .stdout
            .take()
            .context("the local LLM's stdout was not captured")?;
        let mut stdout = BufReader::new(stdout);
        let address = tokio::time::timeout(START_TIMEOUT, read_address(&mut stdout))
            .await
            .with_context(|| {
                format!("{} did not start within {START_TIMEOUT:?}", bin.display())
            })??;
        tracing::info!(%address, "local Responses provider started");
        Ok(Self {
            base_url: format!("http://{address}"),
            _child: child,
            _stdin: stdin,
            _stdout: stdout,
        })
    }

    /// `http://127.0.0.1:PORT`: the provider's Responses endpoint is `{base_url}/responses`
    /// (and `{base_url}/api/v1/llm/responses`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A router serving `POST /api/v1/llm/responses` by forwarding to the provider, for
    /// callers holding one of `keys` (the same Bearer auth as every API route; the
    /// provider itself listens on loopback only and checks nothing).
    pub fn router(&self, keys: ApiKeys) -> anyhow::Result<Router> {
        // The provider is plain http on loopback: no certificate is ever checked, so the
        // client loads no CA roots (which fails where none are installed).
        let client = reqwest::Client::builder()
            .tls_certs_only([])
            .build()
            .context("building the local LLM proxy's HTTP client")?;
        let proxy = Proxy {
            client,
            target: format!("{}/responses", self.base_url),
            keys,
        };
        Ok(Router::new()
            .route("/api/v1/llm/responses", post(forward))
            .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(proxy))
    }
}

/// Starts the local provider with the models of `models_dir` and returns it with its
/// proxy router, authenticated with `keys` (merge the router into the app; keep the
/// [`LocalLlm`] alive as long as the server runs: dropping it kills the provider).
pub async fn local_responses(
    models_dir: &ModelsDir,
    keys: ApiKeys,
) -> anyhow::Result<(LocalLlm, Router)> {
    let llm = LocalLlm::spawn(models_dir).await?;
    let router = llm.router(keys)?;
    Ok((llm, router))
}

/// Reads stdout lines until the listening line; the child exiting first is an error.
async fn read_address(stdout: &mut BufReader<ChildStdout>) -> anyhow::Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).await? == 0 {
            bail!("the local LLM exited before listening (its log is above)");
        }
        if let Some(address) = line.trim().strip_prefix(LISTENING_PREFIX) {
            return Ok(address.to_owned());
        }
    }
}

/// `MKA1_LOCAL_LLM_BIN`, else `mka1-local-llm` beside the current executable (or one
/// level up, where cargo puts binaries relative to test executables in `deps/`).
fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(BIN_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locating the current executable")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [Some(dir), dir.parent()];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join(BIN_NAME))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{BIN_NAME} not found beside {} (build it with `cargo build --release -p \
                 mka1-local-llm`, or set {BIN_ENV})",
                exe.display()
            )
        })
}

#[derive(Debug, Clone)]
struct Proxy {
    client: reqwest::Client,
    target: String,
    keys: ApiKeys,
}

impl FromRef<Proxy> for ApiKeys {
    fn from_ref(proxy: &Proxy) -> Self {
        proxy.keys.clone()
    }
}

/// Forwards the body and the headers that matter, and streams the answer back as it
/// comes: the voice agent reads SSE deltas while the model is still generating.
async fn forward(
    State(proxy): State<Proxy>,
    _caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = proxy.client.post(&proxy.target).body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::error!(error = %e, "the local LLM did not answer");
            let body = serde_json::json!({"error": {
                "message": "The local language model is not available.",
                "type": "server_error",
                "code": "llm_unavailable",
            }});
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for name in [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::RETRY_AFTER,
    ] {
        if let Some(value) = upstream.headers().get(&name) {
            response = response.header(name, value.clone());
        }
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "local-llm-proxy-test-key";

    fn keys() -> ApiKeys {
        ApiKeys::new([KEY], mka1_http_api::SecretString::new("test id secret"))
    }

    #[tokio::test]
    async fn missing_model_names_the_install_command() {
        let empty = tempfile::tempdir().unwrap();
        let err = LocalLlm::spawn(&ModelsDir::new(empty.path()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("mka1-voice models install"),
            "{err}"
        );
    }

    /// The real provider behind the proxy: a streamed answer arrives as SSE, unchanged,
    /// and an unknown `previous_response_id` keeps its 404 JSON error.
    #[tokio::test]
    async fn proxies_streaming_responses() {
        let models = ModelsDir::from_env().unwrap();
        let (llm, router) = local_responses(&models, keys()).await.unwrap();
        assert!(llm.base_url().starts_with("http://127.0.0.1:"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let url = format!("http://{address}/api/v1/llm/responses");
        let client = reqwest::Client::new();

        let post = |body: serde_json::Value| {
            client
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
        };
        let anonymous = post(serde_json::json!({})).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);

        let reply = post(serde_json::json!({
            "model": "local",
            "input": "Say hello.",
            "stream": true,
            "temperature": 0,
            "max_output_tokens": 16,
        }))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.headers()[header::CONTENT_TYPE.as_str()],
            "text/event-stream"
        );
        let text = reply.text().await.unwrap();
        assert!(text.starts_with("event: response.created\n"), "{text}");
        assert!(
            text.contains("event: response.output_text.delta\n"),
            "{text}"
        );
        let last = text
            .trim_end()
            .lines()
            .rev()
            .find(|l| l.starts_with("event: "));
        assert!(
            matches!(
                last,
                Some("event: response.completed" | "event: response.incomplete")
            ),
            "{text}"
        );

        let missing = post(serde_json::json!({
            "model": "local",
            "input": "Hi",
            "previous_response_id": "resp_missing",
        }))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
        assert_eq!(missing.status(), 404);
        let body: serde_json::Value = serde_json::from_str(&missing.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "previous_response_not_found");
    }
}
