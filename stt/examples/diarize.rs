//! Measures the diarizer: speaker counts, DER and speed on the repository's samples, or
//! the turns of any audio file.
//!
//! ```sh
//! cargo run --release -p mka1-stt --example diarize              # the sample suite
//! cargo run --release -p mka1-stt --example diarize -- FILE [REFERENCE.json]
//! ```
//!
//! A reference is JSON like `samples/two-speakers-16k.json`: `{"turns": [{"speaker":
//! "Speaker-1", "start_ms": 0, "end_ms": 2990}, ...]}`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mka1_media::vad::SileroVad;
use mka1_media::{PcmHint, decode_to_mono};
use mka1_stt::diarize::{Diarization, DiarizeConfig, SpeakerTurn, diarization_error_rate, diarize};

const RATE: u32 = 16_000;
/// Silence between concatenated clips, as in samples/two-speakers-16k.wav.
const GAP_SAMPLES: usize = 600 * 16;
/// Runs per input for the timing (the result is the same every run).
const TIMING_RUNS: u32 = 5;

fn main() -> Result<()> {
    let vad = SileroVad::from_env().context("loading the Silero VAD")?;
    let config = DiarizeConfig::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => suite(&vad, &config),
        [file] => one_file(&vad, &config, Path::new(file), None),
        [file, reference] => one_file(&vad, &config, Path::new(file), Some(Path::new(reference))),
        _ => bail!("usage: diarize [FILE [REFERENCE.json]]"),
    }
}

fn one_file(
    vad: &SileroVad,
    config: &DiarizeConfig,
    file: &Path,
    reference: Option<&Path>,
) -> Result<()> {
    let pcm = load(file)?;
    let (result, seconds) = timed(vad, config, &pcm)?;
    for turn in &result.turns {
        println!(
            "{:>9.3} {:>9.3}  {}",
            turn.start_ms as f64 / 1000.0,
            turn.end_ms as f64 / 1000.0,
            turn.speaker_label()
        );
    }
    let audio = pcm.len() as f64 / f64::from(RATE);
    println!(
        "{} speaker(s) in {audio:.2} s of audio; {:.4} s per second of audio",
        result.speakers,
        seconds / audio
    );
    if let Some(reference) = reference {
        let reference = read_reference(reference)?;
        for collar in [0, 250] {
            let score = diarization_error_rate(&reference, &result.turns, collar);
            println!(
                "DER (collar {collar} ms): {:.2}% (missed {} ms, false alarm {} ms, \
                 confusion {} ms of {} ms)",
                100.0 * score.rate(),
                score.missed_ms,
                score.false_alarm_ms,
                score.confusion_ms,
                score.reference_ms
            );
        }
    }
    Ok(())
}

/// The inputs of the diarization tests, plus their reference turns where known.
fn suite(vad: &SileroVad, config: &DiarizeConfig) -> Result<()> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let two = read_reference(&samples.join("two-speakers-16k.json"))?;
    let mut inputs: Vec<(String, Vec<f32>, Vec<SpeakerTurn>)> = vec![(
        "two-speakers-16k".into(),
        load(&samples.join("two-speakers-16k.wav"))?,
        two,
    )];
    let singles = [
        "librivox/sense-0870.wav",
        "librivox/sense-0880.wav",
        "librivox/sense-0890.wav",
        "librivox/sense-0920.wav",
        "librivox/sense-0930.wav",
        "asterisk/tt-weasels-8k.wav",
        "asterisk/ss-noservice-8k-u8.wav",
        "goforward-16k.raw",
    ];
    for single in singles {
        inputs.push(mix(&samples, &format!("single {single}"), &[(single, 0)])?);
    }
    inputs.push(mix(
        &samples,
        "same reader x5",
        &[
            ("librivox/sense-0870.wav", 0),
            ("librivox/sense-0890.wav", 0),
            ("librivox/sense-0920.wav", 0),
            ("librivox/sense-0880.wav", 0),
            ("librivox/sense-0930.wav", 0),
        ],
    )?);
    inputs.push(mix(
        &samples,
        "asterisk+reader+asterisk",
        &[
            ("asterisk/ss-noservice-8k-u8.wav", 0),
            ("librivox/sense-0920.wav", 1),
            ("asterisk/tt-weasels-8k.wav", 0),
        ],
    )?);
    inputs.push(mix(
        &samples,
        "reader+asterisk+goforward",
        &[
            ("librivox/sense-0870.wav", 0),
            ("asterisk/tt-weasels-8k.wav", 1),
            ("goforward-16k.raw", 2),
        ],
    )?);
    inputs.push(mix(
        &samples,
        "reader+goforward+reader",
        &[
            ("librivox/sense-0870.wav", 0),
            ("goforward-16k.raw", 1),
            ("librivox/sense-0890.wav", 0),
        ],
    )?);

    println!(
        "{:<36} {:>7} {:>5} {:>5} {:>8} {:>8} {:>9}",
        "input", "audio s", "want", "found", "DER", "DER 250", "s/s audio"
    );
    let (mut total_audio, mut total_seconds) = (0.0, 0.0);
    for (name, pcm, reference) in &inputs {
        let (result, seconds) = timed(vad, config, pcm)?;
        let audio = pcm.len() as f64 / f64::from(RATE);
        total_audio += audio;
        total_seconds += seconds;
        let want = speaker_count(reference);
        let strict = diarization_error_rate(reference, &result.turns, 0).rate();
        let collar = diarization_error_rate(reference, &result.turns, 250).rate();
        println!(
            "{name:<36} {audio:>7.2} {want:>5} {:>5} {:>7.2}% {:>7.2}% {:>9.4}",
            result.speakers,
            100.0 * strict,
            100.0 * collar,
            seconds / audio
        );
    }
    println!(
        "overall: {:.4} s of compute per second of audio (VAD included, one thread)",
        total_seconds / total_audio
    );
    Ok(())
}

fn speaker_count(turns: &[SpeakerTurn]) -> usize {
    let mut speakers: Vec<usize> = turns.iter().map(|t| t.speaker).collect();
    speakers.sort_unstable();
    speakers.dedup();
    speakers.len()
}

/// Average wall time of one [`diarize`] call, with its result.
fn timed(vad: &SileroVad, config: &DiarizeConfig, pcm: &[f32]) -> Result<(Diarization, f64)> {
    let start = Instant::now();
    let mut result = Diarization::default();
    for _ in 0..TIMING_RUNS {
        result = diarize(pcm, vad, config)?;
    }
    Ok((
        result,
        start.elapsed().as_secs_f64() / f64::from(TIMING_RUNS),
    ))
}

/// Clips under `samples` joined by 600 ms of silence, with their exact turns.
fn mix(
    samples: &Path,
    name: &str,
    parts: &[(&str, usize)],
) -> Result<(String, Vec<f32>, Vec<SpeakerTurn>)> {
    let mut pcm = Vec::new();
    let mut turns = Vec::new();
    for (index, (path, speaker)) in parts.iter().enumerate() {
        if index > 0 {
            pcm.extend(std::iter::repeat_n(0.0, GAP_SAMPLES));
        }
        let start_ms = pcm.len() as u64 / 16;
        pcm.extend(load(&samples.join(path))?);
        turns.push(SpeakerTurn {
            speaker: *speaker,
            start_ms,
            end_ms: pcm.len() as u64 / 16,
        });
    }
    Ok((name.to_string(), pcm, turns))
}

/// Any audio file as 16 kHz mono; `.raw` files are taken as 16 kHz s16le.
fn load(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let hint = if path.extension().is_some_and(|e| e == "raw") {
        PcmHint::RawS16le { sample_rate: RATE }
    } else {
        PcmHint::None
    };
    Ok(decode_to_mono(&bytes, hint, RATE)
        .with_context(|| format!("decoding {}", path.display()))?
        .samples)
}

fn read_reference(path: &Path) -> Result<Vec<SpeakerTurn>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&text)?;
    let turns = json["turns"].as_array().context("no \"turns\" array")?;
    turns
        .iter()
        .map(|turn| {
            let label = turn["speaker"].as_str().context("turn without a speaker")?;
            let number: usize = label
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .with_context(|| format!("speaker label {label:?} has no number"))?;
            Ok(SpeakerTurn {
                speaker: number.saturating_sub(1),
                start_ms: turn["start_ms"].as_u64().context("turn without start_ms")?,
                end_ms: turn["end_ms"].as_u64().context("turn without end_ms")?,
            })
        })
        .collect()
}
