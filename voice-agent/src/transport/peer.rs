//! The server side of one direct WebRTC call: a webrtc-rs peer connection answering a
//! browser's offer, wired to a [`TransportEnd`].
//!
//! Signaling is one request: the answer is returned only once ICE gathering is complete,
//! so it carries every candidate and no trickle channel is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

use super::link::TransportEnd;
use super::pumps::{drain_rtcp, forward_received_audio, send_audio, send_events, wire_channel};

/// The payload type Opus is registered with (what browsers use too).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Opus format parameters: 10 ms minimum packets, in-band FEC (the session's encoder
/// puts FEC in its packets, and browsers do too when this is negotiated).
pub const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";
/// The label of the data channel that carries events both ways.
pub const DATA_CHANNEL_LABEL: &str = "events";
/// How long candidate gathering may take. Host candidates (no STUN, no TURN) gather in
/// milliseconds; the bound only guards against a stuck network stack.
const GATHERING_TIMEOUT: Duration = Duration::from_secs(10);
/// ICE: no traffic for 5 s is "disconnected", 10 s more is "failed" (the call ends).
/// webrtc-rs' default is 25 s more; a browser tab that vanished should not hold a
/// session (and its models' time) that long.
const ICE_DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
const ICE_FAILED_TIMEOUT: Duration = Duration::from_secs(10);
const ICE_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// Why an offer could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// The offer is not parseable SDP.
    #[error("the offer is not valid SDP: {0}")]
    InvalidOffer(webrtc::Error),
    /// The offer has no audio section to talk over.
    #[error("the offer has no audio section")]
    NoAudio,
    /// The offer's audio offers no Opus.
    #[error("the offer's audio does not offer Opus")]
    NoOpus,
    /// The offer parsed, but cannot be applied or answered (missing ICE credentials or
    /// DTLS fingerprint, unsupported transport...).
    #[error("the offer cannot be answered: {0}")]
    Negotiation(webrtc::Error),
    /// ICE candidate gathering did not finish in time.
    #[error("ICE candidate gathering did not complete")]
    Gathering,
    /// The WebRTC stack failed on our side.
    #[error("the WebRTC stack failed: {0}")]
    Internal(webrtc::Error),
}

impl PeerError {
    /// Whether the client's offer is at fault (400) rather than the server (500).
    pub(crate) fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidOffer(_) | Self::NoAudio | Self::NoOpus | Self::Negotiation(_)
        )
    }
}

/// How far the call has come: the session starts once it is `ready`.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// ICE and DTLS are connected.
    connected: bool,
    /// The events data channel is open.
    channel_open: bool,
}

/// A peer connection that has answered an offer.
pub(crate) struct AnsweredPeer {
    /// The answer SDP, with every local candidate.
    pub(crate) answer: String,
    pc: Arc<RTCPeerConnection>,
    progress: watch::Receiver<Progress>,
    needs_channel: bool,
    closed: CancellationToken,
}

impl AnsweredPeer {
    /// Waits until media can flow: connected, and (when the offer negotiated a data
    /// channel) the events channel is open. `false` when the call ended or `timeout`
    /// passed first.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let needs_channel = self.needs_channel;
        let ready = self
            .progress
            .wait_for(|p| p.connected && (p.channel_open || !needs_channel));
        tokio::select! {
            result = tokio::time::timeout(timeout, ready) => matches!(result, Ok(Ok(_))),
            () = self.closed.cancelled() => false,
        }
    }

    /// Whether the call got as far as connecting (for the log of a call that never
    /// became ready).
    pub(crate) fn connected(&self) -> bool {
        self.progress.borrow().connected
    }

    /// Whether the call is over.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Ends the call: stops every task of this peer and closes the connection.
    pub(crate) async fn close(&self) {
        self.closed.cancel();
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection failed");
        }
    }
}

/// What the offer contains, read before anything is negotiated.
struct OfferSummary {
    has_audio: bool,
    audio_has_opus: bool,
    has_data: bool,
}

fn summarize(offer: &RTCSessionDescription) -> Result<OfferSummary, PeerError> {
    let parsed = offer.unmarshal().map_err(PeerError::InvalidOffer)?;
    let mut summary = OfferSummary {
        has_audio: false,
        audio_has_opus: false,
        has_data: false,
    };
    for media in &parsed.media_descriptions {
        match media.media_name.media.as_str() {
            "audio" => {
                summary.has_audio = true;
                summary.audio_has_opus |= media.attributes.iter().any(|a| {
                    a.key == "rtpmap"
                        && a.value.as_deref().is_some_and(|v| {
                            v.split_whitespace().nth(1).is_some_and(|codec| {
                                codec.to_ascii_lowercase().starts_with("opus/48000")
                            })
                        })
                });
            }
            "application" => summary.has_data = true,
            _ => {}
        }
    }
    Ok(summary)
}

/// The Opus codec as registered and as our track sends it.
fn opus_capability() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: Vec::new(),
    }
}

/// A peer connection with Opus only, host candidates including loopback, no STUN.
async fn new_peer_connection() -> Result<RTCPeerConnection, webrtc::Error> {
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            capability: opus_capability(),
            payload_type: OPUS_PAYLOAD_TYPE,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let mut settings = SettingEngine::default();
    // A browser on the same machine reaches us over loopback (Chromium offers loopback
    // candidates with --allow-loopback-in-peer-connection); webrtc-rs skips loopback
    // unless told, and then the pair never forms.
    settings.set_include_loopback_candidate(true);
    settings.set_ice_timeouts(
        Some(ICE_DISCONNECTED_TIMEOUT),
        Some(ICE_FAILED_TIMEOUT),
        Some(ICE_KEEPALIVE_INTERVAL),
    );
    let api = APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build();
    // No ICE servers: the server is offline-capable, and host candidates are what a
    // browser on the same machine or network needs.
    api.new_peer_connection(RTCConfiguration::default()).await
}

/// Answers `offer_sdp` with a new peer connection wired to `end`. On error nothing is
/// left running.
pub(crate) async fn answer_offer(
    offer_sdp: String,
    end: TransportEnd,
) -> Result<AnsweredPeer, PeerError> {
    let offer = RTCSessionDescription::offer(offer_sdp).map_err(PeerError::InvalidOffer)?;
    let summary = summarize(&offer)?;
    if !summary.has_audio {
        return Err(PeerError::NoAudio);
    }
    if !summary.audio_has_opus {
        return Err(PeerError::NoOpus);
    }
    let pc = Arc::new(new_peer_connection().await.map_err(PeerError::Internal)?);
    match negotiate(&pc, offer, summary.has_data, end).await {
        Ok(answered) => Ok(answered),
        Err(e) => {
            if let Err(close) = pc.close().await {
                tracing::debug!(error = %close, "closing a failed peer connection failed");
            }
            Err(e)
        }
    }
}

async fn negotiate(
    pc: &Arc<RTCPeerConnection>,
    offer: RTCSessionDescription,
    has_data: bool,
    end: TransportEnd,
) -> Result<AnsweredPeer, PeerError> {
    let TransportEnd {
        audio_in,
        audio_out,
        data_in,
        data_out,
        closed,
    } = end;
    let (progress_tx, progress) = watch::channel(Progress::default());
    let progress_tx = Arc::new(progress_tx);

    {
        let closed = closed.clone();
        let progress_tx = Arc::clone(&progress_tx);
        pc.on_peer_connection_state_change(Box::new(move |state| {
            match state {
                RTCPeerConnectionState::Connected => {
                    progress_tx.send_modify(|p| p.connected = true);
                }
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    tracing::debug!(%state, "peer connection ended");
                    closed.cancel();
                }
                _ => {}
            }
            Box::pin(async {})
        }));
    }

    {
        let closed = closed.clone();
        let taken = Arc::new(AtomicBool::new(false));
        pc.on_track(Box::new(move |track, _receiver, _transceiver| {
            // One audio stream feeds the session: packets of two interleaved streams
            // would not decode.
            if track.kind() == RTPCodecType::Audio && !taken.swap(true, Ordering::SeqCst) {
                tokio::spawn(forward_received_audio(
                    track,
                    audio_in.clone(),
                    closed.clone(),
                ));
            } else {
                tracing::debug!(kind = %track.kind(), "ignoring an extra remote track");
            }
            Box::pin(async {})
        }));
    }

    // The events channel, once the client's one is open.
    let (channel_tx, channel_rx) = watch::channel::<Option<Arc<RTCDataChannel>>>(None);
    let channel_tx = Arc::new(channel_tx);
    {
        let closed = closed.clone();
        let progress_tx = Arc::clone(&progress_tx);
        let claimed = AtomicBool::new(false);
        pc.on_data_channel(Box::new(move |channel| {
            if channel.label() != DATA_CHANNEL_LABEL || claimed.swap(true, Ordering::SeqCst) {
                tracing::debug!(label = channel.label(), "ignoring an extra data channel");
            } else {
                wire_channel(&channel, data_in.clone(), closed.clone());
                let opened = Arc::clone(&channel);
                let channel_tx = Arc::clone(&channel_tx);
                let progress_tx = Arc::clone(&progress_tx);
                channel.on_open(Box::new(move || {
                    channel_tx.send_replace(Some(opened));
                    progress_tx.send_modify(|p| p.channel_open = true);
                    Box::pin(async {})
                }));
            }
            Box::pin(async {})
        }));
    }

    // Our audio: added before the offer is applied, so that webrtc-rs pairs it with the
    // offer's audio transceiver instead of adding one the answer cannot carry.
    let track = Arc::new(TrackLocalStaticSample::new(
        opus_capability(),
        "agent-audio".to_owned(),
        "mka1-voice-agent".to_owned(),
    ));
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>)
        .await
        .map_err(PeerError::Internal)?;

    pc.set_remote_description(offer)
        .await
        .map_err(PeerError::Negotiation)?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(PeerError::Negotiation)?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(answer)
        .await
        .map_err(PeerError::Negotiation)?;
    if tokio::time::timeout(GATHERING_TIMEOUT, gathered.recv())
        .await
        .is_err()
    {
        return Err(PeerError::Gathering);
    }
    let answer = pc
        .local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(PeerError::Gathering)?;

    tokio::spawn(drain_rtcp(sender, closed.clone()));
    tokio::spawn(send_audio(track, audio_out, closed.clone()));
    tokio::spawn(send_events(data_out, channel_rx, has_data, closed.clone()));

    Ok(AnsweredPeer {
        answer,
        pc: Arc::clone(pc),
        progress,
        needs_channel: has_data,
        closed,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OFFER_HEAD: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    #[test]
    fn the_summary_finds_opus_and_data() {
        let sdp = format!(
            "{OFFER_HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
        );
        let s = summarize(&RTCSessionDescription::offer(sdp).unwrap()).unwrap();
        assert!(s.has_audio && s.audio_has_opus && s.has_data);

        let pcmu_only = format!(
            "{OFFER_HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtpmap:0 PCMU/8000\r\n"
        );
        let s = summarize(&RTCSessionDescription::offer(pcmu_only).unwrap()).unwrap();
        assert!(s.has_audio && !s.audio_has_opus && !s.has_data);
    }

    #[tokio::test]
    async fn offers_without_opus_audio_are_refused_before_any_socket_opens() {
        let video_only = format!(
            "{OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtpmap:96 VP8/90000\r\n"
        );
        let (_link, end) = super::super::link::MediaLink::pair();
        let err = answer_offer(video_only, end).await.err().unwrap();
        assert!(matches!(err, PeerError::NoAudio), "{err}");
        assert!(err.is_client_error());

        let (_link, end) = super::super::link::MediaLink::pair();
        let err = answer_offer("not sdp".into(), end).await.err().unwrap();
        assert!(matches!(err, PeerError::InvalidOffer(_)), "{err}");
    }
}
