//! Mel-frequency cepstral coefficients: the short-term spectral envelope that carries
//! most of a voice's identity (vocal tract shape), 100 frames per second.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// The only sample rate the features are defined for.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples per analysis frame (25 ms, the usual speech analysis length).
pub const FRAME_LEN: usize = 400;
/// Samples between frame starts (10 ms).
pub const HOP: usize = 160;
/// Transform length: the frame zero-padded to a power of two.
const FFT_LEN: usize = 512;
/// Triangular mel bands between [`LOW_HZ`] and [`HIGH_HZ`].
const MEL_BANDS: usize = 40;
/// Lowest band edge: below this is hum and rumble, not voice.
const LOW_HZ: f32 = 60.0;
/// Highest band edge: the Nyquist frequency at 16 kHz.
const HIGH_HZ: f32 = 8_000.0;
/// Cepstral coefficients computed (c0..c19); c0 is dropped from the output because it
/// is the frame's loudness, which depends on the microphone distance, not the voice.
const CEPSTRA: usize = 20;
/// Coefficients per output frame (c1..c19).
pub const DIM: usize = CEPSTRA - 1;
/// First-order pre-emphasis, flattening the −6 dB/octave tilt of voiced speech so the
/// upper formants weigh in.
const PRE_EMPHASIS: f32 = 0.97;
/// Power floor before the logarithm: digital silence must not give −∞.
const POWER_FLOOR: f32 = 1e-10;

/// Computes MFCC frames; build once, reuse for many buffers (it owns the FFT plan and
/// scratch buffers).
pub struct Mfcc {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// `(first_bin, weights)` per mel band.
    filters: Vec<(usize, Vec<f32>)>,
    /// DCT-II basis, `CEPSTRA` rows of `MEL_BANDS` (orthonormal scaling).
    dct: Vec<[f32; MEL_BANDS]>,
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
}

impl Default for Mfcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mfcc {
    /// A new extractor with its own FFT plan.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        let frame = fft.make_input_vec();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        let window = (0..FRAME_LEN)
            .map(|i| {
                let phase = std::f32::consts::TAU * i as f32 / (FRAME_LEN - 1) as f32;
                0.54 - 0.46 * phase.cos()
            })
            .collect();
        let dct = (0..CEPSTRA)
            .map(|k| {
                let scale = if k == 0 {
                    (1.0 / MEL_BANDS as f32).sqrt()
                } else {
                    (2.0 / MEL_BANDS as f32).sqrt()
                };
                std::array::from_fn(|m| {
                    let angle =
                        std::f32::consts::PI * k as f32 * (m as f32 + 0.5) / MEL_BANDS as f32;
                    scale * angle.cos()
                })
            })
            .collect();
        Self {
            fft,
            window,
            filters: mel_filters(),
            dct,
            power: vec![0.0; spectrum.len()],
            frame,
            spectrum,
            scratch,
        }
    }

    /// Number of frames [`Mfcc::compute`] yields for `samples` samples (frames that fit
    /// whole; the tail shorter than a frame is dropped).
    pub fn frame_count(samples: usize) -> usize {
        if samples < FRAME_LEN {
            0
        } else {
            (samples - FRAME_LEN) / HOP + 1
        }
    }

    /// The MFCC frames of 16 kHz mono `samples`: frame `i` covers samples
    /// `i * HOP .. i * HOP + FRAME_LEN`.
    pub fn compute(&mut self, samples: &[f32]) -> Vec<[f32; DIM]> {
        let count = Self::frame_count(samples.len());
        let mut out = Vec::with_capacity(count);
        let mut log_mel = [0.0f32; MEL_BANDS];
        for index in 0..count {
            let start = index * HOP;
            let Some(source) = samples.get(start..start + FRAME_LEN) else {
                break;
            };
            // Pre-emphasis uses the sample before the frame where there is one, so a
            // frame's spectrum does not depend on where the buffer was cut.
            let mut previous = if start > 0 {
                samples.get(start - 1).copied().unwrap_or(0.0)
            } else {
                source.first().copied().unwrap_or(0.0)
            };
            let mut sum = 0.0f32;
            for (slot, &sample) in self.frame.iter_mut().zip(source) {
                *slot = sample - PRE_EMPHASIS * previous;
                previous = sample;
                sum += *slot;
            }
            // Remove the frame's DC offset before windowing (cheap microphones have one).
            let mean = sum / FRAME_LEN as f32;
            for (slot, &w) in self.frame.iter_mut().zip(&self.window) {
                *slot = (*slot - mean) * w;
            }
            self.frame[FRAME_LEN..].fill(0.0);
            if self
                .fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .is_err()
            {
                // Only possible with mismatched buffer lengths, which `new` rules out.
                break;
            }
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm_sqr();
            }
            for (slot, (first, weights)) in log_mel.iter_mut().zip(&self.filters) {
                let energy: f32 = self
                    .power
                    .iter()
                    .skip(*first)
                    .zip(weights)
                    .map(|(p, w)| p * w)
                    .sum();
                *slot = energy.max(POWER_FLOOR).ln();
            }
            let mut cepstrum = [0.0f32; DIM];
            for (slot, basis) in cepstrum.iter_mut().zip(self.dct.iter().skip(1)) {
                *slot = basis.iter().zip(&log_mel).map(|(b, x)| b * x).sum();
            }
            out.push(cepstrum);
        }
        out
    }
}

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// Triangular filters equally spaced on the mel scale, each as its first FFT bin and
/// its weights from there (unit peak; band energies are compared in the log domain, so
/// area normalisation would only add a constant per band).
fn mel_filters() -> Vec<(usize, Vec<f32>)> {
    let bins = FFT_LEN / 2 + 1;
    let bin_hz = SAMPLE_RATE as f32 / FFT_LEN as f32;
    let (low, high) = (hz_to_mel(LOW_HZ), hz_to_mel(HIGH_HZ));
    let edges: Vec<f32> = (0..MEL_BANDS + 2)
        .map(|i| mel_to_hz(low + (high - low) * i as f32 / (MEL_BANDS + 1) as f32))
        .collect();
    edges
        .windows(3)
        .map(|edge| {
            let (left, centre, right) = (edge[0], edge[1], edge[2]);
            let weight = |bin: usize| {
                let hz = bin as f32 * bin_hz;
                if hz <= left || hz >= right {
                    0.0
                } else if hz <= centre {
                    (hz - left) / (centre - left)
                } else {
                    (right - hz) / (right - centre)
                }
            };
            let first = (0..bins).find(|&b| weight(b) > 0.0).unwrap_or(bins - 1);
            let last = (first..bins)
                .rev()
                .find(|&b| weight(b) > 0.0)
                .unwrap_or(first);
            (first, (first..=last).map(weight).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_matches_output() {
        let mut mfcc = Mfcc::new();
        for len in [0, 399, 400, 559, 560, 16_000] {
            let out = mfcc.compute(&vec![0.1; len]);
            assert_eq!(out.len(), Mfcc::frame_count(len), "len {len}");
        }
        assert_eq!(Mfcc::frame_count(16_000), 98);
    }

    #[test]
    fn every_band_covers_at_least_one_bin() {
        for (first, weights) in mel_filters() {
            assert!(!weights.is_empty());
            assert!(first < FFT_LEN / 2 + 1);
            assert!(weights.iter().any(|&w| w > 0.0));
        }
    }

    #[test]
    fn cepstrum_separates_low_and_high_tones() {
        // c1 is the spectral tilt: positive when energy sits in low bands, negative when
        // it sits in high bands.
        let tone = |hz: f32| -> Vec<f32> {
            (0..4_000)
                .map(|i| (std::f32::consts::TAU * hz * i as f32 / 16_000.0).sin() * 0.5)
                .collect()
        };
        let mut mfcc = Mfcc::new();
        let low = mfcc.compute(&tone(300.0));
        let high = mfcc.compute(&tone(5_000.0));
        let mean_c1 =
            |frames: &[[f32; DIM]]| frames.iter().map(|f| f[0]).sum::<f32>() / frames.len() as f32;
        assert!(mean_c1(&low) > 0.0, "{}", mean_c1(&low));
        assert!(mean_c1(&high) < 0.0, "{}", mean_c1(&high));
        assert!(low.iter().flatten().all(|v| v.is_finite()));
        // Digital silence stays finite too.
        assert!(
            mfcc.compute(&[0.0; 1_000])
                .iter()
                .flatten()
                .all(|v| v.is_finite())
        );
    }
}
