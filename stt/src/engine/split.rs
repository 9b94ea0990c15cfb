//! Long input, cut into chunks at its quietest moments.
//!
//! Whisper's own long-form decode slides a 30 s window (1500 encoder positions) over the
//! input, and each window costs a full encode even when the speech in it is short. The
//! encoder is cheaper per second of audio on a chunk of 10–15 s with a trimmed context
//! ([`super::plan`]): tiny.en, 2 threads, on the benchmark's minute of LibriVox speech,
//! 47–49 ms of decode per second of audio for 10 and 15 s chunks, against 55 for 20 s,
//! 68 for 25–28 s and 98 for the windowed decode of the whole minute (BENCHMARKS.md,
//! "Long input in chunks").
//!
//! So input longer than [`LONG_INPUT`] is cut into chunks of about [`TARGET`], each cut at
//! the quietest [`QUIET`] stretch near its ideal place: a pause between words or
//! sentences in speech, so no word is split (whisper's windows, by contrast, are cut
//! wherever 30 s ends, then re-aligned on the last timestamp).

use std::ops::Range;

use super::SAMPLE_RATE;

const SECOND: usize = SAMPLE_RATE as usize;

/// Input up to this long is decoded whole (one trimmed decode).
pub(crate) const LONG_INPUT: usize = 15 * SECOND;

/// Chunk length aimed at.
const TARGET: usize = 12 * SECOND;

/// How far from its ideal place a cut may move to find a quiet moment.
const SLACK: usize = 3 * SECOND;

/// Energy is measured over frames of 10 ms…
const FRAME: usize = SECOND / 100;

/// …and the cut goes in the middle of the quietest 200 ms (20 frames): long enough to be
/// a pause rather than a stop consonant inside a word.
const QUIET: usize = 20;

/// The chunks of `samples`: one range for input up to [`LONG_INPUT`], else consecutive
/// ranges covering it, each cut in a quiet moment.
pub(crate) fn chunks(samples: &[f32]) -> Vec<Range<usize>> {
    let len = samples.len();
    if len <= LONG_INPUT {
        return std::iter::once(0..len).collect();
    }
    let n = len.div_ceil(TARGET);
    let ideal = len / n;
    // A chunk never shrinks below a third of the ideal length.
    let slack = SLACK.min(ideal / 3);
    let mut cuts = Vec::with_capacity(n + 1);
    cuts.push(0);
    for k in 1..n {
        let at = k * ideal;
        cuts.push(quietest(samples, at - slack, at + slack));
    }
    cuts.push(len);
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// The sample in the middle of the quietest [`QUIET`] frames of `samples[from..to]`.
fn quietest(samples: &[f32], from: usize, to: usize) -> usize {
    let energy: Vec<f32> = samples[from..to]
        .chunks(FRAME)
        .map(|f| f.iter().map(|s| s * s).sum())
        .collect();
    if energy.len() <= QUIET {
        return from + (to - from) / 2;
    }
    // Sliding sum over QUIET frames; the first minimum wins.
    let mut sum: f32 = energy[..QUIET].iter().sum();
    let (mut best, mut best_at) = (sum, 0);
    for i in QUIET..energy.len() {
        sum += energy[i] - energy[i - QUIET];
        if sum < best {
            (best, best_at) = (sum, i + 1 - QUIET);
        }
    }
    from + (best_at + QUIET / 2) * FRAME
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady tone (standing in for speech) with silences of `gap` seconds starting at
    /// each of `gaps`.
    fn speech_with_gaps(seconds: f32, gaps: &[f32], gap: f32) -> Vec<f32> {
        let n = (seconds * SECOND as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / SECOND as f32;
                if gaps.iter().any(|g| t >= *g && t < g + gap) {
                    0.0
                } else {
                    0.3 * (t * 440.0 * std::f32::consts::TAU).sin()
                }
            })
            .collect()
    }

    #[test]
    fn short_input_is_one_chunk() {
        let whole =
            |len: usize| chunks(&vec![0.0; len]) == std::iter::once(0..len).collect::<Vec<_>>();
        assert!(whole(3 * SECOND));
        assert!(whole(LONG_INPUT));
        assert!(whole(0));
    }

    #[test]
    fn cuts_land_in_the_pauses_near_their_ideal_place() {
        // 60 s: five chunks of ~12 s; pauses of 300 ms at 10.5, 25, 37.2 and 47 s, and
        // decoys farther than the slack from any ideal cut.
        let audio = speech_with_gaps(60.0, &[5.0, 10.5, 18.0, 25.0, 37.2, 47.0], 0.3);
        let c = chunks(&audio);
        assert_eq!(c.len(), 5, "{c:?}");
        let cut_seconds: Vec<f32> = c[1..]
            .iter()
            .map(|r| r.start as f32 / SECOND as f32)
            .collect();
        for (got, pause) in cut_seconds.iter().zip([10.5, 25.0, 37.2, 47.0]) {
            assert!(
                *got >= pause && *got <= pause + 0.3,
                "cut at {got} s, pause at {pause} s"
            );
        }
        // Consecutive, covering everything.
        assert_eq!(c[0].start, 0);
        assert_eq!(c[4].end, audio.len());
        assert!(c.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn no_pause_still_cuts_within_the_slack() {
        let audio = speech_with_gaps(40.0, &[], 0.0);
        let c = chunks(&audio);
        assert_eq!(c.len(), 4);
        for (k, r) in c[1..].iter().enumerate() {
            let ideal = (k + 1) * 10 * SECOND;
            assert!(r.start.abs_diff(ideal) <= SLACK, "{r:?}");
        }
    }

    #[test]
    fn just_over_the_limit_gives_two_balanced_chunks() {
        let audio = speech_with_gaps(15.5, &[7.0], 0.25);
        let c = chunks(&audio);
        assert_eq!(c.len(), 2);
        let cut = c[1].start as f32 / SECOND as f32;
        assert!((7.0..=7.25).contains(&cut), "{cut}");
    }
}
