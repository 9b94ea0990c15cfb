//! Clustering units of speech by voice: agglomerative merging under the ΔBIC criterion,
//! so the number of clusters is decided by the data.

use mka1_media::vad::Segment;

use super::DiarizeConfig;
use super::gaussian::{FrameStats, Gaussian, delta_bic};
use super::mfcc::{DIM, FRAME_LEN, HOP};

/// Samples per millisecond at 16 kHz.
const SAMPLES_PER_MS: u64 = 16;
/// Milliseconds per MFCC frame hop.
const FRAME_MS: f64 = 10.0;
/// Added to every covariance diagonal (in units of the file's own feature variance): it
/// keeps short units' covariances invertible without changing long ones noticeably.
pub const RIDGE: f64 = 1e-3;
/// Most units clustered at once: clustering costs about units² ΔBIC evaluations, so long
/// recordings get proportionally longer units instead of a quadratic bill.
const MAX_UNITS: u64 = 800;

/// A stretch of speech, the smallest thing that gets one speaker label.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Index of the VAD speech region it was cut from.
    pub region: usize,
    /// First sample.
    pub start_sample: u64,
    /// One past the last sample.
    pub end_sample: u64,
    /// The voiced MFCC frames whose centres fall inside the unit (indices).
    pub frames: Vec<usize>,
    /// Statistics of those frames.
    pub stats: FrameStats,
}

/// Frames standardised by the mean and deviation of the voiced ones: ΔBIC does not need
/// it, but it makes one covariance ridge mean the same in every file and every dimension.
pub fn standardise(frames: &[[f32; DIM]], voiced: &[bool]) -> Vec<[f32; DIM]> {
    let mut count = 0.0f64;
    let mut sum = [0.0f64; DIM];
    let mut squares = [0.0f64; DIM];
    for (frame, _) in frames.iter().zip(voiced).filter(|(_, v)| **v) {
        count += 1.0;
        for i in 0..DIM {
            let x = f64::from(frame[i]);
            sum[i] += x;
            squares[i] += x * x;
        }
    }
    if count < 2.0 {
        return frames.to_vec();
    }
    let mean: [f64; DIM] = std::array::from_fn(|i| sum[i] / count);
    let scale: [f64; DIM] = std::array::from_fn(|i| {
        let variance = squares[i] / count - mean[i] * mean[i];
        if variance > 1e-12 {
            1.0 / variance.sqrt()
        } else {
            1.0
        }
    });
    frames
        .iter()
        .map(|frame| std::array::from_fn(|i| ((f64::from(frame[i]) - mean[i]) * scale[i]) as f32))
        .collect()
}

/// Cuts every VAD region into units of about `config.unit_ms` (equal parts, so no unit
/// is a leftover sliver) and gathers each unit's voiced frames.
pub fn units(
    regions: &[Segment],
    voiced: &[bool],
    features: &[[f32; DIM]],
    config: &DiarizeConfig,
) -> Vec<Unit> {
    let total_samples = (features.len() * HOP + FRAME_LEN) as u64;
    let speech_samples: u64 = regions
        .iter()
        .map(|r| {
            r.end_sample
                .min(total_samples)
                .saturating_sub(r.start_sample)
        })
        .sum();
    let unit_samples =
        (u64::from(config.unit_ms.max(100)) * SAMPLES_PER_MS).max(speech_samples / MAX_UNITS);
    let mut out = Vec::new();
    for (index, region) in regions.iter().enumerate() {
        let end = region.end_sample.min(total_samples);
        if end <= region.start_sample {
            continue;
        }
        let length = end - region.start_sample;
        let parts = ((length + unit_samples / 2) / unit_samples).max(1);
        for part in 0..parts {
            let start_sample = region.start_sample + length * part / parts;
            let end_sample = region.start_sample + length * (part + 1) / parts;
            let frames: Vec<usize> = frames_between(start_sample, end_sample, features.len())
                .filter(|&i| voiced.get(i).copied().unwrap_or(false))
                .collect();
            let stats = frames.iter().filter_map(|&i| features.get(i)).fold(
                FrameStats::default(),
                |mut stats, frame| {
                    stats.add(frame);
                    stats
                },
            );
            out.push(Unit {
                region: index,
                start_sample,
                end_sample,
                frames,
                stats,
            });
        }
    }
    out
}

/// Indices of the frames whose centre lies in `start..end` (samples).
pub fn frames_between(start: u64, end: u64, frame_count: usize) -> impl Iterator<Item = usize> {
    let (hop, half) = (HOP as u64, (FRAME_LEN / 2) as u64);
    // Centre of frame i is i·HOP + FRAME_LEN/2.
    let first = start.saturating_sub(half).div_ceil(hop);
    let last = end.saturating_sub(half).div_ceil(hop);
    let first = usize::try_from(first)
        .unwrap_or(usize::MAX)
        .min(frame_count);
    let last = usize::try_from(last).unwrap_or(usize::MAX).min(frame_count);
    (first..last).filter(move |&i| (i as u64) * hop + half >= start)
}

/// A speaker label for every unit (arbitrary numbering), or an empty vector without units.
pub fn cluster_units(
    units: &[Unit],
    features: &[[f32; DIM]],
    config: &DiarizeConfig,
) -> Vec<usize> {
    let min_frames = f64::from(config.min_unit_ms) / FRAME_MS;
    // Units long enough for a covariance estimate seed the clusters.
    let mut clusters: Vec<Cluster> = units
        .iter()
        .enumerate()
        .filter(|(_, u)| u.stats.count() >= min_frames.max(2.0))
        .map(|(i, u)| Cluster {
            members: vec![i],
            stats: u.stats.clone(),
        })
        .collect();
    if clusters.is_empty() {
        // Nothing long enough to model: everything that was heard is one voice.
        clusters = vec![Cluster {
            members: (0..units.len()).collect(),
            stats: units.iter().fold(FrameStats::default(), |mut s, u| {
                s.merge(&u.stats);
                s
            }),
        }];
    } else {
        agglomerate(&mut clusters, config);
        absorb_small(&mut clusters, config);
        assign_short_units(units, features, &mut clusters);
    }
    let mut labels = vec![0; units.len()];
    for (label, cluster) in clusters.iter().enumerate() {
        for &member in &cluster.members {
            if let Some(slot) = labels.get_mut(member) {
                *slot = label;
            }
        }
    }
    labels
}

/// A set of units believed to be one voice.
#[derive(Debug, Clone)]
struct Cluster {
    members: Vec<usize>,
    stats: FrameStats,
}

/// ΔBIC between two clusters; an undefined value never merges voluntarily.
fn distance(a: &Cluster, b: &Cluster, config: &DiarizeConfig) -> f64 {
    let cap = f64::from(config.max_evidence_ms.max(100)) / FRAME_MS;
    let a = a.stats.rescaled(a.stats.count().min(cap));
    let b = b.stats.rescaled(b.stats.count().min(cap));
    let n = a.count() + b.count();
    // Per frame, so that the closest pair is the most similar pair of voices rather
    // than the pair with the least data.
    delta_bic(&a, &b, config.bic_penalty, RIDGE).map_or(f64::INFINITY, |value| value / n)
}

/// Merges the closest pair while ΔBIC says one voice (or while there are more clusters
/// than `max_speakers`).
fn agglomerate(clusters: &mut Vec<Cluster>, config: &DiarizeConfig) {
    let limit = config.max_speakers.unwrap_or(usize::MAX).max(1);
    let n = clusters.len();
    let mut table = vec![vec![f64::INFINITY; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let d = distance(&clusters[i], &clusters[j], config);
            table[i][j] = d;
            table[j][i] = d;
        }
    }
    let mut alive = vec![true; n];
    let mut remaining = n;
    while remaining > 1 {
        let mut best: Option<(f64, usize, usize)> = None;
        for i in (0..n).filter(|&i| alive[i]) {
            for j in (i + 1..n).filter(|&j| alive[j]) {
                if best.is_none_or(|(value, _, _)| table[i][j] < value) {
                    best = Some((table[i][j], i, j));
                }
            }
        }
        let Some((value, i, j)) = best else { break };
        // An undefined ΔBIC (infinite) still merges when the speaker bound forces it.
        if value >= 0.0 && remaining <= limit {
            break;
        }
        let absorbed = std::mem::take(&mut clusters[j].members);
        let absorbed_stats = std::mem::take(&mut clusters[j].stats);
        clusters[i].members.extend(absorbed);
        clusters[i].stats.merge(&absorbed_stats);
        alive[j] = false;
        remaining -= 1;
        for k in (0..n).filter(|&k| alive[k] && k != i) {
            let d = distance(&clusters[i], &clusters[k], config);
            table[i][k] = d;
            table[k][i] = d;
        }
    }
    let mut index = 0;
    clusters.retain(|_| {
        let keep = alive[index];
        index += 1;
        keep
    });
}

/// Folds clusters with less than `min_speaker_ms` of voiced speech into the cluster
/// nearest by ΔBIC: a voice heard for a fraction of a second is more likely a cough, a
/// laugh or a badly modelled unit than a speaker.
fn absorb_small(clusters: &mut Vec<Cluster>, config: &DiarizeConfig) {
    let min_frames = f64::from(config.min_speaker_ms) / FRAME_MS;
    while clusters.len() > 1 {
        let Some(small) = (0..clusters.len())
            .filter(|&i| clusters[i].stats.count() < min_frames)
            .min_by(|&a, &b| {
                clusters[a]
                    .stats
                    .count()
                    .total_cmp(&clusters[b].stats.count())
            })
        else {
            break;
        };
        let target = (0..clusters.len())
            .filter(|&i| i != small)
            .min_by(|&a, &b| {
                distance(&clusters[small], &clusters[a], config).total_cmp(&distance(
                    &clusters[small],
                    &clusters[b],
                    config,
                ))
            });
        let Some(target) = target else { break };
        let removed = clusters.swap_remove(small);
        // swap_remove moved the last cluster into `small`; fix the target's index.
        let target = if target == clusters.len() {
            small
        } else {
            target
        };
        if let Some(cluster) = clusters.get_mut(target) {
            cluster.members.extend(removed.members);
            cluster.stats.merge(&removed.stats);
        }
    }
}

/// Gives each unit too short to seed a cluster the label of the cluster whose Gaussian
/// explains its frames best; a unit with no voiced frame at all takes its predecessor's.
fn assign_short_units(units: &[Unit], features: &[[f32; DIM]], clusters: &mut [Cluster]) {
    let models: Vec<Option<Gaussian>> = clusters.iter().map(|c| c.stats.gaussian(RIDGE)).collect();
    let mut owner: Vec<Option<usize>> = vec![None; units.len()];
    for (label, cluster) in clusters.iter().enumerate() {
        for &member in &cluster.members {
            if let Some(slot) = owner.get_mut(member) {
                *slot = Some(label);
            }
        }
    }
    let mut previous = 0;
    for (index, unit) in units.iter().enumerate() {
        if let Some(label) = owner[index] {
            previous = label;
            continue;
        }
        let label = if unit.stats.count() < 1.0 {
            previous
        } else {
            models
                .iter()
                .enumerate()
                .filter_map(|(label, model)| {
                    let model = model.as_ref()?;
                    Some((label, log_likelihood(&unit.frames, features, model)))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(previous, |(label, _)| label)
        };
        if let Some(cluster) = clusters.get_mut(label) {
            cluster.members.push(index);
        }
        previous = label;
    }
}

/// Summed log-likelihood of the frames at `indices` under `model`.
pub fn log_likelihood(indices: &[usize], features: &[[f32; DIM]], model: &Gaussian) -> f64 {
    indices
        .iter()
        .filter_map(|&i| features.get(i))
        .map(|frame| model.log_likelihood(frame))
        .sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::diarize::gaussian::synthetic_frames;

    #[test]
    fn frames_belong_to_the_span_holding_their_centre() {
        // Frame i is centred on sample i·160 + 200.
        assert_eq!(
            frames_between(0, 16_000, 1_000).collect::<Vec<_>>(),
            (0..99).collect::<Vec<_>>()
        );
        assert_eq!(frames_between(200, 361, 1_000).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(frames_between(201, 360, 1_000).count(), 0);
        // Clamped to the frames that exist.
        assert_eq!(frames_between(0, u64::MAX, 5).count(), 5);
    }

    #[test]
    fn regions_are_cut_into_equal_units_near_the_target_length() {
        let features = synthetic_frames(1, 0.0, 1_000);
        let voiced = vec![true; features.len()];
        let regions = [
            Segment::from_samples(0, 16 * 4_600),
            Segment::from_samples(16 * 6_000, 16 * 6_800),
        ];
        let config = DiarizeConfig::default();
        let units = units(&regions, &voiced, &features, &config);
        // 4.6 s at a 2 s target: 2 units of 2.3 s (not 2 + 2 + 0.6); 0.8 s stays whole.
        let spans: Vec<_> = units
            .iter()
            .map(|u| (u.region, u.start_sample / 16, u.end_sample / 16))
            .collect();
        assert_eq!(spans, [(0, 0, 2_300), (0, 2_300, 4_600), (1, 6_000, 6_800)]);
        // Centres at 12.5 ms, 22.5 ms, … below 2300 ms.
        assert_eq!(units[0].frames.len(), 229);
    }

    fn unit(index: usize, frames: Vec<usize>, features: &[[f32; DIM]]) -> Unit {
        let mut stats = FrameStats::default();
        for &i in &frames {
            stats.add(&features[i]);
        }
        Unit {
            region: index,
            start_sample: index as u64 * 32_000,
            end_sample: (index as u64 + 1) * 32_000,
            frames,
            stats,
        }
    }

    /// Six 2 s units; `voice_of(i)` picks each one's source.
    fn labelled(voice_of: impl Fn(usize) -> f32) -> Vec<usize> {
        let mut features = Vec::new();
        let mut units_out = Vec::new();
        for i in 0..6 {
            let start = features.len();
            features.extend(synthetic_frames(10 + i as u64, voice_of(i), 200));
            units_out.push((i, (start..start + 200).collect::<Vec<_>>()));
        }
        let units: Vec<Unit> = units_out
            .into_iter()
            .map(|(i, frames)| unit(i, frames, &features))
            .collect();
        cluster_units(&units, &features, &DiarizeConfig::default())
    }

    #[test]
    fn one_source_is_one_cluster_and_two_are_two() {
        let one = labelled(|_| 0.0);
        assert!(one.iter().all(|&l| l == one[0]), "{one:?}");
        let two = labelled(|i| if i % 2 == 0 { 0.0 } else { 2.0 });
        assert_ne!(two[0], two[1], "{two:?}");
        assert!(two.iter().step_by(2).all(|&l| l == two[0]), "{two:?}");
        assert!(
            two.iter().skip(1).step_by(2).all(|&l| l == two[1]),
            "{two:?}"
        );
    }

    #[test]
    fn max_speakers_forces_merges() {
        let mut features = Vec::new();
        let mut units = Vec::new();
        // 6 s per source, means 4 deviations apart in every dimension.
        for (i, centre) in [0.0, 4.0, 8.0].into_iter().enumerate() {
            let start = features.len();
            features.extend(synthetic_frames(20 + i as u64, centre, 600));
            units.push((i, (start..start + 600).collect::<Vec<_>>()));
        }
        let units: Vec<Unit> = units
            .into_iter()
            .map(|(i, frames)| unit(i, frames, &features))
            .collect();
        let free = cluster_units(&units, &features, &DiarizeConfig::default());
        assert_eq!(
            free.iter().collect::<std::collections::HashSet<_>>().len(),
            3
        );
        let bounded = DiarizeConfig::default().with_max_speakers(Some(2));
        let forced = cluster_units(&units, &features, &bounded);
        assert_eq!(
            forced
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            2
        );
    }
}
