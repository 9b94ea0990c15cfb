//! IPA phonemes from the `espeak-ng` program.
//!
//! espeak-ng is GPL-3: it runs as a separate process and is never linked. One process
//! phonemizes a batch of lines (one clause per line, ≈ 3 ms per clause here) and ends at
//! the end of its input, which delimits its answer without any in-band marker. Starting
//! the program and loading its dictionary costs ≈ 10 ms, more than a short clause, so the
//! next process is always started ahead of time and waits, initialised, for its input: a
//! clause then costs ≈ 3 ms. Batches run while the voice renders the clause before, on
//! the other core, off the caller's thread.
//!
//! The output is post-processed as Piper does with espeak-ng's library call: language
//! switch flags such as `(fr)` are dropped and the IPA is split into NFD code points.
//! Piper also appends each clause's punctuation, which the command line does not print;
//! [`crate::engine`] adds it back from the text's own clause punctuation.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use unicode_normalization::UnicodeNormalization;

use crate::TtsError;

/// The program run when `MKA1_ESPEAK` does not name another.
pub const DEFAULT_PROGRAM: &str = "espeak-ng";

/// How to run espeak-ng for one voice. Clones share the process started ahead of time.
#[derive(Debug, Clone)]
pub struct Espeak {
    program: String,
    voice: String,
    /// A process already started and waiting for its input.
    spare: Arc<Mutex<Option<Spare>>>,
}

impl PartialEq for Espeak {
    fn eq(&self, other: &Self) -> bool {
        self.program == other.program && self.voice == other.voice
    }
}

impl Eq for Espeak {}

impl Espeak {
    /// espeak-ng at `program` speaking `voice` ("en-us").
    pub fn new(program: impl Into<String>, voice: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            voice: voice.into(),
            spare: Arc::new(Mutex::new(None)),
        }
    }

    /// The program named by `MKA1_ESPEAK`, else `espeak-ng` on the `PATH`.
    pub fn from_env(voice: impl Into<String>) -> Self {
        let program = std::env::var("MKA1_ESPEAK")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PROGRAM.to_owned());
        Self::new(program, voice)
    }

    /// The espeak-ng voice.
    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// Fails with [`TtsError::EspeakMissing`] when the program cannot be run.
    pub fn check(&self) -> Result<(), TtsError> {
        let out = Command::new(&self.program)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| self.missing(e))?;
        if !out.status.success() {
            return Err(self.missing(format!("`--version` exited with {}", out.status)));
        }
        Ok(())
    }

    fn missing(&self, reason: impl ToString) -> TtsError {
        TtsError::EspeakMissing {
            program: self.program.clone(),
            reason: reason.to_string(),
        }
    }

    /// Starts a process and leaves it waiting for input, so the next batch does not pay
    /// for espeak-ng's start-up.
    pub fn prepare(&self) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.is_none() {
            *spare = self.spawn().ok().map(|child| Spare(Some(child)));
        }
    }

    fn spawn(&self) -> Result<Child, TtsError> {
        // Input comes on stdin, never as an argument: text starting with '-' must not be
        // read as an option. `-b 1` says it is UTF-8 (faster than detecting it), `-q` skips
        // audio, and stdin without `--stdin` is read line by line, so each line is
        // phonemized on its own and answers with at least one output line.
        Command::new(&self.program)
            .args(["-q", "-b", "1", "--ipa", "-v", &self.voice])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.missing(e))
    }

    /// The waiting process if it is still alive, else a new one.
    fn take_process(&self) -> Result<Child, TtsError> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = spare.and_then(Spare::take)
            && matches!(child.try_wait(), Ok(None))
        {
            return Ok(child);
        }
        self.spawn()
    }

    /// Starts phonemizing `lines` (one clause each) and returns at once; the result is
    /// collected with [`PendingPhonemes::wait`].
    pub fn start(&self, lines: &[String]) -> Result<PendingPhonemes, TtsError> {
        let mut input = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            input.push_str(&clean_line(line));
            input.push('\n');
        }
        let mut child = self.take_process()?;
        if let Some(mut stdin) = child.stdin.take() {
            // Batches are far smaller than a pipe buffer, so this does not wait for the
            // child. A child that died early shows up in `wait`. Dropping stdin ends the
            // input: the process answers and exits.
            let _ = stdin.write_all(input.as_bytes());
        }
        // The next batch's process starts now, while this one works.
        self.prepare();
        Ok(PendingPhonemes {
            child: Some(child),
            lines: lines.len(),
        })
    }

    /// Phonemizes `lines` and waits for the result.
    pub fn phonemize(&self, lines: &[String]) -> Result<Phonemized, TtsError> {
        self.start(lines)?.wait()
    }
}

/// A process waiting for input; dropped, its input closes and it is reaped.
#[derive(Debug)]
struct Spare(Option<Child>);

impl Spare {
    fn take(mut self) -> Option<Child> {
        self.0.take()
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // With no input espeak-ng exits at once; waiting reaps it (no zombie).
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// A running espeak-ng process.
#[derive(Debug)]
pub struct PendingPhonemes {
    /// Taken by [`PendingPhonemes::wait`]; a run dropped unread is killed and reaped.
    child: Option<Child>,
    lines: usize,
}

impl Drop for PendingPhonemes {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The result of one espeak-ng run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phonemized {
    /// One phoneme string per input line.
    PerLine(Vec<String>),
    /// espeak-ng split some line into several clauses, so lines cannot be matched to
    /// output: every output line, in order.
    Unmatched(Vec<String>),
}

impl PendingPhonemes {
    /// Waits for the process and reads its phonemes.
    pub fn wait(mut self) -> Result<Phonemized, TtsError> {
        let child = self.child.take().ok_or_else(|| TtsError::Espeak {
            reason: "the process was already read".into(),
        })?;
        let out = child.wait_with_output().map_err(|e| TtsError::Espeak {
            reason: e.to_string(),
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(TtsError::Espeak {
                reason: format!("exited with {}: {}", out.status, stderr.trim()),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<String> = text.lines().map(clean_phonemes).collect();
        Ok(if lines.len() == self.lines {
            Phonemized::PerLine(lines)
        } else {
            Phonemized::Unmatched(lines)
        })
    }
}

/// A clause made safe for espeak-ng's input: one line, no control characters, no `[[`
/// (espeak reads `[[...]]` as raw phoneme input).
pub fn clean_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '[' | ']' | '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One output line as Piper uses it: language-switch flags removed, NFD code points.
pub fn clean_phonemes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().nfd().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_for_espeak() {
        assert_eq!(clean_line("a [[h@'l]] b\0c\nd"), "a h@'l b c d");
        assert_eq!(clean_line("  -v  en "), "-v en");
    }

    #[test]
    fn language_flags_go_and_ipa_is_decomposed() {
        assert_eq!(clean_phonemes(" (fr)bɔ̃ʒuːʁ(en) wˈɜːld "), "bɔ̃ʒuːʁ wˈɜːld");
        assert_eq!(clean_phonemes("ç"), "c\u{327}");
    }

    #[test]
    fn phonemizes_a_batch_line_by_line() {
        let espeak = Espeak::from_env("en-us");
        if let Err(e) = espeak.check() {
            panic!("{e} (`make deps` installs it)");
        }
        let lines = ["Hello there,".to_owned(), "-v world.".to_owned()];
        let Phonemized::PerLine(ph) = espeak.phonemize(&lines).unwrap() else {
            panic!("lines should match");
        };
        assert_eq!(ph[0], "həlˈoʊ ðˈɛɹ");
        assert!(ph[1].contains("wˈɜːld"), "{ph:?}");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let err = Espeak::new("/nonexistent/espeak-ng", "en-us")
            .check()
            .unwrap_err();
        assert!(matches!(err, TtsError::EspeakMissing { .. }), "{err}");
        assert!(err.to_string().contains("install the espeak-ng package"));
    }
}
