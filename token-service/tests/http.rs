//! The token route over a real socket: every validation rule with its exact status and
//! message, the error paths of bad input, and what a good request gets back.
#![allow(clippy::unwrap_used)]

mod common;

use common::{API_KEY, TestServer, jwt_payload};
use mka1_token_service::{ClientUrl, SealedConfig, TTS_LANGUAGES};
use serde_json::{Value, json};

/// Asserts a JSON error with `status`, `message`, `code` and (when given) `param`.
#[track_caller]
fn assert_error(
    response: &common::Response,
    status: u16,
    message: &str,
    code: &str,
    param: Option<&str>,
) {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        response.headers
    );
    let body = response.json();
    let e = &body["error"];
    assert_eq!(e["message"], message, "{body}");
    assert_eq!(e["code"], code, "{body}");
    assert_eq!(
        e["type"],
        if status == 401 {
            "authentication_error"
        } else {
            "invalid_request_error"
        }
    );
    assert_eq!(e.get("param").and_then(Value::as_str), param, "{body}");
}

fn with_llm(extra: Value) -> String {
    let mut llm = json!({"model": "auto"});
    llm.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "llm": llm }).to_string()
}

#[test]
fn every_validation_rule_has_its_status_and_message() {
    let server = TestServer::start();
    let metadata = |n: usize| -> Value {
        Value::Object((0..n).map(|i| (format!("k{i}"), json!("v"))).collect())
    };
    let cases: Vec<(String, &str, &str, Option<&str>)> = vec![
        (
            "[1]".into(),
            "The request body must be a JSON object.",
            "invalid_type",
            None,
        ),
        (
            "{}".into(),
            "`llm` is required.",
            "missing_required_parameter",
            Some("llm"),
        ),
        (
            r#"{"llm": null}"#.into(),
            "`llm` is required.",
            "missing_required_parameter",
            Some("llm"),
        ),
        (
            r#"{"llm": 5}"#.into(),
            "`llm` must be an object.",
            "invalid_type",
            Some("llm"),
        ),
        (
            r#"{"llm": {}}"#.into(),
            "`llm.model` is required.",
            "missing_required_parameter",
            Some("llm.model"),
        ),
        (
            r#"{"llm": {"model": ""}}"#.into(),
            "`llm.model` must be a non-empty string.",
            "invalid_value",
            Some("llm.model"),
        ),
        (
            r#"{"llm": {"model": 7}}"#.into(),
            "`llm.model` must be a non-empty string.",
            "invalid_value",
            Some("llm.model"),
        ),
        (
            with_llm(json!({"input": "hi"})),
            "`llm.input` is managed by the voice agent and cannot be set.",
            "unsupported_parameter",
            Some("llm.input"),
        ),
        (
            with_llm(json!({"stream": true})),
            "`llm.stream` is managed by the voice agent and cannot be set.",
            "unsupported_parameter",
            Some("llm.stream"),
        ),
        (
            with_llm(json!({"store": false})),
            "`llm.store` is managed by the voice agent and cannot be set.",
            "unsupported_parameter",
            Some("llm.store"),
        ),
        (
            with_llm(json!({"background": false})),
            "`llm.background` is managed by the voice agent and cannot be set.",
            "unsupported_parameter",
            Some("llm.background"),
        ),
        (
            with_llm(json!({"webhooks": []})),
            "`llm.webhooks` is managed by the voice agent and cannot be set.",
            "unsupported_parameter",
            Some("llm.webhooks"),
        ),
        (
            with_llm(json!({"max_tool_calls": 0})),
            "`llm.max_tool_calls` must be an integer from 1 to 300.",
            "invalid_value",
            Some("llm.max_tool_calls"),
        ),
        (
            with_llm(json!({"max_tool_calls": 301})),
            "`llm.max_tool_calls` must be an integer from 1 to 300.",
            "invalid_value",
            Some("llm.max_tool_calls"),
        ),
        (
            with_llm(json!({"max_tool_calls": 2.5})),
            "`llm.max_tool_calls` must be an integer from 1 to 300.",
            "invalid_value",
            Some("llm.max_tool_calls"),
        ),
        (
            with_llm(json!({"max_tool_calls": "5"})),
            "`llm.max_tool_calls` must be an integer from 1 to 300.",
            "invalid_value",
            Some("llm.max_tool_calls"),
        ),
        (
            with_llm(json!({"temperature": -0.01})),
            "`llm.temperature` must be a number from 0 to 2.",
            "invalid_value",
            Some("llm.temperature"),
        ),
        (
            with_llm(json!({"temperature": 2.01})),
            "`llm.temperature` must be a number from 0 to 2.",
            "invalid_value",
            Some("llm.temperature"),
        ),
        (
            with_llm(json!({"temperature": "hot"})),
            "`llm.temperature` must be a number from 0 to 2.",
            "invalid_value",
            Some("llm.temperature"),
        ),
        (
            with_llm(json!({"top_p": 1.5})),
            "`llm.top_p` must be a number from 0 to 1.",
            "invalid_value",
            Some("llm.top_p"),
        ),
        (
            with_llm(json!({"top_p": -1})),
            "`llm.top_p` must be a number from 0 to 1.",
            "invalid_value",
            Some("llm.top_p"),
        ),
        (
            with_llm(json!({"metadata": metadata(16)})),
            "`llm.metadata` has 16 pairs; at most 15 are allowed, because the voice agent adds `voice_mode` and the Responses API accepts 16.",
            "invalid_value",
            Some("llm.metadata"),
        ),
        (
            with_llm(json!({"metadata": {"k".repeat(65): "v"}})),
            "`llm.metadata` keys must be at most 64 characters.",
            "invalid_value",
            Some("llm.metadata"),
        ),
        (
            with_llm(json!({"metadata": {"k": "v".repeat(513)}})),
            "`llm.metadata.k` must be at most 512 characters.",
            "invalid_value",
            Some("llm.metadata.k"),
        ),
        (
            with_llm(json!({"metadata": {"k": 1}})),
            "`llm.metadata.k` must be a string.",
            "invalid_type",
            Some("llm.metadata.k"),
        ),
        (
            with_llm(json!({"metadata": ["k"]})),
            "`llm.metadata` must be an object of string values.",
            "invalid_type",
            Some("llm.metadata"),
        ),
        (
            with_llm(
                json!({"tools": [{"type": "function", "name": "f"}, {"type": "computer_use_preview", "display_width": 1024}]}),
            ),
            "Tool type `computer_use_preview` is not supported in voice sessions.",
            "unsupported_tool",
            Some("llm.tools[1].type"),
        ),
        (
            with_llm(json!({"tools": [{"type": "teleport"}]})),
            "Tool type `teleport` is not supported; use one of: function, custom, mcp, file_search, web_search*, code_interpreter, image_generation, local_shell, shell, agent, history, sleep.",
            "unsupported_tool",
            Some("llm.tools[0].type"),
        ),
        (
            with_llm(json!({"tools": {"type": "function"}})),
            "`llm.tools` must be an array.",
            "invalid_type",
            Some("llm.tools"),
        ),
        (
            with_llm(json!({"tools": [{"name": "f"}]})),
            "`llm.tools[0]` must be an object with a string `type`.",
            "invalid_type",
            Some("llm.tools[0]"),
        ),
        (
            json!({"llm": {"model": "m"}, "stt": 500}).to_string(),
            "`stt` must be an object.",
            "invalid_type",
            Some("stt"),
        ),
        (
            json!({"llm": {"model": "m"}, "stt": {"silence_timeout_ms": 99}}).to_string(),
            "`stt.silence_timeout_ms` must be an integer from 100 to 5000.",
            "invalid_value",
            Some("stt.silence_timeout_ms"),
        ),
        (
            json!({"llm": {"model": "m"}, "stt": {"silence_timeout_ms": 5001}}).to_string(),
            "`stt.silence_timeout_ms` must be an integer from 100 to 5000.",
            "invalid_value",
            Some("stt.silence_timeout_ms"),
        ),
        (
            json!({"llm": {"model": "m"}, "stt": {"initial_silence_timeout_ms": 999}}).to_string(),
            "`stt.initial_silence_timeout_ms` must be an integer from 1000 to 30000.",
            "invalid_value",
            Some("stt.initial_silence_timeout_ms"),
        ),
        (
            json!({"llm": {"model": "m"}, "stt": {"initial_silence_timeout_ms": 30001}})
                .to_string(),
            "`stt.initial_silence_timeout_ms` must be an integer from 1000 to 30000.",
            "invalid_value",
            Some("stt.initial_silence_timeout_ms"),
        ),
        (
            json!({"llm": {"model": "m"}, "language": "auto"}).to_string(),
            "`language` cannot be `auto`: omit it to let the agent detect the language.",
            "invalid_value",
            Some("language"),
        ),
        (
            json!({"llm": {"model": "m"}, "language": "xx"}).to_string(),
            "`language` must be one of en, zh, hi, es, ar, bn, pt, ru, ja, pa, de, ko, fr, tr, it, th, pl, nl, id, vi, ur, uk (or omitted to auto-detect).",
            "invalid_value",
            Some("language"),
        ),
        (
            json!({"llm": {"model": "m"}, "language": 5}).to_string(),
            "`language` must be one of en, zh, hi, es, ar, bn, pt, ru, ja, pa, de, ko, fr, tr, it, th, pl, nl, id, vi, ur, uk (or omitted to auto-detect).",
            "invalid_value",
            Some("language"),
        ),
    ];
    for (body, message, code, param) in &cases {
        let response = server.post_token(body, &[]);
        assert_error(&response, 400, message, code, *param);
    }

    // The edges of every range are accepted.
    let edges = [
        with_llm(json!({"max_tool_calls": 1, "temperature": 0, "top_p": 0})),
        with_llm(json!({"max_tool_calls": 300, "temperature": 2, "top_p": 1, "metadata": metadata(15)})),
        with_llm(json!({"metadata": {"k".repeat(64): "v".repeat(512)}})),
        with_llm(json!({"temperature": null, "conversation": null, "reasoning": null, "store": null})),
        json!({"llm": {"model": "m"}, "stt": {"silence_timeout_ms": 100, "initial_silence_timeout_ms": 1000}}).to_string(),
        json!({"llm": {"model": "m"}, "stt": {"silence_timeout_ms": 5000, "initial_silence_timeout_ms": 30000}}).to_string(),
        with_llm(json!({"tools": [
            {"type": "function", "name": "f"}, {"type": "custom", "name": "c"}, {"type": "mcp", "server_label": "s"},
            {"type": "file_search"}, {"type": "web_search"}, {"type": "web_search_preview"},
            {"type": "code_interpreter"}, {"type": "image_generation"}, {"type": "local_shell"},
            {"type": "shell"}, {"type": "agent"}, {"type": "history"}, {"type": "sleep"},
        ]})),
    ];
    for body in &edges {
        let response = server.post_token(body, &[]);
        assert_eq!(
            response.status,
            200,
            "{body}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    for language in TTS_LANGUAGES {
        let body = json!({"llm": {"model": "m"}, "language": language}).to_string();
        assert_eq!(server.post_token(&body, &[]).status, 200, "{language}");
    }
}

#[test]
fn a_configuration_over_the_token_limit_is_refused_with_the_reason() {
    let server = TestServer::start();
    let response = server.post_token(&with_llm(json!({"instructions": "x".repeat(6000)})), &[]);
    assert_eq!(response.status, 400);
    let body = response.json();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The session configuration is too large: the token would be "),
        "{message}"
    );
    assert!(message.ends_with(" bytes, and LiveKit tokens are limited to 8192 bytes because they travel in HTTP headers. Shorten `llm.instructions` or `llm.tools`."), "{message}");
    assert_eq!(body["error"]["code"], "token_too_large");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    // Just under the limit still works, and the token respects it.
    let response = server.post_token(&with_llm(json!({"instructions": "x".repeat(3500)})), &[]);
    assert_eq!(response.status, 200);
    assert!(response.json()["token"].as_str().unwrap().len() <= 8192);
}

#[test]
fn auth_and_bad_input_are_json_errors() {
    let server = TestServer::start();
    let path = mka1_token_service::TOKEN_PATH;
    let body = with_llm(json!({}));
    let json_type = ("Content-Type", "application/json".to_owned());

    let r = common::http(
        server.addr,
        "POST",
        path,
        std::slice::from_ref(&json_type),
        body.as_bytes(),
    );
    assert_error(
        &r,
        401,
        "Missing API key: send it as `Authorization: Bearer <key>`.",
        "missing_api_key",
        None,
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let wrong = ("Authorization", "Bearer not-the-key".to_owned());
    let r = common::http(
        server.addr,
        "POST",
        path,
        &[json_type.clone(), wrong],
        body.as_bytes(),
    );
    assert_error(&r, 401, "Invalid API key.", "invalid_api_key", None);

    // Auth comes first: a bad body without a key is still a 401.
    let r = common::http(server.addr, "POST", path, &[json_type], b"{oops");
    assert_eq!(r.status, 401);

    for (value, message) in [
        ("", "`X-On-Behalf-Of` must not be empty."),
        (
            &*"u".repeat(257),
            "`X-On-Behalf-Of` must be at most 256 characters.",
        ),
    ] {
        let r = server.post_token(&body, &[("X-On-Behalf-Of", value)]);
        assert_error(&r, 400, message, "invalid_header", Some("X-On-Behalf-Of"));
    }

    let r = server.post_token("{\"llm\": {\"model\": ", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_json");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON: ")
    );
    let r = server.post_token("", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_json");

    let auth = ("Authorization", format!("Bearer {API_KEY}"));
    let r = common::http(
        server.addr,
        "POST",
        path,
        std::slice::from_ref(&auth),
        body.as_bytes(),
    );
    assert_error(
        &r,
        415,
        "Expected a JSON body: send `Content-Type: application/json`.",
        "unsupported_media_type",
        None,
    );
    let text = ("Content-Type", "text/plain".to_owned());
    let r = common::http(server.addr, "POST", path, &[auth, text], body.as_bytes());
    assert_eq!(r.status, 415);

    let huge = with_llm(json!({"instructions": "x".repeat(mka1_token_service::MAX_BODY_BYTES)}));
    let r = server.post_token(&huge, &[]);
    assert_error(
        &r,
        413,
        "The request body is larger than this endpoint accepts.",
        "payload_too_large",
        None,
    );
}

#[test]
fn a_good_request_gets_token_url_and_room_and_unknown_fields_survive() {
    let server = TestServer::start();
    let llm = json!({
        "model": "meetkai:functionary-pt-mini",
        "instructions": "You are a concise voice assistant.",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": "auto",
        "temperature": 0.7,
        "metadata": {"team": "voice"},
        "prompt": {"id": "pmpt_1", "variables": {"name": "Ana"}},
        "a_field_from_the_future": {"deep": [1, 2.25, -3, null, false, "ü"], "n": 12345678901234i64},
        "truncation": "auto",
    });
    let body = json!({"llm": llm, "stt": {"silence_timeout_ms": 600}, "language": "pt"});
    let r = server.post_token(&body.to_string(), &[("X-On-Behalf-Of", "end-user-42")]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    let token = answer["token"].as_str().unwrap();
    let room = answer["room_name"].as_str().unwrap();
    assert_eq!(answer["roomName"], room);
    assert!(uuid_like(room), "{room}");
    assert_eq!(answer["url"], format!("ws://{}", server.addr));

    let claims = server.state.issuer().verify(token).unwrap();
    assert_eq!(claims.sub, "end-user-42");
    assert_eq!(claims.video.room, room);
    let dispatch = &claims.room_config.as_ref().unwrap().agents[0];
    assert_eq!(dispatch.agent_name, "mka1-voice-agent");
    let sealed = SealedConfig::from(dispatch.metadata.clone());
    let session = sealed
        .open(server.state.config_keys(), room, "end-user-42")
        .unwrap();
    assert_eq!(
        Value::Object(session.llm),
        llm,
        "the Responses fields come back unchanged"
    );
    assert_eq!(session.stt.unwrap().silence_timeout_ms, Some(600));
    assert_eq!(session.language.as_deref(), Some("pt"));
    assert_eq!(session.on_behalf_of.as_deref(), Some("end-user-42"));
    assert_eq!(session.room, room);
    assert_eq!(session.credentials.api_key.expose(), API_KEY);
    // The blob is in the token once, and nothing of the configuration is readable.
    let raw = jwt_payload(token).to_string();
    assert_eq!(raw.matches(sealed.as_str()).count(), 1);
    for hidden in [
        API_KEY,
        "concise voice assistant",
        "get_weather",
        "a_field_from_the_future",
    ] {
        assert!(!raw.contains(hidden), "{hidden} is readable in the token");
    }
}

#[test]
fn without_on_behalf_of_the_identity_is_a_keyed_hash_of_the_key() {
    let server = TestServer::start();
    let r = server.post_token(&with_llm(json!({})), &[]);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let claims = server.state.issuer().verify(&token).unwrap();
    assert!(
        claims.sub.starts_with("key_") && claims.sub.len() == 28,
        "{}",
        claims.sub
    );
    assert!(!claims.sub.contains(API_KEY));
    // Not a plain hash of the key either: it depends on the server's secret.
    use sha2::Digest as _;
    let plain = format!("{:x}", sha2::Sha256::digest(API_KEY.as_bytes()));
    assert!(!plain.contains(&claims.sub[4..]));
    // Stable for the same key.
    let again = server.post_token(&with_llm(json!({})), &[]).json();
    let claims2 = server
        .state
        .issuer()
        .verify(again["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, claims2.sub);
    assert_ne!(claims.video.room, claims2.video.room);
}

#[test]
fn the_url_is_livekit_when_configured_else_this_server_as_reached() {
    let server = TestServer::start();
    let body = with_llm(json!({}));
    let r = server.post_token(
        &body,
        &[
            ("Host", "voice.example.com:8443"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(r.json()["url"], "wss://voice.example.com:8443");
    let r = server.post_token(
        &body,
        &[
            ("X-Forwarded-Host", "edge.example.com"),
            ("X-Forwarded-Proto", "http"),
        ],
    );
    assert_eq!(r.json()["url"], "ws://edge.example.com");
    let r = server.post_token(&body, &[("Host", "bad host/<script>")]);
    assert_eq!(r.json()["url"], "ws://127.0.0.1:1");

    let lk = TestServer::start_with(ClientUrl::LiveKit("wss://lk.example.com".into()));
    let r = lk.post_token(&body, &[("Host", "voice.example.com")]);
    assert_eq!(r.json()["url"], "wss://lk.example.com");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
