//! `mka1-voice say TEXT`: speak a text with a Piper voice into an audio file (or stdout).

use std::io::{IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use mka1_media::encode::{AudioFormat, StreamEncoder, stream_encoder};
use mka1_media::{OggOpusWriter, encode_ogg_opus};
use mka1_models::ModelsDir;
use mka1_tts::{PiperVoice, SAMPLE_RATE, SynthesisOptions, Voice, VoiceOptions};

/// MP3 bitrate, as the speech API streams it.
const MP3_KBPS: u32 = 96;

/// Output formats of `say`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SayFormat {
    /// 16-bit PCM WAV.
    Wav,
    /// MP3, 96 kbit/s.
    Mp3,
    /// Ogg Opus.
    Opus,
    /// FLAC, 16-bit.
    Flac,
    /// Raw signed 16-bit little-endian PCM, no header.
    Pcm,
}

impl SayFormat {
    fn from_extension(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "wav" => Some(Self::Wav),
            "mp3" => Some(Self::Mp3),
            "opus" | "ogg" => Some(Self::Opus),
            "flac" => Some(Self::Flac),
            "pcm" | "raw" => Some(Self::Pcm),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
            Self::Opus => "opus",
            Self::Flac => "flac",
            Self::Pcm => "pcm",
        }
    }
}

/// Options of `say`.
#[derive(Debug, clap::Args)]
pub struct SayArgs {
    /// The text to speak (Markdown allowed); `-` or nothing reads it from stdin.
    pub text: Option<String>,
    /// Output file; `-` writes to stdout. Default: stdout when it is not a terminal.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Audio format (default: from the output's extension, else wav). Audio is 24 kHz mono.
    #[arg(long, value_enum)]
    pub format: Option<SayFormat>,
    /// Voice id (see `mka1-voice models list`).
    #[arg(long, default_value = mka1_tts::JOE.id)]
    pub voice: String,
    /// Speaking rate, 0.25 to 4.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f32,
    /// ONNX Runtime threads for the voice.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Runs `say`.
pub fn run(args: SayArgs) -> anyhow::Result<()> {
    let text = match args.text.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the text from stdin")?;
            text
        }
        Some(text) => text.to_owned(),
    };
    let to_stdout = match &args.output {
        Some(path) => path.as_os_str() == "-",
        None if std::io::stdout().is_terminal() => {
            bail!("stdout is a terminal: give an output file with -o FILE (or -o - to force)")
        }
        None => true,
    };
    let format = args
        .format
        .or_else(|| {
            args.output
                .as_deref()
                .filter(|_| !to_stdout)
                .and_then(SayFormat::from_extension)
        })
        .unwrap_or(SayFormat::Wav);

    let voice_entry = Voice::by_id(&args.voice)?;
    let dir = ModelsDir::from_env()?;
    let options = VoiceOptions::default().with_intra_threads(args.threads);
    let voice = PiperVoice::load(voice_entry, &dir, &options)
        .with_context(|| format!("loading the voice {}", voice_entry.id))?;
    let synthesis = SynthesisOptions::default().with_speed(args.speed);

    let started = Instant::now();
    let (bytes, seconds) = if to_stdout {
        stream_to_stdout(&voice, &text, &synthesis, format)?
    } else {
        let audio = voice.synthesize_with(&text, &synthesis)?;
        (
            encode_whole(&audio, format)?,
            audio.len() as f64 / f64::from(SAMPLE_RATE),
        )
    };
    if let Some(path) = args.output.as_ref().filter(|_| !to_stdout) {
        std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "{:.2} s of speech in {:.2} s → {} ({}, {} bytes)",
            seconds,
            started.elapsed().as_secs_f64(),
            path.display(),
            format.name(),
            bytes.len()
        );
    }
    Ok(())
}

/// A whole file in `format`.
fn encode_whole(audio: &[f32], format: SayFormat) -> anyhow::Result<Vec<u8>> {
    Ok(match media_format(format) {
        Some(f) => mka1_media::encode::encode_all(f, audio, SAMPLE_RATE, MP3_KBPS)?,
        None => encode_ogg_opus(audio, SAMPLE_RATE)?,
    })
}

/// Writes each clause's audio to stdout as soon as it is synthesized (WAV with the
/// unknown-length header a stream needs). Returns no bytes: they are already out.
fn stream_to_stdout(
    voice: &PiperVoice,
    text: &str,
    options: &SynthesisOptions,
    format: SayFormat,
) -> anyhow::Result<(Vec<u8>, f64)> {
    enum Encoder {
        Media(Box<dyn StreamEncoder>),
        Opus(Box<OggOpusWriter>),
    }
    let mut encoder = match media_format(format) {
        Some(f) => Encoder::Media(stream_encoder(f, SAMPLE_RATE, MP3_KBPS)?),
        None => Encoder::Opus(Box::new(OggOpusWriter::new(SAMPLE_RATE)?)),
    };
    let mut stdout = std::io::stdout().lock();
    let mut buf = Vec::new();
    let mut samples = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    voice.synthesize_each(text, options, |chunk| {
        samples += chunk.samples_24k.len();
        buf.clear();
        let encoded = match &mut encoder {
            Encoder::Media(e) => e.push(&chunk.samples_24k, &mut buf),
            Encoder::Opus(w) => w
                .push(&chunk.samples_24k, &mut buf)
                .map(|()| w.flush_page(&mut buf)),
        };
        let written = encoded
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(stdout.write_all(&buf).and_then(|()| stdout.flush())?));
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.context("writing speech to stdout"));
    }
    buf.clear();
    match encoder {
        Encoder::Media(mut e) => e.finish(&mut buf)?,
        Encoder::Opus(w) => w.finish(&mut buf)?,
    }
    stdout.write_all(&buf)?;
    stdout.flush()?;
    Ok((Vec::new(), samples as f64 / f64::from(SAMPLE_RATE)))
}

/// The media crate's format, or `None` for Ogg Opus (its own writer).
fn media_format(format: SayFormat) -> Option<AudioFormat> {
    match format {
        SayFormat::Wav => Some(AudioFormat::Wav),
        SayFormat::Mp3 => Some(AudioFormat::Mp3),
        SayFormat::Flac => Some(AudioFormat::Flac),
        SayFormat::Pcm => Some(AudioFormat::Pcm),
        SayFormat::Opus => None,
    }
}
