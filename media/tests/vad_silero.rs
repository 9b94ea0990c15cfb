//! Silero VAD against the real model on real speech, checked against the official Python
//! wrapper's output (media/tests/data/silero_reference.txt, made by
//! media/tests/reference/silero_reference.py).
//!
//! These tests need the provisioned models (`mka1-voice models install`, which `make test`
//! runs first) and fail, rather than skip, without them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use mka1_media::vad::{
    SAMPLE_RATE, Segment, SegmentConfig, SileroVad, VadError, VadStream, WINDOW_SAMPLES,
    detect_segments,
};
use mka1_models::ModelsDir;
use mka1_models::catalog::paths;

/// Largest per-window probability difference from Python that counts as the same model.
const MAX_PROBABILITY_DIFF: f32 = 0.02;
/// Segment boundaries must match the reference this closely.
const BOUNDARY_TOLERANCE_MS: i64 = 100;

const LIBRIVOX: [&str; 5] = [
    "librivox/sense-0870.wav",
    "librivox/sense-0880.wav",
    "librivox/sense-0890.wav",
    "librivox/sense-0920.wav",
    "librivox/sense-0930.wav",
];
const ALL_CLIPS: [&str; 6] = [
    "librivox/sense-0870.wav",
    "librivox/sense-0880.wav",
    "librivox/sense-0890.wav",
    "librivox/sense-0920.wav",
    "librivox/sense-0930.wav",
    "goforward-16k.raw",
];

fn models_dir() -> ModelsDir {
    ModelsDir::from_env().unwrap_or_else(|e| panic!("no models directory: {e}"))
}

/// The model, loaded once per test binary; panics with what to do when it is missing.
fn vad() -> SileroVad {
    static VAD: OnceLock<SileroVad> = OnceLock::new();
    VAD.get_or_init(|| {
        let dir = models_dir();
        SileroVad::from_models_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "the VAD tests need the provisioned models in {} ({e}); run `make test` or \
                 `mka1-voice models install` (or set MKA1_MODELS_DIR)",
                dir.root().display()
            )
        })
    })
    .clone()
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// A 16 kHz mono s16 clip (WAV or raw s16le) as f32, scaled like torchaudio (x / 32768).
fn read_clip(name: &str) -> Vec<f32> {
    let path = samples_dir().join(name);
    if name.ends_with(".raw") {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
    }
    let mut reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (SAMPLE_RATE, 1, 16),
        "{name}"
    );
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("valid sample")) / 32768.0)
        .collect()
}

/// The Python reference, parsed from the committed fixture.
struct Reference {
    probs: HashMap<String, Vec<f32>>,
    /// Segments in samples, computed on the clip followed by 1 s of zeros.
    segments: HashMap<String, Vec<(u64, u64)>>,
    /// Pocketsphinx forced alignment: first word start, last word end (ms).
    alignment: HashMap<String, (i64, i64)>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/silero_reference.txt");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reference = Reference {
            probs: HashMap::new(),
            segments: HashMap::new(),
            alignment: HashMap::new(),
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut fields = line.split_whitespace();
            let kind = fields.next().expect("kind");
            let clip = fields.next().expect("clip").to_owned();
            let values: Vec<&str> = fields.collect();
            match kind {
                "probs" => {
                    let probs = values.iter().map(|v| v.parse().expect("probability"));
                    reference.probs.insert(clip, probs.collect());
                }
                "segments" => {
                    let segments = values.iter().map(|v| {
                        let (start, end) = v.split_once(':').expect("start:end");
                        (start.parse().expect("start"), end.parse().expect("end"))
                    });
                    reference.segments.insert(clip, segments.collect());
                }
                "alignment" => {
                    let ms: Vec<i64> = values.iter().map(|v| v.parse().expect("ms")).collect();
                    reference.alignment.insert(clip, (ms[0], ms[1]));
                }
                other => panic!("unknown line kind {other:?} in {}", path.display()),
            }
        }
        reference
    })
}

/// Probabilities of a whole buffer fed in chunks of the given sizes (cycled), flushed.
fn probabilities_in_chunks(stream: &mut VadStream, audio: &[f32], sizes: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut rest = audio;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        stream.push(chunk, &mut out).expect("inference");
        rest = tail;
    }
    stream.flush(&mut out).expect("inference");
    out
}

fn probabilities(audio: &[f32]) -> Vec<f32> {
    probabilities_in_chunks(&mut vad().stream(), audio, &[audio.len().max(1)])
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ms(samples: u64) -> i64 {
    (samples * 1000 / u64::from(SAMPLE_RATE)) as i64
}

#[test]
fn loading_fails_clearly_without_the_model_files() {
    let missing = Path::new("/nonexistent/mka1/onnxruntime/libonnxruntime.so.1.31.1");
    let dir = models_dir();
    let err = SileroVad::load(missing, &dir.path(paths::SILERO_VAD)).expect_err("no runtime");
    assert!(matches!(err, VadError::RuntimeMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string())
            && message.contains("mka1-voice models install"),
        "{message}"
    );

    // Load the runtime first so the checks below exercise the model path.
    let _ = vad();
    let err = SileroVad::load(
        &dir.path(paths::ONNXRUNTIME),
        Path::new("/nonexistent/vad.onnx"),
    )
    .expect_err("no model");
    assert!(matches!(err, VadError::ModelMissing { .. }), "{err:?}");
    assert!(
        err.to_string().contains("mka1-voice models install"),
        "{err}"
    );

    // A file that is not an ONNX model (a WAV) fails at load time, not on first use.
    let not_a_model = samples_dir().join(LIBRIVOX[0]);
    let err = SileroVad::load(&dir.path(paths::ONNXRUNTIME), &not_a_model).expect_err("bad model");
    assert!(matches!(err, VadError::ModelLoad { .. }), "{err:?}");
}

#[test]
fn probabilities_match_the_python_wrapper() {
    let reference = reference();
    let mut worst = 0.0f32;
    for clip in ALL_CLIPS {
        let audio = read_clip(clip);
        // Odd chunk sizes exercise the leftover buffer across window boundaries.
        let got = probabilities_in_chunks(&mut vad().stream(), &audio, &[160, 1, 511, 1024, 333]);
        let want = &reference.probs[clip];
        assert_eq!(got.len(), want.len(), "{clip}: window count");
        assert_eq!(got.len(), audio.len().div_ceil(WINDOW_SAMPLES), "{clip}");
        let diff = max_abs_diff(&got, want);
        eprintln!(
            "{clip}: {} windows, max |p_rust - p_python| = {diff:.2e}",
            got.len()
        );
        assert!(
            diff <= MAX_PROBABILITY_DIFF,
            "{clip}: max probability difference {diff} > {MAX_PROBABILITY_DIFF}"
        );
        worst = worst.max(diff);
    }
    eprintln!("all clips: max |p_rust - p_python| = {worst:.2e}");
}

#[test]
fn chunk_sizes_do_not_change_the_result() {
    let audio = read_clip(LIBRIVOX[1]);
    let whole = probabilities(&audio);
    for sizes in [&[1usize][..], &[0, 7, 512, 513], &[320], &[48_000]] {
        let chunked = probabilities_in_chunks(&mut vad().stream(), &audio, sizes);
        assert_eq!(chunked, whole, "chunk sizes {sizes:?}");
    }
}

#[test]
fn reset_starts_over_and_streams_are_independent() {
    let a = read_clip(LIBRIVOX[1]);
    let b = read_clip(LIBRIVOX[4]);
    let (want_a, want_b) = (probabilities(&a), probabilities(&b));

    let mut stream = vad().stream();
    let first = probabilities_in_chunks(&mut stream, &a, &[999]);
    stream.reset();
    assert_eq!((stream.windows(), stream.buffered()), (0, 0));
    let again = probabilities_in_chunks(&mut stream, &a, &[999]);
    assert_eq!(first, again);
    assert_eq!(first, want_a);

    // Two streams interleaved window by window over one shared model keep their own state.
    let (mut sa, mut sb) = (vad().stream(), vad().stream());
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for i in 0..a.len().max(b.len()).div_ceil(WINDOW_SAMPLES) {
        let window = |x: &[f32]| {
            let start = (i * WINDOW_SAMPLES).min(x.len());
            let end = ((i + 1) * WINDOW_SAMPLES).min(x.len());
            x[start..end].to_vec()
        };
        sa.push(&window(&a), &mut got_a).expect("inference");
        sb.push(&window(&b), &mut got_b).expect("inference");
    }
    sa.flush(&mut got_a).expect("inference");
    sb.flush(&mut got_b).expect("inference");
    assert_eq!((got_a, got_b), (want_a, want_b));
}

#[test]
fn one_model_serves_streams_on_several_threads() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<SileroVad>();
    fn assert_send<T: Send>() {}
    assert_send::<VadStream>();

    let clips: Vec<Vec<f32>> = LIBRIVOX.iter().map(|c| read_clip(c)).collect();
    let want: Vec<Vec<f32>> = clips.iter().map(|c| probabilities(c)).collect();
    let vad = vad();
    let handles: Vec<_> = clips
        .into_iter()
        .map(|clip| {
            let vad = vad.clone();
            std::thread::spawn(move || probabilities_in_chunks(&mut vad.stream(), &clip, &[320]))
        })
        .collect();
    let got: Vec<Vec<f32>> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn hostile_samples_do_not_panic() {
    let mut stream = vad().stream();
    let mut out = Vec::new();
    let hostile: Vec<f32> = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -1e30]
        .iter()
        .copied()
        .cycle()
        .take(4 * WINDOW_SAMPLES + 17)
        .collect();
    stream.push(&hostile, &mut out).expect("inference");
    stream.push(&[], &mut out).expect("empty push");
    stream.flush(&mut out).expect("inference");
    stream.flush(&mut out).expect("second flush is a no-op");
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|p| (0.0..=1.0).contains(p)), "{out:?}");

    // Non-finite samples are silence: the same as zeros.
    let nan = vec![f32::NAN; 3 * WINDOW_SAMPLES];
    assert_eq!(probabilities(&nan), probabilities(&vec![0.0; nan.len()]));
}

/// `clip` followed by 1 s of zeros, so segments close by silence as in the reference.
fn with_trailing_silence(clip: &str) -> Vec<f32> {
    let mut audio = read_clip(clip);
    audio.extend(std::iter::repeat_n(0.0, SAMPLE_RATE as usize));
    audio
}

#[test]
fn segments_match_get_speech_timestamps() {
    let reference = reference();
    // get_speech_timestamps with the same thresholds and durations, no padding.
    let config = SegmentConfig::default().with_prefix_padding_ms(0);
    for clip in ALL_CLIPS {
        let got =
            detect_segments(&vad(), &with_trailing_silence(clip), &config).expect("inference");
        let want = &reference.segments[clip];
        assert_eq!(got.len(), want.len(), "{clip}: {got:?} vs {want:?}");
        for (g, &(start, end)) in got.iter().zip(want) {
            let (ds, de) = (g.start_ms as i64 - ms(start), g.end_ms as i64 - ms(end));
            eprintln!(
                "{clip}: rust {}..{} ms, python {}..{} ms (error {ds:+}, {de:+} ms)",
                g.start_ms,
                g.end_ms,
                ms(start),
                ms(end)
            );
            assert!(
                ds.abs() <= BOUNDARY_TOLERANCE_MS && de.abs() <= BOUNDARY_TOLERANCE_MS,
                "{clip}: {g:?} vs python {start}:{end}"
            );
        }
    }
}

#[test]
fn default_segments_cover_the_aligned_speech() {
    // The pocketsphinx forced alignment is an independent reference. Silero confirms onset
    // a little after the aligned first word (32 ms windows, and a probability that rises
    // over a few of them); the default 300 ms prefix padding must cover that lag.
    let reference = reference();
    let unpadded = SegmentConfig::default().with_prefix_padding_ms(0);
    for clip in LIBRIVOX {
        let (word_start, word_end) = reference.alignment[clip];
        let audio = read_clip(clip);
        let raw = detect_segments(&vad(), &audio, &unpadded).expect("vad");
        let padded = detect_segments(&vad(), &audio, &SegmentConfig::default()).expect("vad");
        let ([raw], [padded]) = (&raw[..], &padded[..]) else {
            panic!("{clip}: expected one segment, got {raw:?} / {padded:?}");
        };
        let (lag, end_error) = (
            raw.start_ms as i64 - word_start,
            raw.end_ms as i64 - word_end,
        );
        eprintln!(
            "{clip}: speech {}..{} ms (padded start {}), aligned words {word_start}..{word_end} \
             ms: start {lag:+} ms, end {end_error:+} ms",
            raw.start_ms, raw.end_ms, padded.start_ms
        );
        assert_eq!(padded.start_ms, raw.start_ms.saturating_sub(300), "{clip}");
        assert_eq!(padded.end_ms, raw.end_ms, "{clip}");
        assert!(
            padded.start_ms as i64 <= word_start,
            "{clip}: padding does not cover the onset"
        );
        assert!((0..=200).contains(&lag), "{clip}: onset lag {lag} ms");
        assert!(end_error.abs() <= 150, "{clip}: end error {end_error} ms");
    }
}

#[test]
fn two_utterances_with_a_gap_give_two_segments() {
    let reference = reference();
    let (first, second) = (LIBRIVOX[1], LIBRIVOX[4]);
    let a = read_clip(first);
    let gap = (SAMPLE_RATE as usize) * 3 / 2;
    let mut audio = a.clone();
    audio.extend(std::iter::repeat_n(0.0, gap));
    let offset = audio.len() as u64;
    audio.extend(read_clip(second));
    audio.extend(std::iter::repeat_n(0.0, SAMPLE_RATE as usize));

    let config = SegmentConfig::default().with_prefix_padding_ms(0);
    let segments = detect_segments(&vad(), &audio, &config).expect("inference");
    let [s1, s2] = segments[..] else {
        panic!("expected two segments, got {segments:?}");
    };
    // Where each clip's own reference puts its speech, shifted to its place in the clip.
    let (r1, r2) = (reference.segments[first][0], reference.segments[second][0]);
    let want = [(ms(r1.0), ms(r1.1)), (ms(offset + r2.0), ms(offset + r2.1))];
    for (got, (start, end)) in [s1, s2].iter().zip(want) {
        eprintln!(
            "concatenation: rust {}..{} ms, expected {start}..{end} ms",
            got.start_ms, got.end_ms
        );
        assert!(
            (got.start_ms as i64 - start).abs() <= BOUNDARY_TOLERANCE_MS
                && (got.end_ms as i64 - end).abs() <= BOUNDARY_TOLERANCE_MS,
            "{got:?} vs expected {start}..{end} ms"
        );
    }
    // The gap lies inside the inserted silence.
    assert!(s1.end_sample <= offset && s2.start_sample >= a.len() as u64);

    // With default padding the second start moves 300 ms earlier, still after the first end.
    let padded = detect_segments(&vad(), &audio, &SegmentConfig::default()).expect("vad");
    assert_eq!(padded.len(), 2);
    assert_eq!(padded[1].start_ms, s2.start_ms - 300);
    assert_eq!(padded[1].end_ms, s2.end_ms);
}

#[test]
fn silence_has_no_segments() {
    let silence = vec![0.0f32; 5 * SAMPLE_RATE as usize];
    let segments: Vec<Segment> =
        detect_segments(&vad(), &silence, &SegmentConfig::default()).expect("vad");
    assert!(segments.is_empty(), "{segments:?}");
    assert!(
        detect_segments(&vad(), &[], &SegmentConfig::default())
            .expect("vad")
            .is_empty()
    );
}

#[test]
fn vad_runs_much_faster_than_real_time_on_one_thread() {
    // 10 s of real speech, pushed as one buffer, timed after a warm-up run.
    let mut audio = Vec::new();
    while audio.len() < 10 * SAMPLE_RATE as usize {
        audio.extend(read_clip(LIBRIVOX[0]));
    }
    audio.truncate(10 * SAMPLE_RATE as usize);
    let mut stream = vad().stream();
    let mut out = Vec::with_capacity(400);
    stream.push(&audio, &mut out).expect("warm-up");
    stream.reset();
    out.clear();
    let started = Instant::now();
    stream.push(&audio, &mut out).expect("inference");
    let elapsed = started.elapsed().as_secs_f64();
    let factor = 10.0 / elapsed;
    eprintln!(
        "VAD: 10 s of audio ({} windows) in {:.1} ms = {factor:.0}x real time, {:.0} us/window",
        out.len(),
        elapsed * 1e3,
        elapsed * 1e6 / out.len() as f64
    );
    // A loose floor: other tests share the two cores while this runs.
    assert!(factor > 20.0, "VAD only {factor:.1}x real time");
}
