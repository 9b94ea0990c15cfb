//! `mka1-voice transcribe FILE`: decode any supported audio file and print its text.

use std::path::PathBuf;

use anyhow::{Context, bail};
use mka1_media::{PcmHint, decode_to_mono};
use mka1_models::ModelsDir;
use mka1_stt::{ModelId, TranscribeOptions, WhisperModel, engine::SAMPLE_RATE};

/// Options of `transcribe`.
#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// Audio file (format detected from its content).
    pub file: PathBuf,
    /// `auto`, `whisper-tiny.en` or `whisper-base`.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// Language (ISO-639-1 or BCP-47); detected when absent.
    #[arg(long)]
    pub language: Option<String>,
    /// Treat the file as raw s16le mono PCM at this rate (raw PCM has no signature).
    #[arg(long, value_name = "HZ")]
    pub raw_pcm_rate: Option<u32>,
    /// Print the whole result as JSON instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `transcribe`.
pub fn run(args: TranscribeArgs) -> anyhow::Result<()> {
    let dir = ModelsDir::from_env()?;
    let installed = ModelId::installed(&dir);
    let model = if args.model == "auto" {
        ModelId::auto(args.language.as_deref(), &installed)
            .context("no speech model installed: run `mka1-voice models install`")?
    } else {
        match ModelId::parse(&args.model) {
            Some(m) => m,
            None => bail!(
                "unknown model '{}': use auto, {}",
                args.model,
                ModelId::ALL.map(ModelId::as_str).join(", ")
            ),
        }
    };

    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let hint = match args.raw_pcm_rate {
        Some(sample_rate) => PcmHint::RawS16le { sample_rate },
        None => PcmHint::None,
    };
    let audio = decode_to_mono(&bytes, hint, SAMPLE_RATE)
        .with_context(|| format!("cannot decode {}", args.file.display()))?;
    if audio.truncated {
        tracing::warn!(
            "{} is truncated; transcribing what decodes",
            args.file.display()
        );
    }

    let engine = WhisperModel::load(model, &model.ggml_path(&dir))?;
    let opts = TranscribeOptions {
        language: args.language,
        ..TranscribeOptions::default()
    };
    let transcript = engine.transcribe(&audio.samples, &opts)?;
    if args.json {
        let segments: Vec<_> = transcript
            .segments
            .iter()
            .map(
                |s| serde_json::json!({"start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text}),
            )
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "text": transcript.text,
                "language": transcript.language,
                "confidence": transcript.confidence,
                "model": model.as_str(),
                "segments": segments,
            })
        );
    } else {
        println!("{}", transcript.text);
    }
    Ok(())
}
