//! Diarization error rate (DER), as NIST's md-eval scores it: missed speech, false alarm
//! and speaker confusion over the total reference speech, after the best one-to-one
//! mapping of hypothesis speakers onto reference speakers.

use super::SpeakerTurn;

/// The parts of a DER score, in milliseconds of scored time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DerBreakdown {
    /// Reference speech scored (outside the collars), counted once per speaker.
    pub reference_ms: u64,
    /// Reference speech that the hypothesis left unlabelled.
    pub missed_ms: u64,
    /// Hypothesis speech where the reference has none (or fewer speakers).
    pub false_alarm_ms: u64,
    /// Speech given to the wrong speaker under the best mapping.
    pub confusion_ms: u64,
}

impl DerBreakdown {
    /// (missed + false alarm + confusion) / reference speech; with no reference speech,
    /// 0 when nothing was hypothesised either and infinite otherwise.
    pub fn rate(&self) -> f64 {
        let errors = self.missed_ms + self.false_alarm_ms + self.confusion_ms;
        if self.reference_ms == 0 {
            return if errors == 0 { 0.0 } else { f64::INFINITY };
        }
        errors as f64 / self.reference_ms as f64
    }
}

/// Scores `hypothesis` against `reference`. Speaker numbers need not agree: they are
/// matched one-to-one to maximise the overlap. Within `collar_ms` of every reference
/// turn's start and end nothing is scored (0 scores everything; 250 is the usual collar),
/// since a reference boundary is itself uncertain by about that much.
pub fn diarization_error_rate(
    reference: &[SpeakerTurn],
    hypothesis: &[SpeakerTurn],
    collar_ms: u64,
) -> DerBreakdown {
    let collars: Vec<(u64, u64)> = reference
        .iter()
        .flat_map(|t| [t.start_ms, t.end_ms])
        .map(|b| (b.saturating_sub(collar_ms), b.saturating_add(collar_ms)))
        .filter(|(a, b)| a < b)
        .collect();
    let mut bounds: Vec<u64> = reference
        .iter()
        .chain(hypothesis)
        .flat_map(|t| [t.start_ms, t.end_ms])
        .chain(collars.iter().flat_map(|&(a, b)| [a, b]))
        .collect();
    bounds.sort_unstable();
    bounds.dedup();

    // Elementary intervals in which nothing changes: who speaks in each, when scored.
    struct Interval {
        length: u64,
        reference: Vec<usize>,
        hypothesis: Vec<usize>,
    }
    let active = |turns: &[SpeakerTurn], at: u64| -> Vec<usize> {
        let mut speakers: Vec<usize> = turns
            .iter()
            .filter(|t| t.start_ms <= at && at < t.end_ms)
            .map(|t| t.speaker)
            .collect();
        speakers.sort_unstable();
        speakers.dedup();
        speakers
    };
    let intervals: Vec<Interval> = bounds
        .windows(2)
        .filter_map(|pair| {
            let (start, end) = (pair[0], pair[1]);
            let in_collar = collars.iter().any(|&(a, b)| a <= start && end <= b);
            (!in_collar).then(|| Interval {
                length: end - start,
                reference: active(reference, start),
                hypothesis: active(hypothesis, start),
            })
        })
        .collect();

    let ref_ids = speaker_ids(reference);
    let hyp_ids = speaker_ids(hypothesis);
    let mut overlap = vec![vec![0u64; hyp_ids.len()]; ref_ids.len()];
    for interval in &intervals {
        for r in &interval.reference {
            for h in &interval.hypothesis {
                if let (Ok(ri), Ok(hi)) = (ref_ids.binary_search(r), hyp_ids.binary_search(h)) {
                    overlap[ri][hi] += interval.length;
                }
            }
        }
    }
    let mapping = best_mapping(&overlap);

    let mut score = DerBreakdown::default();
    for interval in &intervals {
        let (n_ref, n_hyp) = (
            interval.reference.len() as u64,
            interval.hypothesis.len() as u64,
        );
        let correct = interval
            .reference
            .iter()
            .filter(|r| {
                let Ok(ri) = ref_ids.binary_search(r) else {
                    return false;
                };
                mapping
                    .get(ri)
                    .copied()
                    .flatten()
                    .and_then(|hi| hyp_ids.get(hi))
                    .is_some_and(|h| interval.hypothesis.contains(h))
            })
            .count() as u64;
        score.reference_ms += n_ref * interval.length;
        score.missed_ms += n_ref.saturating_sub(n_hyp) * interval.length;
        score.false_alarm_ms += n_hyp.saturating_sub(n_ref) * interval.length;
        score.confusion_ms += (n_ref.min(n_hyp) - correct) * interval.length;
    }
    score
}

fn speaker_ids(turns: &[SpeakerTurn]) -> Vec<usize> {
    let mut ids: Vec<usize> = turns.iter().map(|t| t.speaker).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The one-to-one assignment of rows to columns with the largest total `weight`
/// (Hungarian algorithm on the negated weights): `result[row]` is its column, `None` for
/// rows left over when there are more rows than columns.
fn best_mapping(weight: &[Vec<u64>]) -> Vec<Option<usize>> {
    let rows = weight.len();
    let cols = weight.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    // The algorithm wants rows ≤ columns; pad with zero-weight dummy columns.
    let n = rows;
    let m = cols.max(rows);
    let max = weight.iter().flatten().copied().max().unwrap_or(0) as i128;
    let cost = |i: usize, j: usize| -> i128 {
        let w = weight
            .get(i)
            .and_then(|row| row.get(j))
            .copied()
            .unwrap_or(0);
        max - w as i128
    };
    // Potentials and matching, 1-based with a virtual column 0 (e-maxx formulation).
    let mut u = vec![0i128; n + 1];
    let mut v = vec![0i128; m + 1];
    let mut matched_row = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        matched_row[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![i128::MAX; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = matched_row[j0];
            let mut delta = i128::MAX;
            let mut j1 = 0;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let reduced = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if reduced < min_v[j] {
                    min_v[j] = reduced;
                    way[j] = j0;
                }
                if min_v[j] < delta {
                    delta = min_v[j];
                    j1 = j;
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[matched_row[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if matched_row[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            matched_row[j0] = matched_row[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut result = vec![None; rows];
    for (j, &i) in matched_row.iter().enumerate().skip(1) {
        if i > 0 && j <= cols {
            result[i - 1] = Some(j - 1);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: usize, start_ms: u64, end_ms: u64) -> SpeakerTurn {
        SpeakerTurn {
            speaker,
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn identical_up_to_renaming_scores_zero() {
        let reference = [turn(0, 0, 1000), turn(1, 1500, 3000), turn(0, 3000, 4000)];
        let hypothesis = [turn(7, 0, 1000), turn(3, 1500, 3000), turn(7, 3000, 4000)];
        let score = diarization_error_rate(&reference, &hypothesis, 0);
        assert_eq!(score.reference_ms, 3500);
        assert_eq!(score.rate(), 0.0);
    }

    #[test]
    fn counts_missed_false_alarm_and_confusion() {
        let reference = [turn(0, 0, 1000), turn(1, 1000, 2000)];
        // Starts 100 ms late, gives 200 ms of speaker 1 to speaker 0, runs 300 ms over.
        let hypothesis = [turn(0, 100, 1200), turn(1, 1200, 2300)];
        let score = diarization_error_rate(&reference, &hypothesis, 0);
        assert_eq!(score.reference_ms, 2000);
        assert_eq!(score.missed_ms, 100);
        assert_eq!(score.false_alarm_ms, 300);
        assert_eq!(score.confusion_ms, 200);
        assert!((score.rate() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn collar_forgives_errors_near_reference_boundaries() {
        let reference = [turn(0, 0, 1000), turn(1, 1000, 2000)];
        let hypothesis = [turn(0, 100, 1200), turn(1, 1200, 2300)];
        let score = diarization_error_rate(&reference, &hypothesis, 250);
        // Scored: 250..750 and 1250..1750 (reference), and nothing beyond 2250.
        assert_eq!(score.reference_ms, 1000);
        assert_eq!(score.missed_ms + score.confusion_ms, 0);
        assert_eq!(score.false_alarm_ms, 50);
    }

    #[test]
    fn one_speaker_for_two_is_confusion_on_the_smaller() {
        let reference = [turn(0, 0, 3000), turn(1, 3000, 4000)];
        let hypothesis = [turn(0, 0, 4000)];
        let score = diarization_error_rate(&reference, &hypothesis, 0);
        assert_eq!(score.confusion_ms, 1000);
        assert_eq!(score.missed_ms + score.false_alarm_ms, 0);
    }

    #[test]
    fn mapping_is_optimal_not_greedy() {
        // Greedy would map hypothesis 0 to reference 0 (the largest overlap, 600 ms) and
        // leave hypothesis 1 with reference 1's 100 ms; optimal is 0→1 and 1→0.
        let weights = vec![vec![600, 500], vec![590, 0]];
        assert_eq!(best_mapping(&weights), vec![Some(1), Some(0)]);
        let more_rows = vec![vec![5], vec![9], vec![1]];
        assert_eq!(best_mapping(&more_rows), vec![None, Some(0), None]);
    }

    #[test]
    fn overlapping_reference_speech_counts_per_speaker() {
        let reference = [turn(0, 0, 2000), turn(1, 1000, 2000)];
        let hypothesis = [turn(0, 0, 2000)];
        let score = diarization_error_rate(&reference, &hypothesis, 0);
        assert_eq!(score.reference_ms, 3000);
        assert_eq!(score.missed_ms, 1000);
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(diarization_error_rate(&[], &[], 250).rate(), 0.0);
        let hypothesis = [turn(0, 0, 100)];
        assert!(
            diarization_error_rate(&[], &hypothesis, 0)
                .rate()
                .is_infinite()
        );
        let reference = [turn(0, 0, 100)];
        assert_eq!(diarization_error_rate(&reference, &[], 0).rate(), 1.0);
    }
}
