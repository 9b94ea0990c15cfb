//! The transport-neutral link between a media transport and a voice session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Received Opus packets the session may fall behind by before new ones are dropped:
/// 50 packets of 20 ms, one second of speech.
pub const AUDIO_IN_CAPACITY: usize = 50;
/// Outgoing Opus packets queued in the transport. Small on purpose: the session paces
/// audio in real time, so a deep queue would only delay barge-in.
pub const AUDIO_OUT_CAPACITY: usize = 8;
/// Text messages queued in each direction.
pub const DATA_CAPACITY: usize = 64;

/// What a voice session holds of a call: bounded channels to and from the peer, and a
/// token that fires when the call is over.
///
/// The transport never waits for the session: when `audio_in` or `data_in` is full, the
/// newest item is dropped (and counted) rather than stalling the network stack.
#[derive(Debug)]
pub struct MediaLink {
    /// Received Opus packets (48 kHz, as the peer encoded them): one RTP payload each.
    pub audio_in: mpsc::Receiver<Bytes>,
    /// One 20 ms Opus packet per item; the transport sends each as one 20 ms sample at
    /// once, so the session paces them in real time.
    pub audio_out: mpsc::Sender<Bytes>,
    /// Text messages from the peer (its data channel).
    pub data_in: mpsc::Receiver<String>,
    /// JSON event text for the peer.
    pub data_out: mpsc::Sender<String>,
    /// Fires when the call is over: the peer went away (ICE failed, connection closed,
    /// data channel closed). The session cancels it to hang up; dropping every
    /// `audio_out` sender (the whole link, when the session ends) hangs up too.
    pub closed: CancellationToken,
}

/// The transport's side of a [`MediaLink`].
#[derive(Debug)]
pub struct TransportEnd {
    /// Where received Opus packets go.
    pub audio_in: DroppingSender<Bytes>,
    /// The session's outgoing Opus packets.
    pub audio_out: mpsc::Receiver<Bytes>,
    /// Where received text messages go.
    pub data_in: DroppingSender<String>,
    /// The session's outgoing events.
    pub data_out: mpsc::Receiver<String>,
    /// The same token as [`MediaLink::closed`].
    pub closed: CancellationToken,
}

impl MediaLink {
    /// A new link and the transport's end of it, with the capacities above.
    pub fn pair() -> (Self, TransportEnd) {
        let (audio_in_tx, audio_in) = mpsc::channel(AUDIO_IN_CAPACITY);
        let (audio_out, audio_out_rx) = mpsc::channel(AUDIO_OUT_CAPACITY);
        let (data_in_tx, data_in) = mpsc::channel(DATA_CAPACITY);
        let (data_out, data_out_rx) = mpsc::channel(DATA_CAPACITY);
        let closed = CancellationToken::new();
        (
            Self {
                audio_in,
                audio_out,
                data_in,
                data_out,
                closed: closed.clone(),
            },
            TransportEnd {
                audio_in: DroppingSender::new(audio_in_tx, "audio_in"),
                audio_out: audio_out_rx,
                data_in: DroppingSender::new(data_in_tx, "data_in"),
                data_out: data_out_rx,
                closed,
            },
        )
    }
}

/// What happened to an item handed to a [`DroppingSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued for the session.
    Queued,
    /// The queue was full: the item was dropped and counted.
    Dropped,
    /// The session is gone (its receiver was dropped).
    Closed,
}

/// A sender for network callbacks: it never waits, and drops the newest item when the
/// queue is full. Dropping the newest keeps what is queued in order, and a missing Opus
/// packet is concealed by the decoder like any lost packet.
#[derive(Debug, Clone)]
pub struct DroppingSender<T> {
    tx: mpsc::Sender<T>,
    dropped: Arc<AtomicU64>,
    what: &'static str,
}

/// Log a full queue on the first drop and then once per this many, so a stalled session
/// cannot flood the log.
const DROP_LOG_EVERY: u64 = 50;

impl<T> DroppingSender<T> {
    /// Wraps `tx`; `what` names the queue in logs.
    pub fn new(tx: mpsc::Sender<T>, what: &'static str) -> Self {
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            what,
        }
    }

    /// Queues `item` if there is room, else drops it.
    pub fn push(&self, item: T) -> Push {
        match self.tx.try_send(item) {
            Ok(()) => Push::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if total % DROP_LOG_EVERY == 1 {
                    tracing::debug!(
                        queue = self.what,
                        dropped = total,
                        "the session is not keeping up: dropping the newest item"
                    );
                }
                Push::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Push::Closed,
        }
    }

    /// Items dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_the_newest_and_counts() {
        let (mut link, end) = MediaLink::pair();
        for i in 0..AUDIO_IN_CAPACITY + 3 {
            let expected = if i < AUDIO_IN_CAPACITY {
                Push::Queued
            } else {
                Push::Dropped
            };
            assert_eq!(end.audio_in.push(Bytes::from(vec![i as u8])), expected);
        }
        assert_eq!(end.audio_in.dropped(), 3);
        // The oldest are kept, in order.
        assert_eq!(link.audio_in.recv().await.unwrap()[0], 0);
        assert_eq!(link.audio_in.recv().await.unwrap()[0], 1);
        drop(link);
        assert_eq!(end.data_in.push("x".into()), Push::Closed);
    }

    #[test]
    fn both_ends_share_the_closed_token() {
        let (link, end) = MediaLink::pair();
        link.closed.cancel();
        assert!(end.closed.is_cancelled());
    }
}
