//! The recent audio of a stream, addressed by absolute sample positions.

/// Dead samples tolerated at the front before they are dropped: dropping moves the rest of
/// the buffer, so it is done in batches rather than on every chunk.
const COMPACT_AFTER: usize = 16_000;

/// The stream's audio from `start` on: what the current utterance (and the pre-roll of the
/// next one) may still need. Positions are samples since the start of the stream.
#[derive(Debug, Default)]
pub(crate) struct AudioTimeline {
    samples: Vec<f32>,
    /// Absolute position of `samples[0]`.
    start: u64,
    /// Samples before this position are no longer needed (dropped lazily).
    keep_from: u64,
}

impl AudioTimeline {
    /// Position one past the newest sample.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }

    /// Appends samples (non-finite ones become silence, so Whisper never sees NaN).
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.samples.extend(samples.iter().map(|&s| {
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        }));
    }

    /// The audio between two positions, clamped to what is held.
    pub(crate) fn slice(&self, from: u64, to: u64) -> &[f32] {
        let index = |pos: u64| {
            usize::try_from(pos.saturating_sub(self.start))
                .unwrap_or(usize::MAX)
                .min(self.samples.len())
        };
        let (a, b) = (index(from), index(to));
        self.samples.get(a..b.max(a)).unwrap_or(&[])
    }

    /// Lets go of the audio before `pos`.
    pub(crate) fn forget_before(&mut self, pos: u64) {
        self.keep_from = self.keep_from.max(pos.min(self.end()));
        let dead = usize::try_from(self.keep_from - self.start).unwrap_or(usize::MAX);
        if dead >= COMPACT_AFTER.max(self.samples.len() / 2) {
            let dead = dead.min(self.samples.len());
            self.samples.drain(..dead);
            self.start += dead as u64;
        }
    }

    /// Drops everything and restarts the timeline at 0.
    pub(crate) fn reset(&mut self) {
        self.samples.clear();
        self.start = 0;
        self.keep_from = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_compaction() {
        let mut t = AudioTimeline::default();
        let ramp: Vec<f32> = (0..40_000).map(|i| i as f32 / 40_000.0).collect();
        t.push(&ramp);
        t.forget_before(30_000);
        assert_eq!(t.end(), 40_000);
        assert_eq!(t.slice(30_000, 30_002), &ramp[30_000..30_002]);
        // Before the kept range and past the end: clamped, never a panic.
        assert!(t.slice(0, 10).len() <= 10);
        assert_eq!(t.slice(39_999, 50_000), &ramp[39_999..]);
        assert!(t.slice(45_000, 44_000).is_empty());
        t.push(&[f32::NAN, f32::INFINITY, 3.0]);
        assert_eq!(t.slice(40_000, 40_003), &[0.0, 0.0, 1.0]);
    }
}
