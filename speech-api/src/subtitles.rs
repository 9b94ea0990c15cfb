//! SubRip (`srt`) and WebVTT (`vtt`) renderings of a transcript's segments, as OpenAI's
//! `response_format` produces them.

use std::fmt::Write as _;

/// A timed piece of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// Start, in milliseconds.
    pub start_ms: u64,
    /// End, in milliseconds.
    pub end_ms: u64,
    /// The text.
    pub text: String,
}

/// `HH:MM:SS<sep>mmm`.
fn timestamp(ms: u64, separator: char) -> String {
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    format!("{hours:02}:{minutes:02}:{seconds:02}{separator}{millis:03}")
}

/// SubRip: numbered cues from 1, `,` before the milliseconds, a blank line after each.
pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (i, cue) in cues.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(cue.start_ms, ','),
            timestamp(cue.end_ms.max(cue.start_ms), ','),
            one_line(&cue.text)
        );
    }
    out
}

/// WebVTT: the `WEBVTT` header, `.` before the milliseconds.
pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            timestamp(cue.start_ms, '.'),
            timestamp(cue.end_ms.max(cue.start_ms), '.'),
            one_line(&cue.text)
        );
    }
    out
}

/// A cue's text may not contain a blank line (it would end the cue) nor `-->`.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("-->", "->")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues() -> Vec<Cue> {
        vec![
            Cue {
                start_ms: 0,
                end_ms: 2990,
                text: "He was not an ill-disposed young man.".into(),
            },
            Cue {
                start_ms: 3_723_004,
                end_ms: 3_725_000,
                text: " Two\n\nlines --> one ".into(),
            },
        ]
    }

    #[test]
    fn srt_format() {
        assert_eq!(
            srt(&cues()),
            "1\n00:00:00,000 --> 00:00:02,990\nHe was not an ill-disposed young man.\n\n\
             2\n01:02:03,004 --> 01:02:05,000\nTwo lines -> one\n\n"
        );
    }

    #[test]
    fn vtt_format() {
        assert_eq!(
            vtt(&cues()),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.990\nHe was not an ill-disposed young man.\n\n\
             01:02:03.004 --> 01:02:05.000\nTwo lines -> one\n\n"
        );
    }
}
