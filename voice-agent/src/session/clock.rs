//! When each moment of the user's audio arrived, so positions on the recognizer's
//! timeline (milliseconds of input) become instants for the latency metrics.

use std::collections::VecDeque;
use std::time::Instant;

/// Arrivals remembered: 30 s of 20 ms packets, far more than an utterance needs.
const MAX_ENTRIES: usize = 1_500;

/// Maps input positions to arrival instants.
#[derive(Debug, Default)]
pub(crate) struct InputClock {
    /// Input received so far, in 48 kHz samples.
    received: u64,
    /// `(end of a packet in ms, when it arrived)`, oldest first.
    arrivals: VecDeque<(u64, Instant)>,
}

impl InputClock {
    /// A packet of `samples_48k` samples arrived at `at`.
    pub(crate) fn record(&mut self, samples_48k: usize, at: Instant) {
        self.received += samples_48k as u64;
        if self.arrivals.len() == MAX_ENTRIES {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((self.received / 48, at));
    }

    /// When the packet holding input position `ms` arrived; `None` if it is older than
    /// what is remembered or has not arrived yet.
    pub(crate) fn arrival_of(&self, ms: u64) -> Option<Instant> {
        let first_end = self.arrivals.front()?.0;
        if ms + 100 < first_end {
            return None;
        }
        let index = self.arrivals.partition_point(|(end, _)| *end < ms);
        self.arrivals.get(index).map(|(_, at)| *at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn positions_map_to_the_packet_that_held_them() {
        let t0 = Instant::now();
        let mut clock = InputClock::default();
        for i in 0..10u32 {
            clock.record(960, t0 + Duration::from_millis(u64::from(i) * 20));
        }
        assert_eq!(clock.arrival_of(0), Some(t0));
        assert_eq!(clock.arrival_of(20), Some(t0));
        assert_eq!(clock.arrival_of(21), Some(t0 + Duration::from_millis(20)));
        assert_eq!(clock.arrival_of(200), Some(t0 + Duration::from_millis(180)));
        assert_eq!(clock.arrival_of(201), None);
    }
}
