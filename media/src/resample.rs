//! Whole-buffer sample-rate conversion of mono audio with rubato.
//!
//! Real-world rate pairs reduce to small ratios (44.1 kHz → 16 kHz is 441:160), and those go
//! through rubato's synchronous FFT resampler: fast, and its delay is a whole number of
//! output frames that can be cut off exactly. A pair with a large reduced ratio (a corrupt
//! header claiming 44101 Hz, say) would need transforms as long as the ratio's terms, so it
//! falls back to the asynchronous sinc resampler, whose alignment is only exact to within
//! half an output frame.

use rubato::{
    FftFixedIn, Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::error::MediaError;

/// The lowest sample rate accepted anywhere in this crate. Nothing records audio below it,
/// and it bounds the resampling ratio, so a forged header cannot make one buffer huge.
pub const MIN_SAMPLE_RATE: u32 = 1_000;

/// The highest sample rate accepted anywhere in this crate (the top of professional audio).
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Input frames handed to rubato per call, roughly.
const CHUNK_FRAMES: u32 = 1024;

/// Largest reduced term of the rate ratio that still uses the FFT resampler; this bounds
/// its transforms to a few thousand points.
const MAX_FFT_RATIO_TERM: u32 = 4096;

/// Calls with zeroed input after the real input has run out. One or two are enough to push
/// the delayed tail out of either resampler; the cap only guards against a stalled resampler.
const MAX_FLUSH_CALLS: usize = 64;

/// Resamples a whole mono buffer from `from_rate` to `to_rate` Hz, time-aligned with the input.
///
/// Output sample `i` lies at time `i / to_rate`, as input sample `j` lies at `j / from_rate`;
/// the output holds `round(samples.len() * to_rate / from_rate)` samples. Equal rates return
/// a copy of the input.
pub fn resample(samples: &[f32], from_rate: u32, to_rate: u32) -> Result<Vec<f32>, MediaError> {
    check_rate(from_rate)?;
    check_rate(to_rate)?;
    if from_rate == to_rate || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let expected = output_len(samples.len(), from_rate, to_rate);
    let divisor = gcd(from_rate, to_rate);
    let (in_term, out_term) = (from_rate / divisor, to_rate / divisor);
    if in_term <= MAX_FFT_RATIO_TERM && out_term <= MAX_FFT_RATIO_TERM {
        // An even number of transform blocks per chunk makes both transform lengths even,
        // and only then is the delay exactly half the output length.
        let blocks = 2 * CHUNK_FRAMES.div_ceil(2 * in_term);
        let resampler = FftFixedIn::<f32>::new(
            usize_from(from_rate),
            usize_from(to_rate),
            usize_from(blocks * in_term),
            1,
            1,
        )
        .map_err(resample_error)?;
        let delay = resampler.output_delay();
        run(resampler, samples, expected, Shift::Drop(delay))
    } else {
        let parameters = SincInterpolationParameters {
            sinc_len: 256,
            f_cutoff: 0.95,
            oversampling_factor: 256,
            interpolation: SincInterpolationType::Cubic,
            window: WindowFunction::BlackmanHarris2,
        };
        let ratio = f64::from(to_rate) / f64::from(from_rate);
        let resampler =
            SincFixedIn::<f32>::new(ratio, 1.0, parameters, usize_from(CHUNK_FRAMES), 1)
                .map_err(resample_error)?;
        // rubato 0.16's sinc resampler already centres its filter, whatever `output_delay`
        // says: output frame k sits at input position (k + 1) / ratio - 1, a lag of
        // ratio - 1 output frames (measured; `sine_survives_time_aligned` checks it).
        let lag = (ratio - 1.0).round();
        let shift = if lag >= 0.0 {
            Shift::Drop(lag as usize)
        } else {
            Shift::Insert((-lag) as usize)
        };
        run(resampler, samples, expected, shift)
    }
}

/// How to move a resampler's output so it lines up with its input.
enum Shift {
    /// The output lags by this many frames: drop them from its start.
    Drop(usize),
    /// The output leads by this many frames: put silence before it.
    Insert(usize),
}

/// Rejects rates that no real audio has, before they can size a filter or a buffer.
pub(crate) fn check_rate(rate: u32) -> Result<(), MediaError> {
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        return Err(MediaError::InvalidSampleRate {
            rate,
            min: MIN_SAMPLE_RATE,
            max: MAX_SAMPLE_RATE,
        });
    }
    Ok(())
}

/// Feeds the whole input, then zeros, until `expected` frames past the shift have come out.
fn run<R: Resampler<f32>>(
    mut resampler: R,
    input: &[f32],
    expected: usize,
    shift: Shift,
) -> Result<Vec<f32>, MediaError> {
    let (drop, insert) = match shift {
        Shift::Drop(frames) => (frames, 0),
        Shift::Insert(frames) => (0, frames),
    };
    let wanted = expected.saturating_add(drop);
    let mut chunk_out = resampler.output_buffer_allocate(true);
    let mut out = Vec::with_capacity(wanted.saturating_add(resampler.output_frames_max()));
    out.resize(insert, 0.0);
    let mut rest = input;
    let mut flush_calls = 0;
    while out.len() < wanted {
        let needed = resampler.input_frames_next();
        let (_, written) = if rest.len() >= needed {
            let (chunk, tail) = rest.split_at(needed);
            rest = tail;
            resampler.process_into_buffer(&[chunk], &mut chunk_out, None)
        } else if !rest.is_empty() {
            let chunk = rest;
            rest = &[];
            resampler.process_partial_into_buffer(Some(&[chunk]), &mut chunk_out, None)
        } else {
            flush_calls += 1;
            if flush_calls > MAX_FLUSH_CALLS {
                break;
            }
            resampler.process_partial_into_buffer(None::<&[&[f32]]>, &mut chunk_out, None)
        }
        .map_err(resample_error)?;
        let produced = chunk_out
            .first()
            .and_then(|channel| channel.get(..written))
            .ok_or_else(|| MediaError::Resample {
                reason: format!("rubato reported {written} frames beyond its output buffer"),
            })?;
        out.extend_from_slice(produced);
    }
    out.drain(..drop.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

/// `round(len * to / from)`, computed without overflow.
fn output_len(len: usize, from_rate: u32, to_rate: u32) -> usize {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    usize::try_from(output_frames(len, from_rate, to_rate)).unwrap_or(usize::MAX)
}

/// `round(frames * to / from)` on frame counters, computed without overflow; shared with
/// the streaming resampler so both agree on every stream's length.
pub(crate) fn output_frames(frames: u64, from_rate: u32, to_rate: u32) -> u64 {
    let (from, to) = (u128::from(from_rate), u128::from(to_rate));
    let out = (u128::from(frames) * to + from / 2) / from.max(1);
    u64::try_from(out).unwrap_or(u64::MAX)
}

pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

pub(crate) fn usize_from(value: u32) -> usize {
    // Only 16-bit targets could fail here, and none of them run this server.
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn resample_error(err: impl std::fmt::Display) -> MediaError {
    MediaError::Resample {
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::TAU;

    use super::*;
    use crate::test_signal::{dominant_of, sine};

    /// How many samples `got`, a sine of `freq` Hz, lags one that starts at phase zero,
    /// measured away from the edges where the filters see the silence around the buffer.
    fn lag_of_sine(got: &[f32], freq: f64, rate: u32) -> f64 {
        let omega = TAU * freq / f64::from(rate);
        let edge = got.len() / 10;
        let (mut in_phase, mut quadrature) = (0.0, 0.0);
        for (i, &x) in got.iter().enumerate().skip(edge).take(got.len() - 2 * edge) {
            in_phase += f64::from(x) * (omega * i as f64).sin();
            quadrature += f64::from(x) * (omega * i as f64).cos();
        }
        (-quadrature).atan2(in_phase) / omega
    }

    /// Whether `from → to` takes the exact FFT path.
    fn uses_fft(from: u32, to: u32) -> bool {
        let divisor = gcd(from, to);
        from / divisor <= MAX_FFT_RATIO_TERM && to / divisor <= MAX_FFT_RATIO_TERM
    }

    #[test]
    fn equal_rates_copy_the_input() {
        let input = sine(440.0, 16_000, 1000, 0.5);
        assert_eq!(resample(&input, 16_000, 16_000).expect("resample"), input);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert!(resample(&[], 44_100, 16_000).expect("resample").is_empty());
    }

    #[test]
    fn invalid_rates_are_rejected() {
        for (from, to) in [
            (0, 16_000),
            (16_000, 0),
            (MIN_SAMPLE_RATE - 1, 16_000),
            (MAX_SAMPLE_RATE + 1, 16_000),
        ] {
            assert!(matches!(
                resample(&[0.0; 10], from, to),
                Err(MediaError::InvalidSampleRate { .. })
            ));
        }
    }

    #[test]
    fn output_length_follows_the_ratio() {
        for (len, from, to) in [
            (44_100, 44_100, 16_000),
            (12_345, 48_000, 16_000),
            (777, 8_000, 16_000),
            (10_001, 22_050, 24_000),
            (5_000, 44_101, 16_000),
            (3, 16_000, 96_001),
            (1, 48_000, 16_000),
            (1, MAX_SAMPLE_RATE - 1, MIN_SAMPLE_RATE),
            (3, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE - 1),
        ] {
            let out = resample(&vec![0.1; len], from, to).expect("resample");
            assert_eq!(
                out.len(),
                output_len(len, from, to),
                "{len} samples {from}->{to}"
            );
        }
    }

    /// A sine keeps its pitch, level and phase through every path: no shift in time. The FFT
    /// path is exact; the sinc path (odd rates) is aligned to within half an output frame.
    #[test]
    fn sine_survives_time_aligned() {
        let pairs = [
            (44_100, 16_000),
            (48_000, 16_000),
            (8_000, 16_000),
            (22_050, 16_000),
            (16_000, 22_050),
            (16_000, 24_000),
            (16_000, 48_000),
            (44_101, 16_000),
            (96_001, 16_000),
            (16_000, 44_101),
            (16_000, 22_051),
        ];
        for (from, to) in pairs {
            let input = sine(440.0, from, from as usize, 0.5);
            let out = resample(&input, from, to).expect("resample");
            assert_eq!(out.len(), to as usize, "{from} -> {to}");
            let near = [400.0, 420.0, 440.0, 460.0, 480.0];
            assert_eq!(dominant_of(&out, to, &near), 440.0, "{from} -> {to}");
            let lag = lag_of_sine(&out, 440.0, to);
            let allowed = if uses_fft(from, to) { 0.01 } else { 0.5 };
            assert!(
                lag.abs() <= allowed,
                "{from} -> {to}: output lags by {lag:.3} samples"
            );
            let middle = out
                .get(to as usize / 10..to as usize * 9 / 10)
                .expect("middle");
            let peak = middle.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!((peak - 0.5).abs() < 0.005, "{from} -> {to}: peak {peak}");
        }
    }

    /// A tone above the new Nyquist frequency must be filtered out, not folded back.
    #[test]
    fn downsampling_removes_tones_above_nyquist() {
        for from in [44_100, 44_101] {
            let input = sine(11_000.0, from, from as usize, 0.5);
            let out = resample(&input, from, 16_000).expect("resample");
            let middle = out.get(400..15_600).expect("middle");
            let peak = middle.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!(peak < 0.01, "{from} Hz: aliased energy with peak {peak}");
        }
    }
}
