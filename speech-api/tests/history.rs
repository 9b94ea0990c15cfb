//! The history routes over a real socket (shared/API.md section 5): records inserted
//! through the store, then listed, read, downloaded and deleted over HTTP/1.1 by a plain
//! client, with real speech recordings as the stored audio.
#![allow(clippy::unwrap_used)]

mod history_common;

use std::collections::HashSet;

use history_common::{
    KEY_A, KEY_B, TestServer, blob_files, new_transcription, new_tts, sample_audio,
};
use mka1_speech_api::history::{
    HistoryRecord, HistoryStore, NewTranscription, Owner, RecordKind, TRANSCRIPTION_HISTORY_PATH,
    TTS_HISTORY_PATH, new_id,
};
use serde_json::{Value, json};

fn stt_path(suffix: &str) -> String {
    format!("{TRANSCRIPTION_HISTORY_PATH}{suffix}")
}

fn tts_path(suffix: &str) -> String {
    format!("{TTS_HISTORY_PATH}{suffix}")
}

#[test]
fn a_record_is_read_downloaded_and_deleted_over_http() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let audio = sample_audio("librivox/sense-0880.wav");
    let stt = server.insert_transcription(
        &owner,
        NewTranscription {
            text: "he was not an ill disposed young man".into(),
            language: "en".into(),
            confidence: 0.87,
            model: "tiny.en".into(),
            filename: Some("sense-0880.wav".into()),
            audio: audio.clone(),
            audio_mime_type: "audio/wav".into(),
            speakers: Some(
                json!([{"speaker": "Speaker-1", "text": "he was not an ill disposed young man",
                                   "confidence": 0.9, "offset_ms": 0, "duration_ms": 2990}]),
            ),
            streaming: false,
            metadata: json!({"source": "test"}),
        },
    );
    let id = stt.id.clone();
    assert!(id.starts_with("stt_") && id.len() == 28, "{id}");

    // GET /{id}: exactly the API's fields.
    let got = server.get(KEY_A, None, &stt_path(&format!("/{id}")));
    assert_eq!(got.status, 200, "{}", got.text());
    let body = got.json();
    assert_eq!(
        body,
        json!({
            "id": id, "object": "speech.transcription",
            "text": "he was not an ill disposed young man", "language": "en",
            "confidence": 0.87, "model": "tiny.en", "provider_id": "mka1-voice",
            "filename": "sense-0880.wav", "audio_bytes": audio.len(),
            "audio_mime_type": "audio/wav",
            "speakers": [{"speaker": "Speaker-1", "text": "he was not an ill disposed young man",
                          "confidence": 0.9, "offset_ms": 0, "duration_ms": 2990}],
            "streaming": false, "metadata": {"source": "test"},
            "created_at": stt.created_at,
        })
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - stt.created_at).abs() < 600, "{}", stt.created_at);

    // GET /{id}/content: the bytes as uploaded, with their type and length.
    let content = server.get(KEY_A, None, &stt_path(&format!("/{id}/content")));
    assert_eq!(content.status, 200);
    assert_eq!(content.header("content-type"), Some("audio/wav"));
    assert_eq!(
        content.header("content-length"),
        Some(audio.len().to_string().as_str())
    );
    assert_eq!(content.header("transfer-encoding"), None);
    assert_eq!(content.body, audio);

    // DELETE: the confirmation, then the record is gone everywhere.
    let deleted = server.request("DELETE", KEY_A, None, &stt_path(&format!("/{id}")));
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json(),
        json!({"id": id, "object": "speech.transcription", "deleted": true})
    );
    for (method, suffix) in [
        ("GET", format!("/{id}")),
        ("GET", format!("/{id}/content")),
        ("DELETE", format!("/{id}")),
    ] {
        let r = server.request(method, KEY_A, None, &stt_path(&suffix));
        assert_error(&r, 404, "not_found");
        assert_eq!(
            r.json()["error"]["message"],
            format!("No transcription history item with id `{id}`.")
        );
    }
    assert_eq!(blob_files(server.dir()).len(), 0);
}

#[test]
fn tts_records_have_their_own_shape_and_routes() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let mp3 = sample_audio("formats/sense-0880.mp3");
    let text = "Dr. Smith paid $3.50 — naïve café.";
    let tts = server.insert_tts(&owner, new_tts(text, "en", "joe", "mp3", mp3.clone(), true));
    let got = server.get(KEY_A, None, &tts_path(&format!("/{}", tts.id)));
    assert_eq!(got.status, 200);
    assert_eq!(
        got.json(),
        json!({
            "id": tts.id, "object": "speech.tts", "text": text, "language": "en",
            "detected_language": "en", "model": "joe", "provider_id": "mka1-voice",
            "format": "mp3", "audio_bytes": mp3.len(),
            "characters": text.chars().count(), "streaming": true, "metadata": {},
            "created_at": tts.created_at,
        })
    );
    let content = server.get(KEY_A, None, &tts_path(&format!("/{}/content", tts.id)));
    assert_eq!(content.status, 200);
    assert_eq!(content.header("content-type"), Some("audio/mpeg"));
    assert_eq!(content.body, mp3);

    // `pcm` streams are WAV on the wire (API.md section 3), and so is their content.
    let wav = sample_audio("librivox/sense-0930.wav");
    let pcm = server.insert_tts(&owner, new_tts("Hi.", "auto", "joe", "pcm", wav, true));
    assert_eq!(pcm.detected_language, None);
    let content = server.get(KEY_A, None, &tts_path(&format!("/{}/content", pcm.id)));
    assert_eq!(content.header("content-type"), Some("audio/wav"));

    // The kinds do not mix: a TTS id is not found among transcriptions.
    let r = server.get(KEY_A, None, &stt_path(&format!("/{}", tts.id)));
    assert_error(&r, 404, "not_found");
    let deleted = server.request("DELETE", KEY_A, None, &tts_path(&format!("/{}", tts.id)));
    assert_eq!(
        deleted.json(),
        json!({"id": tts.id, "object": "speech.tts", "deleted": true})
    );
}

#[test]
fn pages_follow_the_cursor_in_both_orders_and_filter_by_model() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let audio = sample_audio("librivox/sense-0930.wav");
    // 25 records inserted within a few seconds: most share a `created_at`, so the order
    // rests on the insertion sequence.
    let ids: Vec<String> = (0..25)
        .map(|i| {
            let model = if i % 3 == 0 { "base" } else { "tiny.en" };
            let mut new = new_transcription(&format!("utterance {i}"), audio.clone());
            new.model = model.into();
            server.insert_transcription(&owner, new).id
        })
        .collect();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    // Defaults: 20, newest first.
    let page = server.get(KEY_A, None, &stt_path("")).json();
    assert_eq!(page["object"], "list");
    assert_eq!(page_ids(&page), newest_first[..20]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["first_id"], newest_first[0].as_str());
    assert_eq!(page["last_id"], newest_first[19].as_str());

    // Walk both orders with pages of 7 (the SDK always sends limit and order).
    for (order, expected) in [("desc", &newest_first), ("asc", &ids)] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = stt_path(&format!("?limit=7&order={order}"));
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = server.get(KEY_A, None, &path).json();
            let chunk = page_ids(&page);
            assert!(chunk.len() <= 7);
            assert_eq!(page["first_id"], chunk[0].as_str());
            assert_eq!(page["last_id"], chunk[chunk.len() - 1].as_str());
            seen.extend(chunk);
            if page["has_more"] == false {
                break;
            }
            after = Some(page["last_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(&seen, expected, "order={order}");
    }

    // The last page exactly: has_more false; after the last record: an empty page.
    let page = server
        .get(
            KEY_A,
            None,
            &stt_path(&format!("?order=asc&limit=5&after={}", ids[19])),
        )
        .json();
    assert_eq!(page_ids(&page), ids[20..]);
    assert_eq!(page["has_more"], false);
    let empty = server
        .get(
            KEY_A,
            None,
            &stt_path(&format!("?order=asc&after={}", ids[24])),
        )
        .json();
    assert_eq!(
        empty,
        json!({"object": "list", "data": [], "has_more": false, "first_id": null, "last_id": null})
    );

    // Model filter, combined with a cursor.
    let base: Vec<String> = ids.iter().step_by(3).cloned().collect();
    let page = server
        .get(KEY_A, None, &stt_path("?model=base&order=asc&limit=100"))
        .json();
    assert_eq!(page_ids(&page), base);
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["model"] == "base")
    );
    let page = server
        .get(
            KEY_A,
            None,
            &stt_path(&format!("?model=base&order=asc&after={}", ids[10])),
        )
        .json();
    assert_eq!(page_ids(&page), base[4..]);
    let none = server.get(KEY_A, None, &stt_path("?model=large-v3")).json();
    assert_eq!(none["data"], json!([]));

    // limit=100 returns everything; limit=1 one at a time.
    let page = server.get(KEY_A, None, &stt_path("?limit=100")).json();
    assert_eq!(page_ids(&page), newest_first);
    assert_eq!(page["has_more"], false);
    let page = server.get(KEY_A, None, &stt_path("?limit=1")).json();
    assert_eq!(page_ids(&page), [newest_first[0].as_str()]);
}

#[test]
fn bad_queries_are_json_errors() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let other = server.owner(KEY_B, None);
    let audio = sample_audio("librivox/sense-0930.wav");
    server.insert_transcription(&owner, new_transcription("mine", audio.clone()));
    let theirs = server.insert_transcription(&other, new_transcription("theirs", audio));

    for (query, param, message) in [
        (
            "?limit=0",
            "limit",
            "`limit` must be an integer between 1 and 100, got `0`.",
        ),
        (
            "?limit=101",
            "limit",
            "`limit` must be an integer between 1 and 100, got `101`.",
        ),
        (
            "?limit=-3",
            "limit",
            "`limit` must be an integer between 1 and 100, got `-3`.",
        ),
        (
            "?limit=ten",
            "limit",
            "`limit` must be an integer between 1 and 100, got `ten`.",
        ),
        (
            "?order=newest",
            "order",
            "`order` must be `asc` or `desc`, got `newest`.",
        ),
        (
            "?after=stt_doesnotexist",
            "after",
            "`after` must be the id of one of your transcription history items; `stt_doesnotexist` is not.",
        ),
    ] {
        for path in [stt_path(query), tts_path(query)] {
            let r = server.get(KEY_A, None, &path);
            assert_error(&r, 400, "invalid_value");
            let e = &r.json()["error"];
            assert_eq!(e["param"], param, "{path}");
            if path.starts_with(TRANSCRIPTION_HISTORY_PATH) {
                assert_eq!(e["message"], message, "{path}");
            }
        }
    }
    // Someone else's id is no cursor of ours either (and says nothing about them).
    let r = server.get(KEY_A, None, &stt_path(&format!("?after={}", theirs.id)));
    assert_error(&r, 400, "invalid_value");
    // Malformed percent-encoding in the query.
    let r = server.get(KEY_A, None, &stt_path("?after=%ff%fe"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    // Unknown parameters are ignored; empty ones count as absent.
    let r = server.get(
        KEY_A,
        None,
        &stt_path("?foo=bar&after=&model=&limit=&order="),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
}

#[test]
fn records_belong_to_their_key_and_end_user() {
    let server = TestServer::start_temp();
    let audio = sample_audio("librivox/sense-0880.wav");
    let scopes = [
        (KEY_A, None),
        (KEY_A, Some("alice")),
        (KEY_A, Some("bob")),
        (KEY_B, None),
    ];
    let mut records = Vec::new();
    for (key, user) in scopes {
        let owner = server.owner(key, user);
        let stt = server.insert_transcription(&owner, new_transcription("private", audio.clone()));
        let tts = server.insert_tts(
            &owner,
            new_tts("private", "en", "joe", "wav", audio.clone(), false),
        );
        records.push((key, user, stt.id, tts.id));
    }
    for (key, user, stt_id, tts_id) in &records {
        // Each scope lists exactly its own record.
        let page = server.get(key, *user, &stt_path("")).json();
        assert_eq!(page_ids(&page), [stt_id.as_str()], "{key} {user:?}");
        let page = server.get(key, *user, &tts_path("")).json();
        assert_eq!(page_ids(&page), [tts_id.as_str()], "{key} {user:?}");
        // Every other scope gets 404 for it, on every route, and cannot delete it.
        for (other_key, other_user, _, _) in &records {
            if (other_key, other_user) == (key, user) {
                continue;
            }
            for path in [
                stt_path(&format!("/{stt_id}")),
                stt_path(&format!("/{stt_id}/content")),
                tts_path(&format!("/{tts_id}")),
                tts_path(&format!("/{tts_id}/content")),
            ] {
                let r = server.get(other_key, *other_user, &path);
                assert_error(&r, 404, "not_found");
            }
            let r = server.request(
                "DELETE",
                other_key,
                *other_user,
                &stt_path(&format!("/{stt_id}")),
            );
            assert_error(&r, 404, "not_found");
        }
        // ... so it is still there for its owner.
        let r = server.get(key, *user, &stt_path(&format!("/{stt_id}")));
        assert_eq!(r.status, 200);
    }
}

#[test]
fn every_route_needs_an_api_key() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let stt = server.insert_transcription(
        &owner,
        new_transcription("secret", sample_audio("librivox/sense-0930.wav")),
    );
    let routes = [
        ("GET", stt_path("")),
        ("GET", stt_path(&format!("/{}", stt.id))),
        ("DELETE", stt_path(&format!("/{}", stt.id))),
        ("GET", stt_path(&format!("/{}/content", stt.id))),
        ("GET", tts_path("")),
        ("GET", tts_path("/tts_x")),
        ("DELETE", tts_path("/tts_x")),
        ("GET", tts_path("/tts_x/content")),
    ];
    for (method, path) in &routes {
        let r = server.raw(method, path, &[]);
        assert_error(&r, 401, "missing_api_key");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = server.raw(
            method,
            path,
            &[("Authorization", "Bearer not-a-key-0123456789")],
        );
        assert_error(&r, 401, "invalid_api_key");
    }
    // Auth comes before the query is even looked at.
    let r = server.raw("GET", &stt_path("?limit=0"), &[]);
    assert_error(&r, 401, "missing_api_key");
    // An invalid X-On-Behalf-Of is refused, not read as "no end user".
    let r = server.raw(
        "GET",
        &stt_path(""),
        &[
            ("Authorization", &format!("Bearer {KEY_A}")),
            ("X-On-Behalf-Of", " "),
        ],
    );
    assert_eq!(r.status, 400);
    // Nothing was deleted by the refused calls.
    assert_eq!(
        server
            .get(KEY_A, None, &stt_path(&format!("/{}", stt.id)))
            .status,
        200
    );
    // Wrong method and unknown routes are JSON too (with the server's fallbacks).
    let r = server.request("POST", KEY_A, None, &stt_path(""));
    assert_eq!(r.status, 405);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[test]
fn identical_audio_is_stored_once_and_removed_with_its_last_record() {
    let server = TestServer::start_temp();
    let alice = server.owner(KEY_A, Some("alice"));
    let bob = server.owner(KEY_B, None);
    let audio = sample_audio("librivox/sense-0890.wav");
    let other_audio = sample_audio("librivox/sense-0920.wav");

    let first = server.insert_transcription(&alice, new_transcription("one", audio.clone()));
    // Same bytes, another owner, another kind: still one blob.
    let second = server.insert_tts(
        &bob,
        new_tts("two", "en", "joe", "wav", audio.clone(), false),
    );
    let third = server.insert_transcription(&alice, new_transcription("three", other_audio));
    assert_eq!(blob_files(server.dir()).len(), 2);

    let r = server.request(
        "DELETE",
        KEY_A,
        Some("alice"),
        &stt_path(&format!("/{}", first.id)),
    );
    assert_eq!(r.status, 200);
    // Bob's record still has its audio.
    assert_eq!(blob_files(server.dir()).len(), 2);
    let content = server.get(KEY_B, None, &tts_path(&format!("/{}/content", second.id)));
    assert_eq!(content.body, audio);

    let r = server.request("DELETE", KEY_B, None, &tts_path(&format!("/{}", second.id)));
    assert_eq!(r.status, 200);
    assert_eq!(blob_files(server.dir()).len(), 1);
    let r = server.request(
        "DELETE",
        KEY_A,
        Some("alice"),
        &stt_path(&format!("/{}", third.id)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(blob_files(server.dir()), Vec::<String>::new());

    // The blob layout: blobs/<first 2 hex>/<sha256 hex>, named by the audio's SHA-256.
    let again = server.insert_transcription(&alice, new_transcription("again", audio.clone()));
    let files = blob_files(server.dir());
    assert_eq!(files.len(), 1);
    let sha = sha256_hex(&audio);
    assert_eq!(files[0], format!("{}/{sha}", &sha[..2]));
    assert_eq!(
        server
            .get(
                KEY_A,
                Some("alice"),
                &stt_path(&format!("/{}/content", again.id))
            )
            .body,
        audio
    );
}

#[test]
fn history_survives_a_restart_and_leftovers_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let audio = sample_audio("librivox/sense-0870.wav");
    let (stt, tts) = {
        let server = TestServer::start(tmp.path());
        let owner = server.owner(KEY_A, Some("carol"));
        let stt = server.insert_transcription(&owner, new_transcription("kept", audio.clone()));
        let tts = server.insert_tts(
            &owner,
            new_tts("kept", "en", "joe", "wav", audio.clone(), false),
        );
        (stt, tts)
    };
    // What a crash could leave: a half-written temporary file and a blob whose record
    // was never committed.
    let shard = tmp.path().join("blobs/ab");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(".tmp-0123456789abcdef"), b"partial").unwrap();
    let orphan = format!("ab{}", "0".repeat(62));
    std::fs::write(shard.join(&orphan), b"orphan").unwrap();
    assert_eq!(blob_files(tmp.path()).len(), 3);

    let server = TestServer::start(tmp.path());
    let page = server.get(KEY_A, Some("carol"), &stt_path("")).json();
    assert_eq!(page_ids(&page), [stt.id.as_str()]);
    assert_eq!(page["data"][0]["text"], "kept");
    let got = server.get(KEY_A, Some("carol"), &tts_path(&format!("/{}", tts.id)));
    assert_eq!(got.json()["created_at"], tts.created_at);
    let content = server.get(
        KEY_A,
        Some("carol"),
        &stt_path(&format!("/{}/content", stt.id)),
    );
    assert_eq!(content.body, audio);
    // Only the real blob remains.
    assert_eq!(
        blob_files(tmp.path()),
        [format!(
            "{0}/{1}",
            &sha256_hex(&audio)[..2],
            sha256_hex(&audio)
        )]
    );

    // The database is in WAL mode at the current schema version.
    let conn = rusqlite::Connection::open(tmp.path().join("history.sqlite3")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

#[test]
fn a_database_from_a_newer_server_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(HistoryStore::open(tmp.path()).unwrap());
    let conn = rusqlite::Connection::open(tmp.path().join("history.sqlite3")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = HistoryStore::open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn concurrent_inserts_from_many_tasks_all_land() {
    let server = TestServer::start_temp();
    let clips: Vec<Vec<u8>> = [
        "sense-0870",
        "sense-0880",
        "sense-0890",
        "sense-0920",
        "sense-0930",
    ]
    .iter()
    .map(|name| sample_audio(&format!("librivox/{name}.wav")))
    .collect();
    let store = server.store.clone();
    let owner_a = server.owner(KEY_A, None);
    let owner_b = server.owner(KEY_A, Some("dave"));
    let inserted: Vec<(Owner, RecordKind, String)> = server.runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..8usize {
            let store = store.clone();
            let clips = clips.clone();
            let owner = if task % 2 == 0 {
                owner_a.clone()
            } else {
                owner_b.clone()
            };
            tasks.push(tokio::spawn(async move {
                let mut made = Vec::new();
                for i in 0..10usize {
                    // Shared clips across tasks: concurrent inserts of the same blob.
                    let audio = clips[(task + i) % clips.len()].clone();
                    if i % 2 == 0 {
                        let id = new_id(RecordKind::Transcription);
                        store
                            .insert_transcription(
                                &owner,
                                &id,
                                new_transcription(&format!("{task}/{i}"), audio),
                            )
                            .await
                            .unwrap();
                        made.push((owner.clone(), RecordKind::Transcription, id));
                    } else {
                        let id = new_id(RecordKind::Tts);
                        store
                            .insert_tts(
                                &owner,
                                &id,
                                new_tts(&format!("{task}/{i}"), "en", "joe", "wav", audio, false),
                            )
                            .await
                            .unwrap();
                        made.push((owner.clone(), RecordKind::Tts, id));
                    }
                }
                made
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    assert_eq!(inserted.len(), 80);
    // Every record is listed for its owner, none twice, none elsewhere.
    let mut listed = HashSet::new();
    for (user, path) in [
        (None, stt_path("?limit=100")),
        (None, tts_path("?limit=100")),
        (Some("dave"), stt_path("?limit=100")),
        (Some("dave"), tts_path("?limit=100")),
    ] {
        let page = server.get(KEY_A, user, &path).json();
        assert_eq!(
            page["data"].as_array().unwrap().len(),
            20,
            "{user:?} {path}"
        );
        for id in page_ids(&page) {
            assert!(listed.insert(id));
        }
    }
    let expected: HashSet<String> = inserted.iter().map(|(_, _, id)| id.clone()).collect();
    assert_eq!(listed, expected);
    // Five distinct clips: five blobs, each served intact.
    assert_eq!(blob_files(server.dir()).len(), clips.len());
    let (owner, kind, id) = &inserted[0];
    let record = server
        .runtime
        .block_on(store.get(owner, *kind, id))
        .unwrap();
    let HistoryRecord::Transcription(record) = record else {
        panic!("expected a transcription");
    };
    let content = server.get(KEY_A, None, &stt_path(&format!("/{}/content", record.id)));
    assert_eq!(content.body.len() as u64, record.audio_bytes);
    assert!(clips.contains(&content.body));

    // Concurrent deletes of records sharing blobs leave no blob behind.
    server.runtime.block_on(async {
        let mut tasks = Vec::new();
        for (owner, kind, id) in inserted {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.delete(&owner, kind, &id).await.unwrap()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
    });
    assert_eq!(blob_files(server.dir()), Vec::<String>::new());
}

#[test]
fn raw_pcm_uploads_are_served_as_octet_stream() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let pcm = sample_audio("goforward-16k.raw");
    let mut new = new_transcription("go forward ten meters", pcm.clone());
    new.audio_mime_type = "audio/L16;rate=16000".into();
    let stt = server.insert_transcription(&owner, new);
    // The record keeps the type as uploaded; the download uses a type the SDK accepts.
    let got = server
        .get(KEY_A, None, &stt_path(&format!("/{}", stt.id)))
        .json();
    assert_eq!(got["audio_mime_type"], "audio/L16;rate=16000");
    let content = server.get(KEY_A, None, &stt_path(&format!("/{}/content", stt.id)));
    assert_eq!(
        content.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(content.body, pcm);
}

#[test]
fn metadata_must_be_an_object_and_ids_must_be_ours() {
    let server = TestServer::start_temp();
    let owner = server.owner(KEY_A, None);
    let audio = sample_audio("librivox/sense-0930.wav");
    let store = server.store.clone();
    let mut bad = new_transcription("x", audio.clone());
    bad.metadata = json!(["not", "an", "object"]);
    let err = server
        .runtime
        .block_on(store.insert_transcription(&owner, &new_id(RecordKind::Transcription), bad))
        .unwrap_err();
    assert_eq!(err.to_string(), "`metadata` must be a JSON object");
    let err = server
        .runtime
        .block_on(store.insert_transcription(
            &owner,
            "tts_wrongkind",
            new_transcription("x", audio.clone()),
        ))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not a transcription history item id"),
        "{err}"
    );
    // A duplicate id is refused and the first record is untouched.
    let id = new_id(RecordKind::Transcription);
    server
        .runtime
        .block_on(store.insert_transcription(
            &owner,
            &id,
            new_transcription("first", audio.clone()),
        ))
        .unwrap();
    let other_audio = sample_audio("librivox/sense-0880.wav");
    let err = server
        .runtime
        .block_on(store.insert_transcription(&owner, &id, new_transcription("second", other_audio)))
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let got = server.get(KEY_A, None, &stt_path(&format!("/{id}"))).json();
    assert_eq!(got["text"], "first");
    // The refused insert's audio did not stay behind.
    assert_eq!(blob_files(server.dir()).len(), 1);
    // A NaN confidence is stored as unknown.
    let mut nan = new_transcription("nan", audio);
    nan.confidence = f32::NAN;
    let rec = server.insert_transcription(&owner, nan);
    let got = server
        .get(KEY_A, None, &stt_path(&format!("/{}", rec.id)))
        .json();
    assert_eq!(got["confidence"], Value::Null);
    assert_eq!(got["metadata"], json!({}));
}

fn page_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {page}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[track_caller]
fn assert_error(response: &history_common::Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        response.headers
    );
    let body = response.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
