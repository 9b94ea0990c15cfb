//! The official MKA1 Python SDK (`meetkai-mka1`, in the project's `.venv`, which
//! `make test` provisions; missing is a failure, not a skip) against the history routes:
//! its pydantic models must parse every answer, and its content calls must accept the
//! content types we send.
#![allow(clippy::unwrap_used)]

mod history_common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use history_common::{KEY_A, TestServer, new_transcription, new_tts, sample_audio};
use serde_json::{Value, json};

/// Lists, reads, downloads and deletes one record of each kind through the SDK, and
/// reports what it saw (or the SDK's error) as JSON. The API key comes on stdin.
const SDK_SCRIPT: &str = r#"
import json, sys
from meetkai_mka1 import SDK
from meetkai_mka1.errors import SDKDefaultError

server_url, user = sys.argv[1], sys.argv[2]
sdk = SDK(bearer_auth=sys.stdin.read().strip(), server_url=server_url, timeout_ms=10_000)
sp = sdk.llm.speech
out = {}

page = sp.list_transcription_history(x_on_behalf_of=user)
out["stt_page"] = {"ids": [r.id for r in page.data], "has_more": page.has_more,
                   "first_id": page.first_id, "last_id": page.last_id}
second = sp.list_transcription_history(x_on_behalf_of=user, limit=1, order="asc",
                                       after=page.data[-1].id)
out["stt_asc_after_oldest"] = [r.id for r in second.data]
item = sp.get_transcription_history(stt_id=page.data[0].id, x_on_behalf_of=user)
out["stt_item"] = item.model_dump(by_alias=True)
content = sp.get_transcription_history_content(stt_id=item.id, x_on_behalf_of=user)
content.read()
out["stt_content"] = {"bytes": len(content.content), "type": content.headers["content-type"]}
raw = sp.get_transcription_history_content(stt_id=page.data[1].id, x_on_behalf_of=user)
raw.read()
out["stt_raw_content"] = {"bytes": len(raw.content), "type": raw.headers["content-type"]}

tts_page = sp.list_tts_history(x_on_behalf_of=user, model="joe")
out["tts_ids"] = [r.id for r in tts_page.data]
tts = sp.get_tts_history(tts_id=tts_page.data[0].id, x_on_behalf_of=user)
out["tts_item"] = tts.model_dump(by_alias=True)
audio = sp.get_tts_history_content(tts_id=tts.id, x_on_behalf_of=user)
audio.read()
out["tts_content"] = {"bytes": len(audio.content), "type": audio.headers["content-type"]}

deleted = sp.delete_tts_history(tts_id=tts.id, x_on_behalf_of=user)
out["tts_deleted"] = deleted.model_dump(by_alias=True)
empty = sp.list_tts_history(x_on_behalf_of=user)
out["tts_empty"] = {"ids": [r.id for r in empty.data], "first_id": empty.first_id}
try:
    sp.get_tts_history(tts_id=tts.id, x_on_behalf_of=user, retries=None)
    out["tts_gone"] = {"status": 200}
except SDKDefaultError as e:
    out["tts_gone"] = {"status": e.status_code, "body": json.loads(e.body)}
try:
    sp.list_transcription_history(x_on_behalf_of=user, limit=500, retries=None)
    out["bad_limit"] = {"status": 200}
except SDKDefaultError as e:
    out["bad_limit"] = {"status": e.status_code, "body": json.loads(e.body)}
json.dump(out, sys.stdout)
"#;

fn venv_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or `make python-tools`) to create the project's \
         virtual environment with meetkai-mka1",
        python.display()
    );
    python
}

#[test]
fn the_official_sdk_reads_lists_downloads_and_deletes_history() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, Some("sdk-user"));
    let wav = sample_audio("librivox/sense-0880.wav");
    let pcm = sample_audio("goforward-16k.raw");
    let mp3 = sample_audio("formats/sense-0880.mp3");

    let mut raw = new_transcription("go forward ten meters", pcm.clone());
    raw.audio_mime_type = "audio/pcm".into();
    let older = server.insert_transcription(&owner, raw);
    let mut new = new_transcription("he was not an ill disposed young man", wav.clone());
    new.speakers = Some(json!([{"speaker": "Speaker-1", "text": "he was not",
                                 "confidence": 0.8, "offset_ms": 0, "duration_ms": 900}]));
    new.metadata = json!({"channel": "sdk"});
    let newer = server.insert_transcription(&owner, new);
    let tts = server.insert_tts(
        &owner,
        new_tts("Hello there.", "auto", "joe", "mp3", mp3.clone(), true),
    );

    let mut child = Command::new(venv_python())
        .args([
            "-c",
            SDK_SCRIPT,
            &format!("http://{}", server.addr),
            "sdk-user",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(KEY_A.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the SDK script failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        out["stt_page"],
        json!({"ids": [newer.id, older.id], "has_more": false,
               "first_id": newer.id, "last_id": older.id})
    );
    assert_eq!(out["stt_asc_after_oldest"], json!([newer.id]));
    let item = &out["stt_item"];
    assert_eq!(item["id"], newer.id.as_str());
    assert_eq!(item["object"], "speech.transcription");
    assert_eq!(item["speakers"][0]["duration_ms"], 900);
    assert_eq!(item["metadata"], json!({"channel": "sdk"}));
    assert_eq!(item["audio_bytes"], wav.len());
    assert_eq!(
        out["stt_content"],
        json!({"bytes": wav.len(), "type": "audio/wav"})
    );
    // Raw PCM goes out as a type the SDK's content call accepts.
    assert_eq!(
        out["stt_raw_content"],
        json!({"bytes": pcm.len(), "type": "application/octet-stream"})
    );

    assert_eq!(out["tts_ids"], json!([tts.id]));
    let t = &out["tts_item"];
    assert_eq!(t["format"], "mp3");
    assert_eq!(t["language"], "auto");
    assert_eq!(t["detected_language"], Value::Null);
    assert_eq!(t["characters"], 12);
    assert_eq!(t["streaming"], true);
    assert_eq!(
        out["tts_content"],
        json!({"bytes": mp3.len(), "type": "audio/mpeg"})
    );
    assert_eq!(
        out["tts_deleted"],
        json!({"id": tts.id, "object": "speech.tts", "deleted": true})
    );
    assert_eq!(out["tts_empty"], json!({"ids": [], "first_id": null}));
    assert_eq!(out["tts_gone"]["status"], 404);
    assert_eq!(out["tts_gone"]["body"]["error"]["code"], "not_found");
    assert_eq!(out["bad_limit"]["status"], 400);
    assert_eq!(out["bad_limit"]["body"]["error"]["param"], "limit");
}
