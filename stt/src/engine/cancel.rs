//! Stopping a decode that is no longer wanted (a streaming partial overtaken by the end of
//! the speech, an early final the speaker talked over).
//!
//! whisper.cpp polls an abort callback after the encoder and after each decoder step, so a
//! cancelled decode stops within one token once its encoder pass is done.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::FullParams;

/// A flag that stops the decodes it is given to (see [`crate::TranscribeOptions::cancel`]).
/// Clones share the flag; cancelling is permanent.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the decodes holding this flag (and any started with it later).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Points whisper's abort callback at this flag. The parameters must not be used after
    /// `self` is dropped: callers keep the flag alive across the `whisper_full` call that
    /// takes them.
    pub(super) fn install(&self, params: &mut FullParams<'_, '_>) {
        // whisper-rs's closure-based setter leaks its box on every call, so the plain C
        // callback is used with a pointer to the flag.
        let flag: *const AtomicBool = Arc::as_ptr(&self.0);
        #[allow(unsafe_code)]
        // SAFETY: the callback only reads an `AtomicBool` (any thread may), and the caller
        // keeps `self` (so the Arc, so the pointee) alive for as long as whisper can call it,
        // which is the duration of the `full` call the parameters are passed to.
        unsafe {
            params.set_abort_callback(Some(raised));
            params.set_abort_callback_user_data(flag.cast_mut().cast::<c_void>());
        }
    }
}

/// whisper.cpp's abort callback: the flag behind `data`.
#[allow(unsafe_code)]
unsafe extern "C" fn raised(data: *mut c_void) -> bool {
    // SAFETY: `data` is the `AtomicBool` installed by `Cancel::install`, alive for the call.
    let flag = unsafe { &*data.cast_const().cast::<AtomicBool>() };
    flag.load(Ordering::Relaxed)
}
