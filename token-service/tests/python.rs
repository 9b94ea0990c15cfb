//! Checks by implementations that are not ours, run with the project's `.venv` Python
//! (`make test` installs the pinned packages; a missing venv fails these tests):
//! LiveKit's Python `TokenVerifier` reads our tokens, and the official MKA1 SDK gets a
//! token from our server exactly as it would from the MKA1 API.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{API_KEY, LIVEKIT_KEY, LIVEKIT_SECRET, TTL_SECS, TestServer};
use mka1_token_service::SealedConfig;
use serde_json::{Value, json};

/// Runs a script with `stdin` as its standard input and parses its stdout as JSON.
fn run_python_with_stdin(script: &str, args: &[&str], stdin: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = Command::new(common::venv_python())
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{script} failed ({}): {}\nIf a module is missing, run `make python-tools`.",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn livekit_python_token_verifier_accepts_our_tokens() {
    let server = TestServer::start();
    let body = json!({"llm": {"model": "auto", "instructions": "Be brief."}, "language": "de"});
    let with_user = server
        .post_token(&body.to_string(), &[("X-On-Behalf-Of", "user-9")])
        .json();
    let derived = server.post_token(&body.to_string(), &[]).json();
    let issuer = server.state.issuer();
    let tokens = json!({
        "user": with_user["token"],
        "derived": derived["token"],
        "worker": issuer.agent_worker_token("worker-1").unwrap(),
        "agent_room": issuer.agent_room_token("room-x", "agent-room-x").unwrap(),
    });
    let request = json!({"api_key": LIVEKIT_KEY, "api_secret": LIVEKIT_SECRET, "tokens": tokens});
    let out = run_python_with_stdin("verify_livekit_token.py", &[], &request.to_string());

    let user = &out["user"];
    let room = with_user["room_name"].as_str().unwrap();
    assert_eq!(user["identity"], "user-9");
    assert_eq!(user["kind"], "");
    assert_eq!(
        user["raw_video"],
        json!({"roomJoin": true, "room": room, "canPublish": true, "canSubscribe": true, "canPublishData": true})
    );
    assert_eq!(user["video"]["room_join"], true);
    assert_eq!(user["video"]["room"], room);
    assert_eq!(user["video"]["can_publish_data"], true);
    assert_eq!(
        user["exp"].as_u64().unwrap() - user["nbf"].as_u64().unwrap(),
        TTL_SECS
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(user["exp"].as_u64().unwrap().abs_diff(now + TTL_SECS) <= 5);
    // LiveKit parses the room configuration into its protobuf: one explicit dispatch of
    // our agent, whose metadata is the sealed blob (and nothing else carries it).
    assert_eq!(user["agents"].as_array().unwrap().len(), 1);
    assert_eq!(user["agents"][0]["agent_name"], "mka1-voice-agent");
    let blob = user["agents"][0]["metadata"].as_str().unwrap();
    assert_eq!(
        user["room_config"],
        json!({"agents": [{"agentName": "mka1-voice-agent", "metadata": blob}]})
    );
    assert_eq!(user["metadata"], "");
    let session = SealedConfig::from(blob.to_owned())
        .open(server.state.config_keys(), room, "user-9")
        .unwrap();
    assert_eq!(session.language.as_deref(), Some("de"));
    assert_eq!(user["wrong_secret"], "InvalidSignatureError");
    assert_eq!(user["wrong_key"], "InvalidIssuerError");

    let derived_claims = &out["derived"];
    assert!(
        derived_claims["identity"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    assert_eq!(derived_claims["video"]["room"], derived["room_name"]);

    let worker = &out["worker"];
    assert_eq!(worker["kind"], "agent");
    assert_eq!(worker["raw_video"], json!({"agent": true}));
    assert_eq!(worker["video"]["agent"], true);
    assert_eq!(worker["video"]["room_join"], Value::Null);
    assert_eq!(worker["identity"], "worker-1");

    let agent = &out["agent_room"];
    assert_eq!(agent["kind"], "agent");
    assert_eq!(
        agent["raw_video"],
        json!({"roomJoin": true, "room": "room-x", "agent": true, "hidden": true,
               "canPublish": true, "canSubscribe": true, "canPublishData": true})
    );
    assert_eq!(
        (&agent["video"]["agent"], &agent["video"]["hidden"]),
        (&json!(true), &json!(true))
    );
}

#[test]
fn the_official_mka1_sdk_gets_a_token() {
    let server = TestServer::start();
    let out = run_python_with_stdin("mka1_sdk_token.py", &[&server.url()], API_KEY);

    let ok = &out["ok"];
    let token = ok["token"].as_str().unwrap();
    let room = ok["room_name"].as_str().unwrap();
    assert_eq!(ok["url"], format!("ws://{}", server.addr));
    let claims = server.state.issuer().verify(token).unwrap();
    assert_eq!(claims.sub, "sdk-user-1");
    assert_eq!(claims.video.room, room);
    let blob = &claims.room_config.unwrap().agents[0].metadata;
    let session = SealedConfig::from(blob.clone())
        .open(server.state.config_keys(), room, "sdk-user-1")
        .unwrap();
    // What the SDK sent (including its own defaults) is what the agent will use.
    assert_eq!(session.llm["model"], "meetkai:functionary-urdu-mini-pak");
    assert_eq!(session.llm["tools"][0]["name"], "get_weather");
    assert_eq!(session.llm["parallel_tool_calls"], true);
    assert_eq!(session.llm["max_tool_calls"], 64);
    assert_eq!(session.llm["metadata"], json!({"channel": "voice"}));
    let stt = session.stt.unwrap();
    assert_eq!(
        (stt.silence_timeout_ms, stt.initial_silence_timeout_ms),
        (Some(800), Some(12000))
    );
    assert_eq!(session.language.as_deref(), Some("en"));
    assert_eq!(session.on_behalf_of.as_deref(), Some("sdk-user-1"));
    assert_eq!(session.credentials.api_key.expose(), API_KEY);

    let refused = &out["refused"];
    assert_eq!(refused["status"], 400);
    assert_eq!(
        refused["body"]["error"],
        json!({"message": "Tool type `computer_use_preview` is not supported in voice sessions.",
               "type": "invalid_request_error", "code": "unsupported_tool", "param": "llm.tools[0].type"})
    );
}
