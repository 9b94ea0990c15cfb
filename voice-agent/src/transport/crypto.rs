//! The process-wide rustls crypto provider.
//!
//! webrtc-rs' DTLS builds rustls certificate verifiers, which ask rustls for the process
//! default provider. rustls picks one by itself only when exactly one provider feature is
//! compiled in; the workspace pulls in `ring` (webrtc) and may pull in `aws-lc-rs`
//! (reqwest's defaults elsewhere), and then every DTLS handshake would panic inside
//! webrtc-rs. Installing one provider before the first peer connection avoids that.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs rustls' `ring` provider as the process default, unless a default is already
/// installed (by the binary, or an earlier call): any installed provider serves DTLS,
/// so a second installation is neither needed nor attempted. Safe to call any number of
/// times from any thread; [`crate::transport::WebRtcState::new`] calls it.
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a default is then in place.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_keeps_one_default() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
