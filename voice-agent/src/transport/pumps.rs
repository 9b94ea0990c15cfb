//! The tasks and callbacks that move media and messages between a peer connection and
//! a [`TransportEnd`](super::link::TransportEnd). None of them ever waits for the
//! session: received items go through [`DroppingSender`]s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::media::Sample;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;
use webrtc::track::track_remote::TrackRemote;

use super::link::{DroppingSender, Push};

/// Duration of one outgoing packet (the session sends 20 ms Opus frames).
const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Text messages in; the channel closing ends the call (browsers close it with the
/// peer connection, often before ICE notices anything).
pub(super) fn wire_channel(
    channel: &Arc<RTCDataChannel>,
    data_in: DroppingSender<String>,
    closed: CancellationToken,
) {
    channel.on_message(Box::new(move |message: DataChannelMessage| {
        if !message.is_string {
            tracing::debug!(bytes = message.data.len(), "ignoring a binary data message");
        } else {
            match String::from_utf8(message.data.to_vec()) {
                Ok(text) => {
                    let _ = data_in.push(text);
                }
                Err(_) => tracing::debug!("ignoring a text message that is not UTF-8"),
            }
        }
        Box::pin(async {})
    }));
    channel.on_close(Box::new(move || {
        tracing::debug!("the events data channel closed");
        closed.cancel();
        Box::pin(async {})
    }));
}

/// Received RTP → Opus payloads for the session.
pub(super) async fn forward_received_audio(
    track: Arc<TrackRemote>,
    audio_in: DroppingSender<Bytes>,
    closed: CancellationToken,
) {
    loop {
        let packet = tokio::select! {
            () = closed.cancelled() => break,
            packet = track.read_rtp() => packet,
        };
        match packet {
            Ok((packet, _)) => {
                // Empty payloads are padding or keep-alives, not audio.
                if packet.payload.is_empty() {
                    continue;
                }
                if audio_in.push(packet.payload) == Push::Closed {
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "the remote audio track ended");
                break;
            }
        }
    }
    let dropped = audio_in.dropped();
    if dropped > 0 {
        tracing::info!(
            dropped,
            "received audio packets dropped: the session fell behind"
        );
    }
}

/// The session's Opus packets → 20 ms samples on our track. The session paces them.
pub(super) async fn send_audio(
    track: Arc<TrackLocalStaticSample>,
    mut audio_out: mpsc::Receiver<Bytes>,
    closed: CancellationToken,
) {
    loop {
        let packet = tokio::select! {
            () = closed.cancelled() => break,
            packet = audio_out.recv() => packet,
        };
        let Some(data) = packet else {
            // Every `audio_out` sender is gone: the session is over, so is the call.
            tracing::debug!("the session dropped its audio sender: hanging up");
            closed.cancel();
            break;
        };
        let sample = Sample {
            data,
            duration: FRAME_DURATION,
            ..Default::default()
        };
        if let Err(e) = track.write_sample(&sample).await {
            tracing::debug!(error = %e, "sending an audio packet failed");
        }
    }
}

/// Reads (and discards) RTCP for our sender: webrtc-rs' interceptors (receiver reports,
/// NACK) only run while someone reads.
pub(super) async fn drain_rtcp(sender: Arc<RTCRtpSender>, closed: CancellationToken) {
    let mut buffer = vec![0u8; 1500];
    loop {
        tokio::select! {
            () = closed.cancelled() => break,
            result = sender.read(&mut buffer) => if result.is_err() { break },
        }
    }
}

/// The session's events → the data channel. Without a negotiated channel (an offer with
/// no data section) they are dropped; with one, the session only starts once it is
/// open, so nothing is waiting here.
pub(super) async fn send_events(
    mut data_out: mpsc::Receiver<String>,
    channel: watch::Receiver<Option<Arc<RTCDataChannel>>>,
    has_channel: bool,
    closed: CancellationToken,
) {
    let mut dropped: u64 = 0;
    loop {
        let message = tokio::select! {
            () = closed.cancelled() => break,
            message = data_out.recv() => message,
        };
        let Some(text) = message else { break };
        let open = channel.borrow().clone();
        match open {
            Some(open) => {
                if let Err(e) = open.send_text(text).await {
                    tracing::debug!(error = %e, "sending an event failed");
                }
            }
            None => {
                dropped += 1;
                if dropped == 1 {
                    tracing::debug!(
                        has_channel,
                        "no open events data channel: dropping events for this peer"
                    );
                }
            }
        }
    }
}
