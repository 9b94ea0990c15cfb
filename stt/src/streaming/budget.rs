//! Whisper threads shared by the streaming recognizers of a process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shares the cores among the streaming recognizers of a process. While one stream is
/// open, its decodes use `max_threads`; while several are, every decode uses one.
/// whisper.cpp's threads spin while they wait for each other. On 2 cores, four voice
/// sessions that each decoded with 2 threads went from 1.2 s to 5.5 s end to end.
/// A lone session with 2 threads answers about 300 ms sooner (BENCHMARKS.md, "Voice
/// agent: concurrent sessions"). Giving 2 threads to any decode that happened to start
/// alone also kept every frame on time, but it made p95 worse with 4 to 8 sessions.
/// So the extra threads go only to a stream that is alone.
#[derive(Debug)]
pub struct DecodeBudget {
    max_threads: usize,
    streams: AtomicUsize,
}

impl DecodeBudget {
    /// A budget that lets a lone stream decode with `max_threads` (at least 1).
    pub fn new(max_threads: usize) -> Self {
        Self {
            max_threads: max_threads.max(1),
            streams: AtomicUsize::new(0),
        }
    }

    /// Counts an open stream until the returned guard is dropped.
    pub fn open(self: &Arc<Self>) -> OpenStream {
        self.streams.fetch_add(1, Ordering::SeqCst);
        OpenStream {
            budget: Arc::clone(self),
        }
    }

    /// The threads a decode starting now may use.
    pub fn threads(&self) -> usize {
        if self.streams.load(Ordering::SeqCst) <= 1 {
            self.max_threads
        } else {
            1
        }
    }
}

/// A stream counted by a [`DecodeBudget`] (see [`DecodeBudget::open`]).
#[derive(Debug)]
pub struct OpenStream {
    budget: Arc<DecodeBudget>,
}

impl OpenStream {
    /// The threads a decode of this stream starting now may use.
    pub fn threads(&self) -> usize {
        self.budget.threads()
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.budget.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_stream_gets_every_thread_and_crowded_ones_get_one() {
        let budget = Arc::new(DecodeBudget::new(2));
        let first = budget.open();
        assert_eq!(first.threads(), 2);
        let second = budget.open();
        assert_eq!((first.threads(), second.threads()), (1, 1));
        drop(first);
        assert_eq!(second.threads(), 2);
        assert_eq!(Arc::new(DecodeBudget::new(0)).open().threads(), 1);
    }
}
