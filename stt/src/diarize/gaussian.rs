//! Full-covariance Gaussian models of feature frames, kept as sufficient statistics so
//! that merging two clusters is an addition, and the ΔBIC criterion that decides whether
//! two clusters are one voice.

use super::mfcc::DIM;

/// Parameters of one full-covariance Gaussian in `DIM` dimensions (mean + covariance):
/// the model complexity that the BIC penalty charges for a second speaker.
const PARAMETERS: f64 = (DIM + DIM * (DIM + 1) / 2) as f64;

/// Zeroth, first and second order statistics of a set of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStats {
    count: f64,
    sum: [f64; DIM],
    /// Upper triangle (row-major, `i <= j`) of Σ x xᵀ.
    scatter: Vec<f64>,
}

const TRIANGLE: usize = DIM * (DIM + 1) / 2;

impl Default for FrameStats {
    fn default() -> Self {
        Self {
            count: 0.0,
            sum: [0.0; DIM],
            scatter: vec![0.0; TRIANGLE],
        }
    }
}

impl FrameStats {
    /// Statistics of `frames`.
    #[cfg(test)]
    pub fn of(frames: &[[f32; DIM]]) -> Self {
        let mut stats = Self::default();
        for frame in frames {
            stats.add(frame);
        }
        stats
    }

    /// Adds one frame.
    pub fn add(&mut self, frame: &[f32; DIM]) {
        self.count += 1.0;
        let mut k = 0;
        for i in 0..DIM {
            let xi = f64::from(frame[i]);
            self.sum[i] += xi;
            for &xj in &frame[i..] {
                self.scatter[k] += xi * f64::from(xj);
                k += 1;
            }
        }
    }

    /// Adds every frame of `other`.
    pub fn merge(&mut self, other: &Self) {
        self.count += other.count;
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.scatter.iter_mut().zip(&other.scatter) {
            *a += b;
        }
    }

    /// The union of `self` and `other`.
    pub fn merged(&self, other: &Self) -> Self {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// These statistics as if they came from `count` frames with the same mean and
    /// covariance (the evidence they carry rescaled).
    pub fn rescaled(&self, count: f64) -> Self {
        if self.count <= 0.0 {
            return self.clone();
        }
        let factor = count / self.count;
        Self {
            count,
            sum: self.sum.map(|v| v * factor),
            scatter: self.scatter.iter().map(|v| v * factor).collect(),
        }
    }

    /// Number of frames.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// The maximum-likelihood Gaussian of these frames, with `ridge` added to the
    /// covariance diagonal; `None` without frames or when the covariance is singular.
    pub fn gaussian(&self, ridge: f64) -> Option<Gaussian> {
        if self.count < 1.0 {
            return None;
        }
        let mean: [f64; DIM] = std::array::from_fn(|i| self.sum[i] / self.count);
        let mut covariance = [[0.0f64; DIM]; DIM];
        let mut k = 0;
        for i in 0..DIM {
            for j in i..DIM {
                let value = self.scatter[k] / self.count - mean[i] * mean[j];
                covariance[i][j] = value;
                covariance[j][i] = value;
                k += 1;
            }
            covariance[i][i] += ridge;
        }
        let cholesky = cholesky(&covariance)?;
        let log_det = 2.0 * (0..DIM).map(|i| cholesky[i][i].ln()).sum::<f64>();
        Some(Gaussian {
            mean,
            cholesky,
            log_det,
        })
    }

    /// Log-determinant of the (ridged) covariance; `None` when undefined.
    pub fn log_det(&self, ridge: f64) -> Option<f64> {
        self.gaussian(ridge).map(|g| g.log_det)
    }
}

/// A Gaussian with its covariance factored for likelihoods.
#[derive(Debug, Clone)]
pub struct Gaussian {
    mean: [f64; DIM],
    /// Lower-triangular L with LLᵀ = Σ.
    cholesky: [[f64; DIM]; DIM],
    log_det: f64,
}

impl Gaussian {
    /// Log-likelihood of one frame, up to the constant −(DIM/2)·ln 2π shared by every
    /// model (only differences between models are ever used).
    pub fn log_likelihood(&self, frame: &[f32; DIM]) -> f64 {
        // Solve L y = x − μ; the Mahalanobis distance is |y|².
        let mut y = [0.0f64; DIM];
        for i in 0..DIM {
            let row = &self.cholesky[i];
            let known: f64 = row[..i].iter().zip(&y[..i]).map(|(l, y)| l * y).sum();
            y[i] = (f64::from(frame[i]) - self.mean[i] - known) / row[i];
        }
        let mahalanobis: f64 = y.iter().map(|v| v * v).sum();
        -0.5 * (self.log_det + mahalanobis)
    }
}

fn cholesky(matrix: &[[f64; DIM]; DIM]) -> Option<[[f64; DIM]; DIM]> {
    let mut l = [[0.0f64; DIM]; DIM];
    for i in 0..DIM {
        for j in 0..=i {
            let known: f64 = l[i][..j].iter().zip(&l[j][..j]).map(|(a, b)| a * b).sum();
            let value = matrix[i][j] - known;
            if i == j {
                // Not positive definite (or NaN): no Gaussian.
                if value <= 0.0 || !value.is_finite() {
                    return None;
                }
                l[i][i] = value.sqrt();
            } else {
                l[i][j] = value / l[j][j];
            }
        }
    }
    Some(l)
}

/// Log-likelihood gained by modelling `a` and `b` with one Gaussian each rather than one
/// shared Gaussian (half the generalised likelihood ratio statistic); `None` when a
/// covariance is undefined.
///
/// It is invariant to any invertible linear transform of the features, so it needs no
/// feature scaling to be meaningful.
pub fn likelihood_gain(a: &FrameStats, b: &FrameStats, ridge: f64) -> Option<f64> {
    let joint = a.merged(b);
    Some(
        0.5 * (joint.count() * joint.log_det(ridge)?
            - a.count() * a.log_det(ridge)?
            - b.count() * b.log_det(ridge)?),
    )
}

/// ΔBIC of modelling `a` and `b` with one Gaussian each rather than one shared Gaussian:
/// [`likelihood_gain`] minus `penalty` times the BIC charge for the second model's
/// parameters (Chen & Gopalakrishnan, 1998). Positive means two sources.
pub fn delta_bic(a: &FrameStats, b: &FrameStats, penalty: f64, ridge: f64) -> Option<f64> {
    let n = a.count() + b.count();
    Some(likelihood_gain(a, b, ridge)? - penalty * bic_charge(n))
}

/// The BIC charge for one extra full-covariance Gaussian fitted to `n` frames.
pub fn bic_charge(n: f64) -> f64 {
    0.5 * PARAMETERS * n.max(1.0).ln()
}

#[cfg(test)]
/// Deterministic pseudo-random (unit variance) frames around `centre` (xorshift + Box–Muller).
pub fn synthetic_frames(seed: u64, centre: f32, count: usize) -> Vec<[f32; DIM]> {
    let mut state = seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            std::array::from_fn(|_| {
                let (u, v) = (uniform(), uniform());
                let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                centre + normal as f32
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::synthetic_frames as frames;
    use super::*;

    #[test]
    fn merging_stats_equals_stats_of_the_union() {
        let (a, b) = (frames(1, 0.0, 50), frames(2, 1.0, 70));
        let union: Vec<_> = a.iter().chain(&b).copied().collect();
        let merged = FrameStats::of(&a).merged(&FrameStats::of(&b));
        let direct = FrameStats::of(&union);
        assert_eq!(merged.count(), direct.count());
        let (x, y) = (merged.log_det(0.0).unwrap(), direct.log_det(0.0).unwrap());
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }

    #[test]
    fn delta_bic_tells_one_source_from_two() {
        let same = delta_bic(
            &FrameStats::of(&frames(3, 0.0, 300)),
            &FrameStats::of(&frames(4, 0.0, 300)),
            1.0,
            0.0,
        )
        .unwrap();
        let different = delta_bic(
            &FrameStats::of(&frames(5, 0.0, 300)),
            &FrameStats::of(&frames(6, 1.5, 300)),
            1.0,
            0.0,
        )
        .unwrap();
        assert!(same < 0.0, "same source: {same}");
        assert!(different > 0.0, "two sources: {different}");
    }

    #[test]
    fn likelihood_prefers_the_generating_model() {
        let near = FrameStats::of(&frames(7, 0.0, 400)).gaussian(0.0).unwrap();
        let far = FrameStats::of(&frames(8, 2.0, 400)).gaussian(0.0).unwrap();
        let test = frames(9, 0.0, 50);
        let (ln, lf): (f64, f64) = test
            .iter()
            .map(|f| (near.log_likelihood(f), far.log_likelihood(f)))
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        assert!(ln > lf);
    }

    #[test]
    fn degenerate_statistics_give_none() {
        assert!(FrameStats::default().gaussian(0.0).is_none());
        // One frame: zero covariance, singular without a ridge.
        assert!(FrameStats::of(&frames(10, 0.0, 1)).gaussian(0.0).is_none());
        assert!(FrameStats::of(&frames(10, 0.0, 1)).gaussian(0.1).is_some());
    }
}
