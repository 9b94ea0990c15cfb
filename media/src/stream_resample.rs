//! Sample-rate conversion of a live mono stream, chunk by chunk, without allocating.
//!
//! The real-time pipeline moves audio between rates in pieces of whatever size arrives:
//! 20 ms Opus frames at 48 kHz down to 16 kHz for VAD and recognition, synthesised speech at
//! 22.05 kHz up to 48 kHz for Opus, 24 kHz for the API. [`StreamResampler`] runs rubato's
//! synchronous FFT resampler on fixed blocks of about 10 ms and keeps the samples that do not
//! fill a block for the next call, so any chunk length works and the output is the same
//! whatever the chunking. Everything it needs is allocated in [`StreamResampler::new`].
//!
//! The output lags the input by [`StreamResampler::delay`] samples (the filter's half length,
//! at most a few milliseconds) plus up to one block of buffering; [`StreamResampler::flush`]
//! pushes the tail out at the end of a stream.

use rubato::{FftFixedInOut, Resampler};

use crate::error::MediaError;
use crate::resample::{check_rate, gcd, output_frames, usize_from};

/// Largest reduced term of the rate ratio handled; the same bound as the whole-buffer
/// resampler's FFT path. Every pair of real-world rates stays far below it (44.1 kHz to
/// 48 kHz is 147:160).
const MAX_RATIO_TERM: u32 = 4096;

/// The block length aimed for, as a fraction of a second: 10 ms keeps the added latency
/// small while the filter stays long enough for a clean cut-off.
const BLOCKS_PER_SECOND: u32 = 100;

/// Resamples a mono stream from one rate to another, one chunk at a time.
pub struct StreamResampler {
    from_rate: u32,
    to_rate: u32,
    engine: Option<Engine>,
    /// Input frames taken since the start of the stream.
    frames_in: u64,
    /// Output frames given out since the start of the stream, delay included.
    frames_out: u64,
}

/// The FFT resampler and its buffers; absent when the rates are equal.
struct Engine {
    resampler: FftFixedInOut<f32>,
    /// Input that does not fill a block yet; never longer than `block_in`.
    pending: Vec<f32>,
    /// One block of output, as rubato writes it.
    block_out: Vec<Vec<f32>>,
    block_in: usize,
    delay: usize,
}

impl Engine {
    /// Resamples one whole block and appends its output to `out`.
    fn run_block(
        resampler: &mut FftFixedInOut<f32>,
        block_out: &mut [Vec<f32>],
        block: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<usize, MediaError> {
        let (_, written) = resampler
            .process_into_buffer(&[block], block_out, None)
            .map_err(|err| MediaError::Resample {
                reason: err.to_string(),
            })?;
        let produced = block_out
            .first()
            .and_then(|channel| channel.get(..written))
            .ok_or_else(|| MediaError::Resample {
                reason: format!("rubato reported {written} frames beyond its output buffer"),
            })?;
        out.extend_from_slice(produced);
        Ok(written)
    }
}

impl StreamResampler {
    /// A resampler from `from_rate` to `to_rate` Hz. Equal rates pass the audio through.
    pub fn new(from_rate: u32, to_rate: u32) -> Result<Self, MediaError> {
        check_rate(from_rate)?;
        check_rate(to_rate)?;
        let engine = if from_rate == to_rate {
            None
        } else {
            let divisor = gcd(from_rate, to_rate);
            let (in_term, out_term) = (from_rate / divisor, to_rate / divisor);
            if in_term > MAX_RATIO_TERM || out_term > MAX_RATIO_TERM {
                return Err(MediaError::UnsupportedRatePair {
                    from: from_rate,
                    to: to_rate,
                });
            }
            // An even number of ratio blocks makes both transform lengths even, and only then
            // is the delay exactly half the output block (see `resample`).
            let target = from_rate.div_ceil(BLOCKS_PER_SECOND);
            let blocks = 2 * target.div_ceil(2 * in_term);
            let block_in = usize_from(blocks * in_term);
            let resampler =
                FftFixedInOut::<f32>::new(usize_from(from_rate), usize_from(to_rate), block_in, 1)
                    .map_err(|err| MediaError::Resample {
                        reason: err.to_string(),
                    })?;
            let block_out = resampler.output_buffer_allocate(true);
            let delay = resampler.output_delay();
            Some(Engine {
                block_in: resampler.input_frames_next(),
                resampler,
                pending: Vec::with_capacity(block_in),
                block_out,
                delay,
            })
        };
        Ok(Self {
            from_rate,
            to_rate,
            engine,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// The input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from_rate
    }

    /// The output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to_rate
    }

    /// How many output samples the output lags the input by: drop this many from the start
    /// of the output to line it up with the input.
    pub fn delay(&self) -> usize {
        self.engine.as_ref().map_or(0, |engine| engine.delay)
    }

    /// Input samples per internal block: up to one block less one waits for more input.
    pub fn block_frames(&self) -> usize {
        self.engine.as_ref().map_or(1, |engine| engine.block_in)
    }

    /// The most output samples a [`Self::process`] call with `input_frames` samples can
    /// produce, whatever is buffered: reserve this much in the output so calls of up to that
    /// size never allocate.
    pub fn max_output_frames(&self, input_frames: usize) -> usize {
        match &self.engine {
            None => input_frames,
            Some(engine) => {
                // Whatever waits in the buffer, it is less than a block.
                let blocks = input_frames.div_ceil(engine.block_in);
                let per_block = engine.block_out.first().map_or(0, Vec::len);
                blocks.saturating_mul(per_block)
            }
        }
    }

    /// Resamples `input` and appends what is ready to `out`; returns the number of samples
    /// appended. Input that does not fill a block waits for the next call. Nothing is
    /// allocated unless `out` lacks the capacity.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, MediaError> {
        let written = match &mut self.engine {
            None => {
                out.extend_from_slice(input);
                input.len()
            }
            Some(engine) => {
                let Engine {
                    resampler,
                    pending,
                    block_out,
                    block_in,
                    ..
                } = engine;
                let block_in = *block_in;
                let mut written = 0;
                let mut rest = input;
                if !pending.is_empty() {
                    let take = (block_in - pending.len()).min(rest.len());
                    let (head, tail) = rest.split_at(take);
                    pending.extend_from_slice(head);
                    rest = tail;
                    if pending.len() == block_in {
                        written += Engine::run_block(resampler, block_out, pending, out)?;
                        pending.clear();
                    }
                }
                while rest.len() >= block_in {
                    let (block, tail) = rest.split_at(block_in);
                    written += Engine::run_block(resampler, block_out, block, out)?;
                    rest = tail;
                }
                pending.extend_from_slice(rest);
                written
            }
        };
        self.frames_in = self.frames_in.saturating_add(len_u64(input.len()));
        self.frames_out = self.frames_out.saturating_add(len_u64(written));
        Ok(written)
    }

    /// Ends the stream: appends the rest of the output to `out` and returns how many samples
    /// that was. Over the whole stream the output then holds [`Self::delay`] samples plus
    /// `round(input * to_rate / from_rate)`, the whole-buffer [`crate::resample`] length. The
    /// resampler is ready for a new stream afterwards.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<usize, MediaError> {
        let mut written = 0;
        if let Some(engine) = &mut self.engine {
            let expected = len_u64(engine.delay).saturating_add(output_frames(
                self.frames_in,
                self.from_rate,
                self.to_rate,
            ));
            let mut missing = expected.saturating_sub(self.frames_out);
            let Engine {
                resampler,
                pending,
                block_out,
                block_in,
                ..
            } = engine;
            while missing > 0 {
                // The input continues as silence, as it does for the whole-buffer resampler.
                pending.resize(*block_in, 0.0);
                let start = out.len();
                let produced = Engine::run_block(resampler, block_out, pending, out)?;
                pending.clear();
                if produced == 0 {
                    break;
                }
                let keep = usize::try_from(missing).unwrap_or(usize::MAX).min(produced);
                out.truncate(start + keep);
                written += keep;
                missing -= len_u64(keep);
            }
        }
        self.reset();
        Ok(written)
    }

    /// Drops buffered input and filter state, as for a new stream.
    pub fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.resampler.reset();
            engine.pending.clear();
        }
        self.frames_in = 0;
        self.frames_out = 0;
    }
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_rate", &self.from_rate)
            .field("to_rate", &self.to_rate)
            .field("delay", &self.delay())
            .field("block_frames", &self.block_frames())
            .finish_non_exhaustive()
    }
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resample;
    use crate::test_signal::{XorShift, dominant_of, sine};

    const RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];

    /// Feeds `input` in random chunks of 1..=2000 samples, then flushes.
    fn stream(resampler: &mut StreamResampler, input: &[f32], rng: &mut XorShift) -> Vec<f32> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let take = (1 + rng.below(2000)).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            resampler.process(chunk, &mut out).unwrap();
            rest = tail;
        }
        resampler.flush(&mut out).unwrap();
        out
    }

    /// Every pair of common rates: the stream, once its delay is dropped, is the whole-buffer
    /// result (both use rubato's FFT filters, of different lengths), and a sine keeps its
    /// pitch and level.
    #[test]
    fn chunked_stream_matches_whole_buffer_resampling() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for from in RATES {
            for to in RATES {
                let input = sine(440.0, from, from as usize / 2, 0.5);
                let mut resampler = StreamResampler::new(from, to).unwrap();
                let delay = resampler.delay();
                let streamed = stream(&mut resampler, &input, &mut rng);
                let whole = resample(&input, from, to).unwrap();
                assert_eq!(streamed.len(), delay + whole.len(), "{from} -> {to}");
                let aligned = &streamed[delay..];
                // Away from the edges, where the two filters see the silence differently.
                let edge = to as usize / 50;
                let worst = aligned[edge..aligned.len() - edge]
                    .iter()
                    .zip(&whole[edge..whole.len() - edge])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 2e-3, "{from} -> {to}: differs by {worst}");
                let near = [400.0, 420.0, 440.0, 460.0, 480.0];
                assert_eq!(dominant_of(aligned, to, &near), 440.0, "{from} -> {to}");
                let peak = aligned[edge..aligned.len() - edge]
                    .iter()
                    .fold(0.0f32, |m, s| m.max(s.abs()));
                assert!((peak - 0.5).abs() < 0.01, "{from} -> {to}: peak {peak}");
            }
        }
    }

    /// The result does not depend on how the input was cut up.
    #[test]
    fn chunking_does_not_change_the_output() {
        let input = sine(1000.0, 48_000, 30_000, 0.7);
        let mut rng = XorShift(77);
        let mut one = StreamResampler::new(48_000, 16_000).unwrap();
        let mut whole = Vec::new();
        one.process(&input, &mut whole).unwrap();
        one.flush(&mut whole).unwrap();
        // The resampler is fresh after a flush: a second stream comes out the same.
        let chunked = stream(&mut one, &input, &mut rng);
        assert_eq!(whole, chunked);
    }

    /// After warm-up the output buffer, cleared between chunks, never grows: the hot path
    /// allocates nothing.
    #[test]
    fn steady_state_does_not_allocate() {
        for (from, to) in [(48_000, 16_000), (16_000, 48_000), (22_050, 24_000)] {
            let mut resampler = StreamResampler::new(from, to).unwrap();
            let input = sine(440.0, from, 200_000, 0.5);
            let mut rng = XorShift(5);
            let mut out = Vec::with_capacity(resampler.max_output_frames(2000));
            let capacity = out.capacity();
            let mut rest = &input[..];
            let mut total = 0;
            while !rest.is_empty() {
                let take = (1 + rng.below(2000)).min(rest.len());
                out.clear();
                let written = resampler.process(&rest[..take], &mut out).unwrap();
                assert!(written <= resampler.max_output_frames(2000));
                total += written;
                rest = &rest[take..];
                assert_eq!(out.capacity(), capacity, "{from} -> {to}");
            }
            assert!(total > 0);
        }
    }

    #[test]
    fn delay_and_blocks_are_small() {
        let resampler = StreamResampler::new(48_000, 16_000).unwrap();
        assert_eq!(resampler.block_frames(), 480);
        assert_eq!(resampler.delay(), 80);
        let resampler = StreamResampler::new(22_050, 48_000).unwrap();
        assert!(resampler.block_frames() <= 441, "{resampler:?}");
        let same = StreamResampler::new(16_000, 16_000).unwrap();
        assert_eq!(same.delay(), 0);
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut resampler = StreamResampler::new(24_000, 24_000).unwrap();
        let input = sine(440.0, 24_000, 1000, 0.5);
        let mut out = Vec::new();
        assert_eq!(resampler.process(&input, &mut out).unwrap(), 1000);
        assert_eq!(resampler.flush(&mut out).unwrap(), 0);
        assert_eq!(out, input);
    }

    #[test]
    fn odd_and_invalid_rates_are_refused() {
        assert!(matches!(
            StreamResampler::new(44_101, 48_000),
            Err(MediaError::UnsupportedRatePair {
                from: 44_101,
                to: 48_000
            })
        ));
        assert!(matches!(
            StreamResampler::new(0, 48_000),
            Err(MediaError::InvalidSampleRate { .. })
        ));
    }

    #[test]
    fn empty_stream_flushes_to_nothing() {
        let mut resampler = StreamResampler::new(16_000, 48_000).unwrap();
        let mut out = Vec::new();
        resampler.process(&[], &mut out).unwrap();
        resampler.flush(&mut out).unwrap();
        assert_eq!(out.len(), resampler.delay());
    }
}
