//! Shared by the history tests: the history router on a real socket, a minimal HTTP/1.1
//! client, and the project's real speech samples as stored audio.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mka1_http_api::{ApiKeys, SecretString};
use mka1_speech_api::history::{
    HistoryState, HistoryStore, NewTranscription, NewTts, Owner, RecordKind, TranscriptionRecord,
    TtsRecord, new_id, router,
};

pub const KEY_A: &str = "history-test-key-a-0123456789";
pub const KEY_B: &str = "history-test-key-b-0123456789";

/// The history router serving on 127.0.0.1 (a free port) from a runtime of its own,
/// over a store in `dir`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: HistoryStore,
    pub keys: ApiKeys,
    pub runtime: tokio::runtime::Runtime,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server over a fresh temporary data directory.
    pub fn start_temp() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut server = Self::start(tmp.path());
        server._tmp = Some(tmp);
        server
    }

    /// A server over the data directory `dir` (opened or created).
    pub fn start(dir: &Path) -> Self {
        let store = HistoryStore::open(dir).unwrap();
        let keys = ApiKeys::new([KEY_A, KEY_B], SecretString::new("history-key-id-secret"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        // The same fallbacks as `mka1-voice serve`.
        let app = router(HistoryState {
            store: store.clone(),
            keys: keys.clone(),
        })
        .fallback(mka1_http_api::not_found_fallback)
        .method_not_allowed_fallback(mka1_http_api::method_not_allowed_fallback);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            store,
            keys,
            runtime,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The owner a request with `key` (and `X-On-Behalf-Of: user`) acts as.
    pub fn owner(&self, key: &str, user: Option<&str>) -> Owner {
        Owner {
            key_id: self.keys.key_id(key).as_str().to_owned(),
            on_behalf_of: user.map(str::to_owned),
        }
    }

    pub fn insert_transcription(
        &self,
        owner: &Owner,
        new: NewTranscription,
    ) -> TranscriptionRecord {
        let id = new_id(RecordKind::Transcription);
        self.runtime
            .block_on(self.store.insert_transcription(owner, &id, new))
            .unwrap()
    }

    pub fn insert_tts(&self, owner: &Owner, new: NewTts) -> TtsRecord {
        let id = new_id(RecordKind::Tts);
        self.runtime
            .block_on(self.store.insert_tts(owner, &id, new))
            .unwrap()
    }

    /// GET `path` as `key` (and end user `user`).
    pub fn get(&self, key: &str, user: Option<&str>, path: &str) -> Response {
        self.request("GET", key, user, path)
    }

    /// `method` `path` as `key` (and end user `user`).
    pub fn request(&self, method: &str, key: &str, user: Option<&str>, path: &str) -> Response {
        let auth = format!("Bearer {key}");
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(user) = user {
            headers.push(("X-On-Behalf-Of", user));
        }
        self.raw(method, path, &headers)
    }

    /// `method` `path` with exactly `headers` (plus Host and Connection).
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http(self.addr, method, path, headers)
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
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request without a body on a fresh connection (`Connection: close`, so
/// the body is everything until EOF; a chunked body is decoded).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
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
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// A file of the project's `samples/` folder (real speech recordings).
pub fn sample_audio(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir/blobs`, as `shard/name`, sorted (temporary files included).
pub fn blob_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir.join("blobs")) else {
        return files;
    };
    for shard in shards {
        let shard = shard.unwrap();
        for file in std::fs::read_dir(shard.path()).unwrap() {
            let file = file.unwrap();
            files.push(format!(
                "{}/{}",
                shard.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    files
}

/// A transcription record to insert, with plausible fields.
pub fn new_transcription(text: &str, audio: Vec<u8>) -> NewTranscription {
    NewTranscription {
        text: text.into(),
        language: "en".into(),
        confidence: 0.9,
        model: "tiny.en".into(),
        filename: Some("clip.wav".into()),
        audio,
        audio_mime_type: "audio/wav".into(),
        speakers: None,
        streaming: false,
        metadata: serde_json::Value::Null,
    }
}

/// A TTS record to insert.
pub fn new_tts(
    text: &str,
    language: &str,
    model: &str,
    format: &str,
    audio: Vec<u8>,
    streaming: bool,
) -> NewTts {
    NewTts {
        text: text.into(),
        language: language.into(),
        model: model.into(),
        format: format.into(),
        audio,
        streaming,
        metadata: serde_json::json!({}),
    }
}
