//! Media transports: how a voice session's audio and events reach a person.
//!
//! A session never sees WebRTC (or LiveKit) itself: it consumes a [`MediaLink`], a set
//! of bounded channels (Opus packets in and out, JSON text in and out) and a
//! cancellation token that fires when the call is over. Each transport fills the other
//! end ([`TransportEnd`]).
//!
//! The direct browser transport lives here: [`router`] serves
//! `POST` [`OFFER_PATH`], a non-trickle WebRTC offer/answer exchange authorised by a
//! session token from the token service, and hands each connected peer to a
//! [`SessionStarter`]. [`page_router`] serves the talk page at `/`.

mod crypto;
mod link;
mod page;
mod peer;
mod pumps;
mod signaling;

pub use crypto::install_crypto_provider;
pub use link::{
    AUDIO_IN_CAPACITY, AUDIO_OUT_CAPACITY, DATA_CAPACITY, DroppingSender, MediaLink, Push,
    TransportEnd,
};
pub use page::{PAGE_PATH, page_router};
pub use peer::{DATA_CHANNEL_LABEL, OPUS_FMTP, OPUS_PAYLOAD_TYPE};
pub use signaling::{
    MAX_OFFER_BYTES, OFFER_PATH, PeerInfo, SessionStarter, WebRtcLimits, WebRtcState, router,
};
