//! The cost side of preemptive generation: how often a pause of `pause_ms` inside human
//! speech is not the end of the turn (each is a reply started and then dropped).
//!
//! `cargo run --release -p mka1-stt --example pause_cost -- [PAUSE_MS ...]` streams the
//! LibriVox clips and the two-speaker recording of `samples/` (real read speech, with
//! its breaths and commas) through the streaming transcriber at a 500 ms end-of-turn
//! silence, and counts for each pause setting the turns, the pauses reported and the
//! pauses the speaker went on after (`Resumed`: stale work).

use std::path::Path;
use std::sync::Arc;

use mka1_media::vad::SileroVad;
use mka1_models::ModelsDir;
use mka1_stt::streaming::{StreamConfig, StreamEvent, StreamingTranscriber};
use mka1_stt::{ModelId, WhisperModel};

fn wav(path: &Path) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let mut reader = hound::WavReader::open(path)?;
    if reader.spec().sample_rate != 16_000 || reader.spec().channels != 1 {
        return Err(format!("{}: not 16 kHz mono", path.display()).into());
    }
    Ok(reader
        .samples::<i16>()
        .map(|s| s.map(|s| f32::from(s) / 32_768.0))
        .collect::<Result<_, _>>()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pauses: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let pauses = if pauses.is_empty() {
        vec![50, 100, 150, 200]
    } else {
        pauses
    };
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let mut clips = Vec::new();
    for entry in std::fs::read_dir(samples.join("librivox"))? {
        clips.push(wav(&entry?.path())?);
    }
    clips.push(wav(&samples.join("two-speakers-16k.wav"))?);
    let seconds: f64 = clips.iter().map(|c| c.len() as f64 / 16_000.0).sum();

    let dir = ModelsDir::from_env()?;
    let model = Arc::new(WhisperModel::load(
        ModelId::TinyEn,
        &ModelId::TinyEn.ggml_path(&dir),
    )?);
    let vad = SileroVad::from_env()?;
    println!(
        "{} clips, {seconds:.1} s of audio, silence 500 ms",
        clips.len()
    );
    for pause_ms in pauses {
        let (mut turns, mut paused, mut resumed) = (0, 0, 0);
        for clip in &clips {
            let mut config = StreamConfig::default()
                .with_silence_ms(500)
                .with_pause_ms(pause_ms)
                .with_partial_interval_ms(10_000);
            config.transcribe.language = Some("en".into());
            let mut stt = StreamingTranscriber::new(Arc::clone(&model), &vad, config);
            let mut events = Vec::new();
            for chunk in clip.chunks(320) {
                stt.push(chunk, &mut events)?;
            }
            // A second of silence ends the last turn as a caller's would (in 20 ms
            // packets too: one big chunk would end the turn before a pause is looked for).
            for _ in 0..50 {
                stt.push(&[0.0; 320], &mut events)?;
            }
            stt.finish(&mut events)?;
            for event in &events {
                match event {
                    StreamEvent::SpeechStopped { .. } => turns += 1,
                    StreamEvent::Pause { .. } => paused += 1,
                    StreamEvent::Resumed { .. } => resumed += 1,
                    _ => {}
                }
            }
        }
        println!(
            "pause {pause_ms:>3} ms: {turns} turns, {paused} pauses, {resumed} resumed \
             ({:.1} stale replies per minute of audio)",
            f64::from(resumed) * 60.0 / seconds
        );
    }
    Ok(())
}
