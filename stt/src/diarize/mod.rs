//! Speaker diarization: who spoke when, with the number of speakers found from the audio.
//!
//! The classical pipeline, all on the CPU and with no model beyond the Silero VAD:
//! 1. Silero VAD finds the speech regions; only frames the VAD calls voiced feed the
//!    speaker models, so pauses and breaths do not pull clusters together.
//! 2. MFCCs (c1..c19, 25 ms frames every 10 ms) describe the voice (`mfcc`).
//! 3. Each speech region is cut into units of about [`DiarizeConfig::unit_ms`]; each
//!    unit is a full-covariance Gaussian of its frames ([`gaussian`]).
//! 4. Agglomerative clustering merges the pair of clusters with the lowest ΔBIC while it
//!    is negative: the Bayesian information criterion decides whether one Gaussian or two
//!    explain the frames better, so one voice ends as one cluster and the count of
//!    speakers falls out of the data (`cluster`). The evidence per cluster is capped
//!    ([`DiarizeConfig::max_evidence_ms`]) so that long recordings of one voice do not
//!    split on slow drift.
//! 5. Units become turns (`turns`): short flips inside one stretch of speech are
//!    smoothed away, a change inside a stretch is placed at the frame where the two
//!    speaker models' likelihoods cross, a change across a pause is placed in the pause.
//!
//! [`diarization_error_rate`] scores a result against reference turns.

mod cluster;
mod der;
mod gaussian;
mod mfcc;
mod turns;

use mka1_media::vad::{self, SegmentConfig, SileroVad, VadError};

pub use der::{DerBreakdown, diarization_error_rate};

/// Why diarization could not run.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DiarizeError {
    /// The voice activity detector failed (model or runtime error).
    #[error("voice activity detection failed: {0}")]
    Vad(#[from] VadError),
}

/// Tuning of [`diarize`]; the defaults are what the HTTP API uses.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct DiarizeConfig {
    /// How the VAD's probabilities become speech regions.
    pub vad: SegmentConfig,
    /// Target length of a clustering unit; long speech regions are cut into equal units
    /// of about this length.
    pub unit_ms: u32,
    /// Units with fewer voiced frames than this are too short for a covariance estimate:
    /// they do not seed clusters and join the cluster that explains them best.
    pub min_unit_ms: u32,
    /// Weight λ of the BIC penalty. 1 is the textbook criterion; higher merges more.
    /// Successive MFCC frames overlap and are far from independent, which BIC assumes,
    /// so a λ above 1 is usual; 1.7 sits in the middle of the range (1.6–1.8) that was
    /// right on every recording measured (see the crate's diarization tests).
    pub bic_penalty: f64,
    /// Most voiced speech per cluster that counts as evidence when two clusters are
    /// compared. A voice drifts over a recording (loudness, pitch, what is said), and
    /// with unbounded evidence BIC calls any drift a second speaker once the clusters
    /// are long enough; beyond this much speech the statistics keep sharpening but the
    /// evidence stops growing.
    pub max_evidence_ms: u32,
    /// A cluster with less voiced speech than this is not reported as a speaker of its
    /// own; its units join the nearest cluster.
    pub min_speaker_ms: u32,
    /// A speaker's run inside one stretch of speech (no pause around it) shorter than
    /// this is relabelled to its neighbours: speakers rarely switch and switch back
    /// without pausing.
    pub min_turn_ms: u32,
    /// Consecutive stretches of the same speaker separated by a pause up to this long
    /// form one turn.
    pub max_pause_ms: u32,
    /// Upper bound on the speakers reported (clustering goes on merging past the
    /// criterion until it holds); `None` for no bound.
    pub max_speakers: Option<usize>,
}

impl Default for DiarizeConfig {
    fn default() -> Self {
        Self {
            vad: SegmentConfig::default()
                .with_min_silence_ms(250)
                .with_prefix_padding_ms(100),
            unit_ms: 2_000,
            min_unit_ms: 500,
            bic_penalty: 1.7,
            max_evidence_ms: 15_000,
            min_speaker_ms: 1_000,
            min_turn_ms: 1_000,
            max_pause_ms: 2_000,
            max_speakers: None,
        }
    }
}

impl DiarizeConfig {
    /// With at most `max` speakers reported (`None`: as many as the audio holds).
    #[must_use]
    pub fn with_max_speakers(mut self, max: Option<usize>) -> Self {
        self.max_speakers = max;
        self
    }

    /// With the BIC penalty weight λ (see [`DiarizeConfig::bic_penalty`]).
    #[must_use]
    pub fn with_bic_penalty(mut self, penalty: f64) -> Self {
        self.bic_penalty = penalty;
        self
    }
}

/// One speaker's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerTurn {
    /// 0-based speaker index, numbered in order of first appearance.
    pub speaker: usize,
    /// Start of the turn in milliseconds from the start of the audio.
    pub start_ms: u64,
    /// End of the turn in milliseconds (exclusive).
    pub end_ms: u64,
}

impl SpeakerTurn {
    /// The speaker's name as the API reports it: `Speaker-1` for speaker 0.
    pub fn speaker_label(&self) -> String {
        format!("Speaker-{}", self.speaker + 1)
    }
}

/// The result of [`diarize`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diarization {
    /// Number of distinct speakers found (0 when there is no speech).
    pub speakers: usize,
    /// Turns in time order, not overlapping.
    pub turns: Vec<SpeakerTurn>,
}

/// Diarizes 16 kHz mono `pcm`. Blocking and CPU-bound: call it from a worker thread.
///
/// Silence or audio too short for any voiced frame gives zero speakers and no turns.
pub fn diarize(
    pcm: &[f32],
    vad: &SileroVad,
    config: &DiarizeConfig,
) -> Result<Diarization, DiarizeError> {
    let mut stream = vad.stream();
    let mut probabilities = Vec::with_capacity(pcm.len() / vad::WINDOW_SAMPLES + 1);
    stream.push(pcm, &mut probabilities)?;
    stream.flush(&mut probabilities)?;
    Ok(diarize_with_probabilities(pcm, &probabilities, config))
}

/// [`diarize`] with the VAD already run: `probabilities` holds one Silero speech
/// probability per 512-sample window of `pcm`.
pub fn diarize_with_probabilities(
    pcm: &[f32],
    probabilities: &[f32],
    config: &DiarizeConfig,
) -> Diarization {
    // Decoders never produce them, but a NaN would poison every covariance it touches.
    let cleaned: Vec<f32>;
    let pcm = if pcm.iter().all(|s| s.is_finite()) {
        pcm
    } else {
        cleaned = pcm
            .iter()
            .map(|&s| if s.is_finite() { s } else { 0.0 })
            .collect();
        &cleaned
    };
    let regions = vad::segments_from_probabilities(probabilities, &config.vad);
    let frames = mfcc::Mfcc::new().compute(pcm);
    let voiced = voiced_frames(probabilities, frames.len(), &config.vad);
    let features = cluster::standardise(&frames, &voiced);
    let units = cluster::units(&regions, &voiced, &features, config);
    let labels = cluster::cluster_units(&units, &features, config);
    turns::build(&units, &labels, &features, &voiced, config)
}

/// Whether each MFCC frame lies in a VAD window that counts as voiced (at or above the
/// deactivation threshold, the level at which ongoing speech is kept).
fn voiced_frames(probabilities: &[f32], frame_count: usize, vad: &SegmentConfig) -> Vec<bool> {
    let threshold = vad.deactivation_threshold.min(vad.activation_threshold);
    (0..frame_count)
        .map(|i| {
            let centre = i * mfcc::HOP + mfcc::FRAME_LEN / 2;
            probabilities
                .get(centre / vad::WINDOW_SAMPLES)
                .is_some_and(|&p| p >= threshold)
        })
        .collect()
}
