//! Placeholder crate: see the README for the issue that fills it.
