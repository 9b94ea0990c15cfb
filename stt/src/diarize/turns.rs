//! From labelled units to speaker turns: smoothing, change-point placement, and merging
//! a speaker's consecutive stretches into one turn.

use super::cluster::{RIDGE, Unit, frames_between};
use super::gaussian::{FrameStats, Gaussian};
use super::mfcc::DIM;
use super::{Diarization, DiarizeConfig, SpeakerTurn};

/// Samples per millisecond at 16 kHz.
const SAMPLES_PER_MS: u64 = 16;
/// Samples per MFCC frame hop (10 ms).
const HOP_SAMPLES: u64 = super::mfcc::HOP as u64;

/// A unit's span and label while turns are assembled.
#[derive(Debug, Clone, Copy)]
struct Piece {
    region: usize,
    start_sample: u64,
    end_sample: u64,
    label: usize,
}

/// Builds the turns of `units` labelled by `labels` (one label per unit).
pub fn build(
    units: &[Unit],
    labels: &[usize],
    features: &[[f32; DIM]],
    voiced: &[bool],
    config: &DiarizeConfig,
) -> Diarization {
    let mut pieces: Vec<Piece> = units
        .iter()
        .zip(labels)
        .map(|(unit, &label)| Piece {
            region: unit.region,
            start_sample: unit.start_sample,
            end_sample: unit.end_sample,
            label,
        })
        .collect();
    smooth(&mut pieces, config.min_turn_ms);
    let models = speaker_models(units, labels);
    place_changes(&mut pieces, features, voiced, &models);
    assemble(&pieces, config.max_pause_ms)
}

/// Relabels a speaker's run that lies inside one region, between two runs of one other
/// speaker in the same region, and is shorter than `min_turn_ms`. Shortest runs go first,
/// so a long run is never flipped because of a shorter one beside it.
fn smooth(pieces: &mut [Piece], min_turn_ms: u32) {
    let min_samples = u64::from(min_turn_ms) * SAMPLES_PER_MS;
    loop {
        let runs = runs(pieces);
        let candidate = runs
            .iter()
            .enumerate()
            .filter(|(k, run)| {
                let (Some(before), Some(after)) =
                    (k.checked_sub(1).and_then(|p| runs.get(p)), runs.get(k + 1))
                else {
                    return false;
                };
                let same_region = pieces[before.first].region == pieces[run.first].region
                    && pieces[after.last].region == pieces[run.first].region;
                same_region
                    && pieces[before.first].label == pieces[after.first].label
                    && run.samples(pieces) < min_samples
            })
            .min_by_key(|(_, run)| run.samples(pieces));
        let Some((k, run)) = candidate else { break };
        let Some(label) = k
            .checked_sub(1)
            .and_then(|p| runs.get(p))
            .map(|r| pieces[r.first].label)
        else {
            break;
        };
        for piece in &mut pieces[run.first..=run.last] {
            piece.label = label;
        }
    }
}

/// A maximal stretch of consecutive pieces with one label within one region.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: usize,
    last: usize,
}

impl Run {
    fn samples(&self, pieces: &[Piece]) -> u64 {
        pieces[self.last].end_sample - pieces[self.first].start_sample
    }
}

fn runs(pieces: &[Piece]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        match out.last_mut() {
            Some(run)
                if pieces[run.last].label == piece.label
                    && pieces[run.last].region == piece.region =>
            {
                run.last = index;
            }
            _ => out.push(Run {
                first: index,
                last: index,
            }),
        }
    }
    out
}

/// One Gaussian per label from all of its units' voiced frames.
fn speaker_models(units: &[Unit], labels: &[usize]) -> Vec<Option<Gaussian>> {
    let count = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut stats = vec![FrameStats::default(); count];
    for (unit, &label) in units.iter().zip(labels) {
        if let Some(slot) = stats.get_mut(label) {
            slot.merge(&unit.stats);
        }
    }
    stats.iter().map(|s| s.gaussian(RIDGE)).collect()
}

/// Moves each change of speaker between two adjacent pieces of one region to the frame
/// where the summed log-likelihood of "first speaker before, second after" peaks. The
/// unit cut was arbitrary; the voices themselves say where the change is.
fn place_changes(
    pieces: &mut [Piece],
    features: &[[f32; DIM]],
    voiced: &[bool],
    models: &[Option<Gaussian>],
) {
    for index in 1..pieces.len() {
        let (left, right) = (pieces[index - 1], pieces[index]);
        if left.region != right.region || left.label == right.label {
            continue;
        }
        let (Some(Some(before)), Some(Some(after))) =
            (models.get(left.label), models.get(right.label))
        else {
            continue;
        };
        // Gain of the right speaker over the left one, frame by frame (unvoiced frames
        // gain nothing); the change point maximises the gain summed from it onwards.
        let frames: Vec<usize> =
            frames_between(left.start_sample, right.end_sample, features.len()).collect();
        let mut suffix = vec![0.0f64; frames.len() + 1];
        for (position, &i) in frames.iter().enumerate().rev() {
            let gain = match (features.get(i), voiced.get(i)) {
                (Some(frame), Some(true)) => {
                    after.log_likelihood(frame) - before.log_likelihood(frame)
                }
                _ => 0.0,
            };
            suffix[position] = suffix[position + 1] + gain;
        }
        // Both pieces keep at least one frame.
        let candidates = 1..frames.len();
        let Some(best) = candidates.clone().map(|p| suffix[p]).max_by(f64::total_cmp) else {
            continue;
        };
        // A pause gains nothing, so the best value often holds across it: put the change
        // in the middle of the pause rather than at one of its edges.
        let positions: Vec<usize> = candidates.filter(|&p| suffix[p] == best).collect();
        let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
            continue;
        };
        let low = (first..=last)
            .rev()
            .take_while(|&p| suffix[p] == best)
            .last()
            .unwrap_or(last);
        let Some(&frame) = frames.get((low + last) / 2) else {
            continue;
        };
        // The boundary sits half a hop before the centre of the first frame given to the
        // right speaker, kept strictly inside the two pieces.
        let centre = frame as u64 * HOP_SAMPLES + (super::mfcc::FRAME_LEN as u64) / 2;
        let boundary = centre
            .saturating_sub(HOP_SAMPLES / 2)
            .max(left.start_sample + 1)
            .min(right.end_sample.saturating_sub(1));
        if boundary <= left.start_sample || boundary >= right.end_sample {
            continue;
        }
        pieces[index - 1].end_sample = boundary;
        pieces[index].start_sample = boundary;
    }
}

/// Joins consecutive pieces of one speaker across pauses up to `max_pause_ms`, then
/// numbers speakers in order of first appearance.
fn assemble(pieces: &[Piece], max_pause_ms: u32) -> Diarization {
    let max_pause = u64::from(max_pause_ms) * SAMPLES_PER_MS;
    let mut raw: Vec<(usize, u64, u64)> = Vec::new();
    for piece in pieces {
        match raw.last_mut() {
            Some((label, _, end))
                if *label == piece.label
                    && piece.start_sample.saturating_sub(*end) <= max_pause =>
            {
                *end = (*end).max(piece.end_sample);
            }
            _ => raw.push((piece.label, piece.start_sample, piece.end_sample)),
        }
    }
    let mut order: Vec<usize> = Vec::new();
    let turns = raw
        .into_iter()
        .map(|(label, start, end)| {
            let speaker = order.iter().position(|&l| l == label).unwrap_or_else(|| {
                order.push(label);
                order.len() - 1
            });
            SpeakerTurn {
                speaker,
                start_ms: start / SAMPLES_PER_MS,
                end_ms: end / SAMPLES_PER_MS,
            }
        })
        .collect();
    Diarization {
        speakers: order.len(),
        turns,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::diarize::gaussian::synthetic_frames;

    const SECOND: u64 = 16_000;

    fn piece(region: usize, from_ms: u64, to_ms: u64, label: usize) -> Piece {
        Piece {
            region,
            start_sample: from_ms * SAMPLES_PER_MS,
            end_sample: to_ms * SAMPLES_PER_MS,
            label,
        }
    }

    fn labels(pieces: &[Piece]) -> Vec<usize> {
        pieces.iter().map(|p| p.label).collect()
    }

    #[test]
    fn a_short_flip_inside_one_stretch_is_smoothed() {
        let mut pieces = [
            piece(0, 0, 2_000, 0),
            piece(0, 2_000, 2_600, 1),
            piece(0, 2_600, 4_600, 0),
        ];
        smooth(&mut pieces, 1_000);
        assert_eq!(labels(&pieces), [0, 0, 0]);
    }

    #[test]
    fn a_short_turn_between_pauses_is_kept() {
        // The middle speaker has a region of their own: a real interjection.
        let mut pieces = [
            piece(0, 0, 2_000, 0),
            piece(1, 2_500, 3_000, 1),
            piece(2, 3_500, 5_500, 0),
        ];
        smooth(&mut pieces, 1_000);
        assert_eq!(labels(&pieces), [0, 1, 0]);
        // And a long run inside one stretch is a real change too.
        let mut pieces = [
            piece(0, 0, 2_000, 0),
            piece(0, 2_000, 4_000, 1),
            piece(0, 4_000, 6_000, 0),
        ];
        smooth(&mut pieces, 1_000);
        assert_eq!(labels(&pieces), [0, 1, 0]);
    }

    #[test]
    fn turns_join_short_pauses_and_number_speakers_by_appearance() {
        let pieces = [
            piece(0, 0, 1_000, 7),
            piece(1, 1_500, 2_500, 7),
            piece(2, 3_000, 4_000, 2),
            piece(3, 9_000, 10_000, 2),
            piece(4, 10_200, 11_000, 7),
        ];
        let result = assemble(&pieces, 2_000);
        assert_eq!(result.speakers, 2);
        let spans: Vec<_> = result
            .turns
            .iter()
            .map(|t| (t.speaker, t.start_ms, t.end_ms))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 0, 2_500),
                (1, 3_000, 4_000),
                // 5 s of silence: a new turn of the same speaker.
                (1, 9_000, 10_000),
                (0, 10_200, 11_000)
            ]
        );
    }

    #[test]
    fn a_change_inside_a_stretch_moves_to_where_the_voices_change() {
        // 3 s of speech: voice A for the first 1.2 s, voice B after; the units were cut
        // at 2 s.
        let total_frames = super::super::mfcc::Mfcc::frame_count(3 * SECOND as usize);
        let change_frame = 120 - 2; // centre of frame i is i·10 ms + 12.5 ms
        let mut features = synthetic_frames(1, 0.0, change_frame);
        features.extend(synthetic_frames(2, 3.0, total_frames - change_frame));
        let voiced = vec![true; features.len()];
        let models = vec![
            FrameStats::of(&synthetic_frames(3, 0.0, 500)).gaussian(RIDGE),
            FrameStats::of(&synthetic_frames(4, 3.0, 500)).gaussian(RIDGE),
        ];
        let mut pieces = [piece(0, 0, 2_000, 0), piece(0, 2_000, 3_000, 1)];
        place_changes(&mut pieces, &features, &voiced, &models);
        let boundary_ms = pieces[0].end_sample / SAMPLES_PER_MS;
        assert!((1_170..=1_230).contains(&boundary_ms), "{boundary_ms}");
        assert_eq!(pieces[1].start_sample, pieces[0].end_sample);
    }

    #[test]
    fn a_change_across_unvoiced_frames_lands_mid_pause() {
        // A until 1.0 s, a pause (unvoiced) until 1.6 s, B after.
        let total = super::super::mfcc::Mfcc::frame_count(3 * SECOND as usize);
        let mut features = synthetic_frames(5, 0.0, 100);
        features.extend(synthetic_frames(6, 1.5, 60));
        features.extend(synthetic_frames(7, 3.0, total - 160));
        let voiced: Vec<bool> = (0..total).map(|i| !(100..160).contains(&i)).collect();
        let models = vec![
            FrameStats::of(&synthetic_frames(8, 0.0, 500)).gaussian(RIDGE),
            FrameStats::of(&synthetic_frames(9, 3.0, 500)).gaussian(RIDGE),
        ];
        let mut pieces = [piece(0, 0, 2_000, 0), piece(0, 2_000, 3_000, 1)];
        place_changes(&mut pieces, &features, &voiced, &models);
        let boundary_ms = pieces[0].end_sample / SAMPLES_PER_MS;
        assert!((1_200..=1_400).contains(&boundary_ms), "{boundary_ms}");
    }
}
