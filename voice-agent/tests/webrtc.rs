//! The direct WebRTC transport end to end, on loopback: a real session token from the
//! token service, the signaling route on a real socket, a webrtc-rs client peer sending
//! real Opus speech and text, and an echo "session" behind the starter.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use mka1_http_api::SecretString;
use mka1_media::opus::{FRAME_SAMPLES, MAX_PACKET_BYTES, MAX_PACKET_SAMPLES};
use mka1_media::{OpusDecoder, OpusEncoder, PcmHint, decode_to_mono};
use mka1_token_service::{
    ConfigKeys, LiveKitCredentials, SealedConfig, SessionCaller, SessionConfig, TokenIssuer,
    TokenRequest,
};
use mka1_voice_agent::transport::{
    DATA_CHANNEL_LABEL, MediaLink, OFFER_PATH, OPUS_FMTP, OPUS_PAYLOAD_TYPE, PeerInfo,
    SessionStarter, WebRtcLimits, WebRtcState, install_crypto_provider, router,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::interceptor::registry::Registry;
use webrtc::media::Sample;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

const LIVEKIT_KEY: &str = "APIwebrtctest";
const LIVEKIT_SECRET: &str = "webrtc-test-secret-0123456789abcdefghij";
const CALLER_KEY: &str = "caller-api-key-0123456789";
const IDENTITY: &str = "alice";
const SAMPLE: &str = "samples/librivox/sense-0880.wav";

/// Bound on waiting for something that must happen; a hang guard, not a speed check.
const PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen"))
}

// ---------------------------------------------------------------- the server side

/// What the echo starter saw of one call.
struct Started {
    config: SessionConfig,
    peer: PeerInfo,
    closed: CancellationToken,
}

struct Server {
    addr: SocketAddr,
    state: WebRtcState,
    issuer: TokenIssuer,
    keys: ConfigKeys,
    started: mpsc::UnboundedReceiver<Started>,
}

/// The signaling router on 127.0.0.1 with an echo session: audio back unchanged, text
/// back upper-cased (so the reply proves it went through the starter).
async fn serve(limits: WebRtcLimits) -> Server {
    let keys = ConfigKeys::parse(ConfigKeys::generate_entry("w1").expose()).unwrap();
    let issuer = TokenIssuer::new(
        LiveKitCredentials::new(LIVEKIT_KEY, SecretString::new(LIVEKIT_SECRET)),
        Duration::from_secs(600),
    );
    let (started_tx, started) = mpsc::unbounded_channel();
    let starter: SessionStarter = Arc::new(move |config, peer, link: MediaLink| {
        let MediaLink {
            mut audio_in,
            audio_out,
            mut data_in,
            data_out,
            closed,
        } = link;
        let _ = started_tx.send(Started {
            config,
            peer,
            closed: closed.clone(),
        });
        tokio::spawn(async move {
            while let Some(packet) = audio_in.recv().await {
                if audio_out.send(packet).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(text) = data_in.recv().await {
                if data_out.send(text.to_uppercase()).await.is_err() {
                    break;
                }
            }
        });
    });
    let state = WebRtcState::new(issuer.clone(), keys.clone(), starter, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        addr,
        state,
        issuer,
        keys,
        started,
    }
}

/// A real session token, as the token route mints it.
fn session_token(server: &Server) -> (String, String) {
    let request = TokenRequest::from_json(json!({
        "llm": {"model": "local", "instructions": "Answer in one short sentence."},
        "stt": {"silence_timeout_ms": 600},
        "language": "en",
    }))
    .unwrap();
    let caller = SessionCaller {
        identity: IDENTITY.into(),
        on_behalf_of: Some(IDENTITY.into()),
        api_key: SecretString::new(CALLER_KEY),
    };
    let token = server
        .issuer
        .issue_session(request, caller, &server.keys)
        .unwrap();
    (token.token, token.room)
}

// ---------------------------------------------------------------- a tiny HTTP client

struct Reply {
    status: u16,
    headers: String,
    body: Value,
}

async fn post(addr: SocketAddr, token: Option<&str>, body: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {OFFER_PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{auth}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    within("the HTTP reply", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    let status = headers
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u16>()
        .unwrap();
    Reply {
        status,
        headers: headers.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn offer_body(sdp: &str) -> Vec<u8> {
    json!({"type": "offer", "sdp": sdp})
        .to_string()
        .into_bytes()
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

// ---------------------------------------------------------------- the client peer

fn opus() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: Vec::new(),
    }
}

/// A browser stand-in: an Opus sendrecv track and an "events" data channel, loopback
/// candidates only (so the call can only succeed if the server offers loopback too).
struct Client {
    pc: Arc<RTCPeerConnection>,
    track: Arc<TrackLocalStaticSample>,
    /// The events channel (`None`: an audio-only client).
    channel: Option<Arc<RTCDataChannel>>,
    state: watch::Receiver<RTCPeerConnectionState>,
    channel_open: watch::Receiver<bool>,
    audio: mpsc::UnboundedReceiver<Bytes>,
    messages: mpsc::UnboundedReceiver<String>,
}

impl Client {
    async fn new() -> Self {
        Self::build(true).await
    }

    async fn audio_only() -> Self {
        Self::build(false).await
    }

    async fn build(with_events: bool) -> Self {
        install_crypto_provider();
        let mut media = MediaEngine::default();
        media
            .register_codec(
                RTCRtpCodecParameters {
                    capability: opus(),
                    payload_type: OPUS_PAYLOAD_TYPE,
                    ..Default::default()
                },
                RTPCodecType::Audio,
            )
            .unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
        let mut settings = SettingEngine::default();
        settings.set_include_loopback_candidate(true);
        settings.set_ip_filter(Box::new(|ip| ip.is_loopback()));
        // Notice a vanished server within seconds (webrtc-rs' default is 30 s).
        settings.set_ice_timeouts(
            Some(Duration::from_secs(2)),
            Some(Duration::from_secs(3)),
            Some(Duration::from_millis(500)),
        );
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build();
        let pc = Arc::new(
            api.new_peer_connection(RTCConfiguration::default())
                .await
                .unwrap(),
        );

        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        pc.on_peer_connection_state_change(Box::new(move |s| {
            let _ = state_tx.send(s);
            Box::pin(async {})
        }));

        let (audio_tx, audio) = mpsc::unbounded_channel();
        pc.on_track(Box::new(move |track, _, _| {
            let audio_tx = audio_tx.clone();
            tokio::spawn(async move {
                while let Ok((packet, _)) = track.read_rtp().await {
                    if !packet.payload.is_empty() && audio_tx.send(packet.payload).is_err() {
                        break;
                    }
                }
            });
            Box::pin(async {})
        }));

        let track = Arc::new(TrackLocalStaticSample::new(
            opus(),
            "mic".into(),
            "browser".into(),
        ));
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>)
            .await
            .unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            while sender.read(&mut buf).await.is_ok() {}
        });

        let (open_tx, channel_open) = watch::channel(!with_events);
        let (messages_tx, messages) = mpsc::unbounded_channel();
        let channel = if with_events {
            let channel = pc
                .create_data_channel(DATA_CHANNEL_LABEL, None)
                .await
                .unwrap();
            channel.on_open(Box::new(move || {
                let _ = open_tx.send(true);
                Box::pin(async {})
            }));
            channel.on_message(Box::new(move |m| {
                let _ = messages_tx.send(String::from_utf8_lossy(&m.data).into_owned());
                Box::pin(async {})
            }));
            Some(channel)
        } else {
            None
        };

        Self {
            pc,
            track,
            channel,
            state,
            channel_open,
            audio,
            messages,
        }
    }

    /// The offer with every candidate (non-trickle, as the server expects).
    async fn offer(&self) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        let mut gathered = self.pc.gathering_complete_promise().await;
        self.pc.set_local_description(offer).await.unwrap();
        within("client ICE gathering", gathered.recv()).await;
        self.pc.local_description().await.unwrap().sdp
    }

    /// Offer, POST, apply the answer, and wait for the call to connect.
    async fn call(&mut self, server: &Server, token: &str) -> String {
        let sdp = self.offer().await;
        let reply = post(server.addr, Some(token), &offer_body(&sdp)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["type"], "answer");
        let answer = reply.body["sdp"].as_str().unwrap().to_owned();
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer.clone()).unwrap())
            .await
            .unwrap();
        within(
            "the client connecting",
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .unwrap();
        within(
            "the events channel opening",
            self.channel_open.wait_for(|o| *o),
        )
        .await
        .unwrap();
        answer
    }
}

// ---------------------------------------------------------------- audio helpers

/// The sample clip at 48 kHz, as 20 ms Opus packets (the media crate's real encoder).
fn speech_packets() -> Vec<Bytes> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SAMPLE);
    let wav = std::fs::read(&path).unwrap();
    let audio = decode_to_mono(&wav, PcmHint::None, 48_000).unwrap();
    let mut encoder = OpusEncoder::new().unwrap();
    let mut buffer = [0u8; MAX_PACKET_BYTES];
    audio
        .samples
        .chunks(FRAME_SAMPLES)
        .map(|chunk| {
            let mut frame = [0.0f32; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            let len = encoder.encode_frame(&frame, &mut buffer).unwrap();
            Bytes::copy_from_slice(&buffer[..len])
        })
        .collect()
}

fn decode_all(packets: &[Bytes]) -> Vec<f32> {
    let mut decoder = OpusDecoder::new().unwrap();
    let mut pcm = vec![0.0f32; MAX_PACKET_SAMPLES];
    let mut out = Vec::new();
    for packet in packets {
        let n = decoder.decode(packet, &mut pcm).unwrap();
        out.extend_from_slice(&pcm[..n]);
    }
    out
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_carries_speech_and_events_through_the_session_and_ends_when_the_peer_leaves() {
    let mut limits = WebRtcLimits::default();
    limits.max_peers = 1;
    let mut server = serve(limits).await;
    let (token, room) = session_token(&server);
    let mut client = Client::new().await;
    let answer = client.call(&server, &token).await;
    // The server offered loopback candidates (the client gathered nothing else, so the
    // call above could only connect through one of them).
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" 127.0.0.1 ")),
        "{answer}"
    );

    // The starter got the sealed configuration of this token, for this peer.
    let started = within("the session start", server.started.recv())
        .await
        .unwrap();
    assert_eq!(
        started.peer,
        PeerInfo {
            identity: IDENTITY.into(),
            room: room.clone()
        }
    );
    assert_eq!(started.config.llm["model"], "local");
    assert_eq!(
        started.config.llm["instructions"],
        "Answer in one short sentence."
    );
    assert_eq!(started.config.room, room);
    assert_eq!(started.config.language.as_deref(), Some("en"));
    assert_eq!(
        started.config.stt.and_then(|s| s.silence_timeout_ms),
        Some(600)
    );
    assert_eq!(started.config.credentials.api_key.expose(), CALLER_KEY);
    assert_eq!(server.state.active_peers(), 1);

    // One call at a time on this server: a second offer is told to come back.
    let (second_token, _) = session_token(&server);
    let other = Client::new().await;
    let busy = post(
        server.addr,
        Some(&second_token),
        &offer_body(&other.offer().await),
    )
    .await;
    assert_error(&busy, 429, "overloaded");
    assert!(busy.headers.contains("retry-after:"), "{}", busy.headers);

    // Text round trip through the session.
    client
        .channel
        .as_ref()
        .unwrap()
        .send_text(r#"{"type":"text","text":"hello agent"}"#)
        .await
        .unwrap();
    let reply = within("the echoed event", client.messages.recv())
        .await
        .unwrap();
    assert_eq!(reply, r#"{"TYPE":"TEXT","TEXT":"HELLO AGENT"}"#);

    // Real speech, paced like a microphone, comes back packet for packet.
    let sent = speech_packets();
    assert!(sent.len() > 100, "{} packets", sent.len());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for packet in &sent {
        tick.tick().await;
        client
            .track
            .write_sample(&Sample {
                data: packet.clone(),
                duration: Duration::from_millis(20),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    // The stream has ended once nothing has arrived for a while.
    while let Ok(Some(packet)) =
        tokio::time::timeout(Duration::from_secs(3), client.audio.recv()).await
    {
        received.push(packet);
    }
    assert!(
        received.len() + 3 >= sent.len() && received.len() <= sent.len(),
        "sent {}, received {}",
        sent.len(),
        received.len()
    );
    // Unchanged and in order: every received packet is the next sent one (or one after
    // a loss).
    let mut cursor = sent.iter();
    for (i, packet) in received.iter().enumerate() {
        assert!(
            cursor.any(|s| s == packet),
            "received packet {i} was never sent, or came out of order"
        );
    }
    // And it is speech, as loud as what was sent.
    let echoed = decode_all(&received);
    let original = decode_all(&sent);
    eprintln!(
        "sent {} packets, received {}; rms sent {:.4}, echoed {:.4}",
        sent.len(),
        received.len(),
        rms(&original),
        rms(&echoed)
    );
    assert!(rms(&echoed) > 0.01, "echoed rms {}", rms(&echoed));
    assert!(
        (rms(&echoed) - rms(&original)).abs() < 0.1 * rms(&original),
        "echoed rms {} vs sent {}",
        rms(&echoed),
        rms(&original)
    );

    // Hanging up on the client side ends the session, and frees the slot.
    assert!(!started.closed.is_cancelled());
    client.pc.close().await.unwrap();
    within("the session seeing the hang-up", started.closed.cancelled()).await;
    within("the call slot being given back", async {
        while server.state.active_peers() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // ...so the next call is answered.
    let (third_token, _) = session_token(&server);
    let third = Client::new().await;
    let again = post(
        server.addr,
        Some(&third_token),
        &offer_body(&third.offer().await),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_hanging_up_closes_the_call() {
    let mut server = serve(WebRtcLimits::default()).await;
    let (token, _) = session_token(&server);
    let mut client = Client::new().await;
    client.call(&server, &token).await;
    let started = within("the session start", server.started.recv())
        .await
        .unwrap();
    started.closed.cancel();
    // The server closes its side: the client's events channel closes, and the slot is
    // given back.
    let mut state = client.state.clone();
    within("the client noticing", async {
        loop {
            if client.channel.as_ref().unwrap().ready_state()
                == webrtc::data_channel::data_channel_state::RTCDataChannelState::Closed
                || matches!(
                    *state.borrow(),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                )
            {
                break;
            }
            tokio::select! {
                _ = state.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await;
    within("the call slot being given back", async {
        while server.state.active_peers() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    client.pc.close().await.unwrap();
}

/// An HS256 JWT made by hand, for tokens the issuer would never mint.
fn hand_made_jwt(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{header}.{body}").as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{body}.{signature}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_open_a_session_are_refused_with_401() {
    let server = serve(WebRtcLimits::default()).await;
    let client = Client::new().await;
    let body = offer_body(&client.offer().await);
    let (token, room) = session_token(&server);

    assert_error(&post(server.addr, None, &body).await, 401, "missing_token");
    assert_error(
        &post(server.addr, Some("not-a-jwt"), &body).await,
        401,
        "invalid_token",
    );

    // Signed with another secret.
    let forger = TokenIssuer::new(
        LiveKitCredentials::new(LIVEKIT_KEY, SecretString::new("another-secret-0123456789")),
        Duration::from_secs(600),
    );
    let request = TokenRequest::from_json(json!({"llm": {"model": "local"}})).unwrap();
    let caller = SessionCaller {
        identity: IDENTITY.into(),
        on_behalf_of: None,
        api_key: SecretString::new(CALLER_KEY),
    };
    let forged = forger
        .issue_session(request, caller, &server.keys)
        .unwrap()
        .token;
    assert_error(
        &post(server.addr, Some(&forged), &body).await,
        401,
        "invalid_token",
    );

    // Expired (well past the verifier's leeway).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = hand_made_jwt(
        &json!({"iss": LIVEKIT_KEY, "sub": IDENTITY, "nbf": now - 7200, "exp": now - 3600,
                "video": {"roomJoin": true, "room": room}}),
        LIVEKIT_SECRET,
    );
    assert_error(
        &post(server.addr, Some(&expired), &body).await,
        401,
        "token_expired",
    );

    // Genuine tokens that carry no session: the agent's own room token.
    let agent = server.issuer.agent_room_token(&room, "agent-1").unwrap();
    assert_error(
        &post(server.addr, Some(&agent), &body).await,
        401,
        "invalid_token",
    );

    // The sealed blob of alice's session, re-signed into a token for mallory: the seal
    // binds the identity, so it does not open.
    let claims = server.issuer.verify(&token).unwrap();
    let sealed = SealedConfig::from(claims.room_config.unwrap().agents[0].metadata.clone());
    let moved = server.issuer.user_token("mallory", &room, &sealed).unwrap();
    assert_error(
        &post(server.addr, Some(&moved), &body).await,
        401,
        "invalid_token",
    );

    // Nothing was started and no slot is held.
    assert_eq!(server.state.active_peers(), 0);
    client.pc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_offers_are_refused_with_400() {
    let server = serve(WebRtcLimits::default()).await;
    let (token, _) = session_token(&server);
    let token = Some(token.as_str());
    assert_error(
        &post(server.addr, token, b"this is not json").await,
        400,
        "invalid_json",
    );
    assert_error(
        &post(server.addr, token, br#"{"sdp": "v=0"}"#).await,
        400,
        "invalid_json",
    );
    let wrong_type = json!({"type": "answer", "sdp": "v=0\r\n"}).to_string();
    assert_error(
        &post(server.addr, token, wrong_type.as_bytes()).await,
        400,
        "invalid_request",
    );
    assert_error(
        &post(server.addr, token, &offer_body("")).await,
        400,
        "invalid_request",
    );
    assert_error(
        &post(server.addr, token, &offer_body("garbage, not SDP")).await,
        400,
        "invalid_offer",
    );
    let video_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                      m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n\
                      a=rtpmap:96 VP8/90000\r\n";
    assert_error(
        &post(server.addr, token, &offer_body(video_only)).await,
        400,
        "invalid_offer",
    );
    // Parseable SDP with Opus but no ICE credentials or DTLS fingerprint.
    let bare_audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                      m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n\
                      a=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n";
    assert_error(
        &post(server.addr, token, &offer_body(bare_audio)).await,
        400,
        "invalid_offer",
    );
    // Refusals hold no call slot.
    assert_eq!(server.state.active_peers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_client_gets_a_session_too() {
    let mut server = serve(WebRtcLimits::default()).await;
    let (token, room) = session_token(&server);
    let mut client = Client::audio_only().await;
    client.call(&server, &token).await;
    // No data channel was negotiated, so the session starts as soon as media connects.
    let started = within("the session start", server.started.recv())
        .await
        .unwrap();
    assert_eq!(started.peer.room, room);
    let sent = speech_packets();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for packet in sent.iter().take(25) {
        tick.tick().await;
        client
            .track
            .write_sample(&Sample {
                data: packet.clone(),
                duration: Duration::from_millis(20),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let first = within("the first echoed packet", client.audio.recv())
        .await
        .unwrap();
    assert!(sent.iter().take(25).any(|s| *s == first));
    client.pc.close().await.unwrap();
}
