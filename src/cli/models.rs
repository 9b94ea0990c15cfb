//! `mka1-voice models install|list`.

use anyhow::Context;
use mka1_models::{CATALOG, ModelsDir, catalog::paths};
use mka1_stt::ModelId;

/// Model management.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Fetch, verify and convert every model (idempotent).
    Install,
    /// Show what is installed, where, and under which license.
    List,
}

/// Runs a `models` subcommand.
pub fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    let dir = ModelsDir::from_env()?;
    match cmd {
        ModelsCommand::Install => install(&dir),
        ModelsCommand::List => {
            list(&dir);
            Ok(())
        }
    }
}

fn install(dir: &ModelsDir) -> anyhow::Result<()> {
    let source = mka1_models::source::from_env();
    eprintln!("models directory: {}", dir.root().display());
    let report = mka1_models::install(dir, &CATALOG, source.as_ref())?;
    for p in &report.fetched {
        eprintln!("  fetched  {p}");
    }
    for p in &report.skipped {
        eprintln!("  present  {p}");
    }
    for model in ModelId::ALL {
        match mka1_stt::provision_ggml(dir, model)
            .with_context(|| format!("converting {model} to ggml"))?
        {
            Some(summary) => eprintln!(
                "  converted {model} → {} ({} tensors)",
                model.ggml_path(dir).display(),
                summary.tensors.len()
            ),
            None => eprintln!("  present  {model} (ggml)"),
        }
    }
    eprintln!("all models installed");
    Ok(())
}

fn list(dir: &ModelsDir) {
    println!("models directory: {}", dir.root().display());
    println!("speech recognition:");
    for model in ModelId::ALL {
        let path = model.ggml_path(dir);
        println!(
            "  {:<18} {:<9} {}{}",
            model.as_str(),
            state(&path),
            path.display(),
            if model.is_multilingual() {
                "  (multilingual)"
            } else {
                "  (English)"
            }
        );
    }
    println!("voices:");
    for voice in mka1_tts::VOICES {
        let model = voice.model_path(dir);
        let installed = if voice.is_installed(dir) {
            "installed"
        } else {
            "missing"
        };
        println!(
            "  {:<18} {:<9} {}  ({}, {}, {} Hz, {})",
            voice.id,
            installed,
            model.display(),
            voice.locale,
            voice.description,
            voice.sample_rate,
            voice.license
        );
    }
    println!("voice activity detection:");
    let vad = dir.path(paths::SILERO_VAD);
    println!(
        "  {:<18} {:<9} {}",
        "silero-vad-v6",
        state(&vad),
        vad.display()
    );
    println!("packages:");
    for p in CATALOG.packages {
        println!("  {:<36} {}", p.requirement(), p.license);
    }
}

fn state(path: &std::path::Path) -> &'static str {
    if path.is_file() {
        "installed"
    } else {
        "missing"
    }
}
