//! Where audible sound last ended, to within 4 ms.
//!
//! Silero's windows stay voiced for a while after a voice stops (its recurrent state decays
//! over one or more 32 ms windows), so a segment's end measured in voiced windows lags the
//! real end of speech by that hangover. The end-of-turn silence the user configured then
//! starts late, and every reply comes that much later. The meter gives the tracker the end
//! of the last block that was loud compared with both the speech and the background, so
//! the silence can be counted from there ([`super::SegmentTracker::push_measured`]).

/// Samples per level block (4 ms at 16 kHz).
const BLOCK: usize = 64;
/// Blocks per background frame (32 ms): long enough to average over pitch periods.
const FRAME_BLOCKS: u32 = 8;
/// Frames per background segment (0.5 s); the background is the quietest frame of the
/// current segment and the [`SEGMENTS`] before it (minimum statistics over up to 2 s).
const SEGMENT_FRAMES: u32 = 16;
/// Past segments kept for the background estimate.
const SEGMENTS: usize = 3;
/// A block this far below the recent speech peak is not audible speech (−34 dB).
const BELOW_PEAK: f32 = 0.02;
/// A block must be this far above the background to count as sound (+12 dB).
const ABOVE_FLOOR: f32 = 4.0;
/// The background is taken as at most this fraction of the peak (−20 dB), so speech from
/// the first sample on, with no quiet frame yet, still counts as sound.
const FLOOR_MAX_OF_PEAK: f32 = 0.1;
/// Nothing quieter than this is sound (−70 dBFS), whatever the peak and background.
const ABSOLUTE_FLOOR: f32 = 3e-4;
/// The peak estimate halves after this many blocks (2 s) without a louder one.
const PEAK_HALF_LIFE_BLOCKS: f32 = 500.0;

/// Tracks the speech peak and the background level (4 ms blocks, 32 ms frames) and the
/// end of the last block loud against both. One per audio stream; positions are absolute
/// samples.
#[derive(Debug, Clone)]
pub struct SoundEndMeter {
    peak: f32,
    peak_decay: f32,
    /// Energy summed over the blocks of the frame in progress.
    frame_energy: f32,
    frame_blocks: u32,
    /// Quietest frame RMS of the segment in progress, and frames in it.
    segment_min: f32,
    segment_frames: u32,
    /// Quietest frame RMS of the last segments (`INFINITY` before there are any).
    past_mins: [f32; SEGMENTS],
    last_sound_end: u64,
}

impl Default for SoundEndMeter {
    fn default() -> Self {
        Self {
            peak: 0.0,
            peak_decay: 0.5f32.powf(1.0 / PEAK_HALF_LIFE_BLOCKS),
            frame_energy: 0.0,
            frame_blocks: 0,
            segment_min: f32::INFINITY,
            segment_frames: 0,
            past_mins: [f32::INFINITY; SEGMENTS],
            last_sound_end: 0,
        }
    }
}

impl SoundEndMeter {
    /// Measures `samples`, which start at absolute position `start` (16 kHz mono). A
    /// trailing part shorter than a block is measured as a block of its own.
    pub fn measure(&mut self, samples: &[f32], start: u64) {
        let mut block_start = start;
        for block in samples.chunks(BLOCK) {
            let block_end = block_start + block.len() as u64;
            if self.is_sound(block) {
                self.last_sound_end = self.last_sound_end.max(block_end);
            }
            block_start = block_end;
        }
    }

    /// One past the last sample of the last audible block (0 before any).
    pub fn last_sound_end(&self) -> u64 {
        self.last_sound_end
    }

    /// Back to the start of a new stream.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The background level: the quietest recent frame, capped below the peak.
    fn floor(&self) -> f32 {
        let quietest = self
            .past_mins
            .iter()
            .fold(self.segment_min, |a, &b| a.min(b));
        if quietest.is_finite() {
            quietest.min(self.peak * FLOOR_MAX_OF_PEAK)
        } else {
            0.0
        }
    }

    /// Updates the estimates with one block and judges it.
    fn is_sound(&mut self, block: &[f32]) -> bool {
        let energy = mean_square(block);
        if !energy.is_finite() {
            return false;
        }
        let level = energy.sqrt();
        self.peak = if level > self.peak {
            level
        } else {
            self.peak * self.peak_decay
        };
        self.frame_energy += energy;
        self.frame_blocks += 1;
        if self.frame_blocks == FRAME_BLOCKS {
            let frame = (self.frame_energy / FRAME_BLOCKS as f32).sqrt();
            self.segment_min = self.segment_min.min(frame);
            self.segment_frames += 1;
            self.frame_energy = 0.0;
            self.frame_blocks = 0;
            if self.segment_frames == SEGMENT_FRAMES {
                self.past_mins.rotate_right(1);
                self.past_mins[0] = self.segment_min;
                self.segment_min = f32::INFINITY;
                self.segment_frames = 0;
            }
        }
        let threshold = (self.peak * BELOW_PEAK)
            .max(self.floor() * ABOVE_FLOOR)
            .max(ABSOLUTE_FLOOR);
        level >= threshold
    }
}

fn mean_square(block: &[f32]) -> f32 {
    if block.is_empty() {
        return 0.0;
    }
    block.iter().map(|s| s * s).sum::<f32>() / block.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(len: usize, amplitude: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.2).sin() * amplitude)
            .collect()
    }

    #[test]
    fn sound_ends_where_the_voice_stops() {
        let mut meter = SoundEndMeter::default();
        let mut audio = vec![0.0; 4_000];
        audio.extend(tone(8_000, 0.3));
        audio.extend(vec![0.0; 4_000]);
        for (i, window) in audio.chunks(512).enumerate() {
            meter.measure(window, i as u64 * 512);
        }
        // To the block (4 ms) that holds the last loud sample.
        let end = meter.last_sound_end();
        assert!((12_000..12_000 + BLOCK as u64).contains(&end), "{end}");
    }

    #[test]
    fn a_quiet_tail_far_below_the_speech_is_not_sound() {
        let mut meter = SoundEndMeter::default();
        let mut audio = vec![0.0; 1_600];
        audio.extend(tone(8_000, 0.3));
        // −40 dB under the speech: room reverb, a breath.
        audio.extend(tone(2_000, 0.003));
        meter.measure(&audio, 0);
        assert_eq!(meter.last_sound_end(), 9_600);
    }

    #[test]
    fn steady_background_noise_is_not_sound_but_speech_over_it_is() {
        let mut meter = SoundEndMeter::default();
        let noise = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| if i % 2 == 0 { 0.01 } else { -0.01 })
                .collect()
        };
        let mut audio = noise(16_000);
        let speech: Vec<f32> = tone(8_000, 0.2)
            .iter()
            .zip(noise(8_000))
            .map(|(a, b)| a + b)
            .collect();
        audio.extend(speech);
        audio.extend(noise(8_000));
        meter.measure(&audio, 0);
        assert_eq!(meter.last_sound_end(), 24_000);
    }

    #[test]
    fn speech_from_the_first_sample_is_sound() {
        let mut meter = SoundEndMeter::default();
        meter.measure(&tone(16_000, 0.3), 0);
        assert_eq!(meter.last_sound_end(), 16_000);
    }

    #[test]
    fn garbage_samples_never_count_and_never_panic() {
        let mut meter = SoundEndMeter::default();
        meter.measure(&[f32::NAN; 100], 0);
        meter.measure(&[f32::INFINITY; 64], 100);
        meter.measure(&[], 164);
        assert_eq!(meter.last_sound_end(), 0);
        meter.measure(&tone(640, 0.5), 164);
        assert_eq!(meter.last_sound_end(), 804);
    }
}
