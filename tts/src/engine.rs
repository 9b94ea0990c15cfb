//! The synthesis pipeline shared by [`crate::PiperVoice::synthesize`] and the streaming
//! [`crate::Synthesizer`]: text → clauses → units of synthesis → phonemes (espeak-ng,
//! batched, one clause per line, running while the voice renders the unit before) →
//! phoneme ids → audio.

use std::collections::VecDeque;

use crate::TtsError;
use crate::phonemize::{Espeak, PendingPhonemes, Phonemized};
use crate::text::{Clause, ClauseSplitter, SpokenClause, normalize_text, spoken_clauses};

/// Units phonemized by one espeak-ng process at most (after the first, which goes alone
/// so that the first audio is not kept waiting).
const BATCH_UNITS: usize = 8;
/// Lines one espeak-ng process gets at most.
const BATCH_LINES: usize = 32;
/// A unit that merges clauses ([`Chunking::Sentence`]) stops growing past this many
/// characters, so one voice call stays short.
const MAX_UNIT_CHARS: usize = 600;

/// How text is grouped into synthesis calls, each giving one [`crate::AudioChunk`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunking {
    /// Every clause on its own: the first audio comes soonest.
    #[default]
    Clause,
    /// Whole sentences, as Piper does: the most natural prosody across commas.
    Sentence,
    /// The first clause alone (for latency), then whole sentences.
    FirstClauseThenSentences,
    /// As [`Chunking::FirstClauseThenSentences`], but while the first clause is still
    /// arriving (streamed text), its first few words go alone as soon as they end at a
    /// phrase boundary ([`crate::text::phrase`]): a long first clause no longer holds up
    /// the first audio. For a voice agent speaking an LLM's tokens.
    FirstPhraseThenSentences,
}

/// One synthesis call's worth of text.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Position among the units of the text.
    pub index: usize,
    /// The text as written.
    pub text: String,
    /// The text as spoken, in the pieces espeak-ng phonemizes one per line.
    pub spoken: Vec<SpokenClause>,
}

impl Unit {
    fn new(index: usize, text: String) -> Self {
        let spoken = spoken_clauses(&normalize_text(&text));
        Self {
            index,
            text,
            spoken,
        }
    }
}

/// Groups clauses into units according to a [`Chunking`].
#[derive(Debug)]
struct UnitBuilder {
    chunking: Chunking,
    held: Vec<Clause>,
    held_chars: usize,
    next_index: usize,
}

impl UnitBuilder {
    fn new(chunking: Chunking) -> Self {
        Self {
            chunking,
            held: Vec::new(),
            held_chars: 0,
            next_index: 0,
        }
    }

    fn push(&mut self, clause: Clause) -> Option<Unit> {
        let whole_sentences = match self.chunking {
            Chunking::Clause => false,
            Chunking::Sentence => true,
            Chunking::FirstClauseThenSentences | Chunking::FirstPhraseThenSentences => {
                self.next_index > 0
            }
        };
        let ends = clause.ends_sentence;
        self.held_chars += clause.text.chars().count() + 1;
        self.held.push(clause);
        if !whole_sentences || ends || self.held_chars >= MAX_UNIT_CHARS {
            return self.flush();
        }
        None
    }

    fn flush(&mut self) -> Option<Unit> {
        if self.held.is_empty() {
            return None;
        }
        let text = self
            .held
            .drain(..)
            .map(|c| c.text)
            .collect::<Vec<_>>()
            .join(" ");
        self.held_chars = 0;
        let unit = Unit::new(self.next_index, text);
        self.next_index += 1;
        Some(unit)
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Whether the first unit may be an early phrase and has not been made yet (the first
    /// unit never holds clauses back, so nothing is held while it is pending).
    fn wants_first_phrase(&self) -> bool {
        self.chunking == Chunking::FirstPhraseThenSentences && self.next_index == 0
    }
}

/// Units waiting for phonemes, one espeak-ng run in flight, and units ready to render.
#[derive(Debug, Default)]
struct PhonemeQueue {
    pending: VecDeque<Unit>,
    in_flight: Option<(Vec<Unit>, PendingPhonemes)>,
    ready: VecDeque<(Unit, String)>,
}

impl PhonemeQueue {
    fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_none() && self.ready.is_empty()
    }

    /// Starts espeak-ng on up to `max_units` pending units, unless a run is in flight.
    fn start(&mut self, espeak: &Espeak, max_units: usize) -> Result<(), TtsError> {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return Ok(());
        }
        let mut units = Vec::new();
        let mut lines = Vec::new();
        while units.len() < max_units {
            let Some(unit) = self.pending.front() else {
                break;
            };
            if !units.is_empty() && lines.len() + unit.spoken.len() > BATCH_LINES {
                break;
            }
            lines.extend(unit.spoken.iter().map(espeak_line));
            units.extend(self.pending.pop_front());
        }
        if lines.is_empty() {
            // Nothing to say in these units (only punctuation or symbols).
            self.ready
                .extend(units.into_iter().map(|u| (u, String::new())));
            return Ok(());
        }
        let run = espeak.start(&lines)?;
        self.in_flight = Some((units, run));
        Ok(())
    }

    /// Waits for the run in flight and moves its units to `ready`.
    fn collect(&mut self, espeak: &Espeak) -> Result<(), TtsError> {
        let Some((units, run)) = self.in_flight.take() else {
            return Ok(());
        };
        let per_line = match run.wait()? {
            Phonemized::PerLine(lines) => lines,
            Phonemized::Unmatched(_) => {
                // espeak-ng cut some line in two, so output lines cannot be matched to
                // clauses: ask again one line per process (in parallel), joining the parts.
                let lines: Vec<String> = units
                    .iter()
                    .flat_map(|u| u.spoken.iter().map(espeak_line))
                    .collect();
                let runs = lines
                    .iter()
                    .map(|l| espeak.start(std::slice::from_ref(l)))
                    .collect::<Result<Vec<_>, _>>()?;
                runs.into_iter()
                    .map(|r| {
                        r.wait().map(|p| match p {
                            Phonemized::PerLine(v) | Phonemized::Unmatched(v) => v.join(" "),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let mut lines = per_line.into_iter();
        for unit in units {
            let phonemes: Vec<String> = lines.by_ref().take(unit.spoken.len()).collect();
            let joined = join_like_piper(&unit.spoken, &phonemes);
            self.ready.push_back((unit, joined));
        }
        Ok(())
    }
}

/// The line espeak-ng gets for a spoken clause: its words and its punctuation, as Piper
/// hands espeak-ng the text.
fn espeak_line(clause: &SpokenClause) -> String {
    let mut line = clause.text.clone();
    line.extend(clause.terminator);
    line
}

/// Phonemes of a unit as Piper builds a sentence: each clause's phonemes, its punctuation,
/// and a space after `, : ;`.
pub(crate) fn join_like_piper(spoken: &[SpokenClause], phonemes: &[String]) -> String {
    let mut out = String::new();
    for (k, (clause, ph)) in spoken.iter().zip(phonemes).enumerate() {
        out.push_str(ph.trim());
        let last = k + 1 == spoken.len();
        match clause.terminator {
            Some(t @ (',' | ':' | ';')) => {
                out.push(t);
                out.push(' ');
            }
            Some(t) => {
                out.push(t);
                if !last {
                    out.push(' ');
                }
            }
            // Piper glues such clauses together; a word break is what was said.
            None if !last => out.push(' '),
            None => {}
        }
    }
    out
}

/// Text in, units with their phonemes out, in order.
#[derive(Debug)]
pub(crate) struct Pipeline {
    espeak: Espeak,
    splitter: ClauseSplitter,
    builder: UnitBuilder,
    queue: PhonemeQueue,
    started: bool,
}

impl Pipeline {
    pub(crate) fn new(espeak: Espeak, chunking: Chunking) -> Self {
        Self {
            espeak,
            splitter: ClauseSplitter::new(),
            builder: UnitBuilder::new(chunking),
            queue: PhonemeQueue::default(),
            started: false,
        }
    }

    pub(crate) fn push_text(&mut self, delta: &str) {
        self.splitter.push(delta);
    }

    pub(crate) fn finish(&mut self) {
        self.splitter.finish();
    }

    /// Moves complete clauses into units waiting for phonemes.
    fn pump(&mut self) {
        while let Some(clause) = self.splitter.next_clause() {
            if let Some(unit) = self.builder.push(clause) {
                self.queue.pending.push_back(unit);
            }
        }
        if self.builder.wants_first_phrase()
            && let Some(phrase) = self.splitter.take_first_phrase()
            && let Some(unit) = self.builder.push(phrase)
        {
            self.queue.pending.push_back(unit);
        }
        if self.splitter.is_finished()
            && self.splitter.is_empty()
            && let Some(unit) = self.builder.flush()
        {
            self.queue.pending.push_back(unit);
        }
    }

    /// Whether all text has been taken and every unit handed out.
    pub(crate) fn is_done(&self) -> bool {
        self.splitter.is_finished()
            && self.splitter.is_empty()
            && self.builder.is_empty()
            && self.queue.is_empty()
    }

    /// The next unit with its phonemes, or `None` when more text is needed first. May wait
    /// for espeak-ng (milliseconds); before returning it starts phonemizing what follows,
    /// so that runs while the caller renders this unit.
    pub(crate) fn next_unit(&mut self) -> Result<Option<(Unit, String)>, TtsError> {
        self.pump();
        if self.queue.ready.is_empty() {
            if self.queue.in_flight.is_none() {
                if self.queue.pending.is_empty() {
                    return Ok(None);
                }
                // The first unit goes alone: its audio is what a listener waits for.
                let batch = if self.started { BATCH_UNITS } else { 1 };
                self.started = true;
                self.queue.start(&self.espeak, batch)?;
            }
            self.queue.collect(&self.espeak)?;
        }
        let next = self.queue.ready.pop_front();
        self.pump();
        self.queue.start(&self.espeak, BATCH_UNITS)?;
        Ok(next)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn clause(text: &str, terminator: Option<char>) -> SpokenClause {
        SpokenClause {
            text: text.into(),
            terminator,
        }
    }

    #[test]
    fn joins_clauses_like_piper() {
        let spoken = [
            clause("a", Some(',')),
            clause("b", Some(':')),
            clause("c", Some('.')),
        ];
        let ph = ["A".to_owned(), "B".to_owned(), "C".to_owned()];
        assert_eq!(join_like_piper(&spoken, &ph), "A, B: C.");
        let spoken = [clause("a", Some(','))];
        assert_eq!(join_like_piper(&spoken, &ph[..1]), "A, ");
        let spoken = [clause("a", None), clause("b", Some('?'))];
        assert_eq!(join_like_piper(&spoken, &ph[..2]), "A B?");
    }

    #[test]
    fn units_follow_the_chunking() {
        let texts = |chunking, text: &str| {
            let mut b = UnitBuilder::new(chunking);
            let mut s = ClauseSplitter::new();
            s.push(text);
            s.finish();
            let mut out = Vec::new();
            while let Some(c) = s.next_clause() {
                out.extend(b.push(c).map(|u| u.text));
            }
            out.extend(b.flush().map(|u| u.text));
            out
        };
        let text = "One, two. Three, four, five. Six";
        assert_eq!(
            texts(Chunking::Clause, text),
            ["One,", "two.", "Three,", "four,", "five.", "Six"]
        );
        assert_eq!(
            texts(Chunking::Sentence, text),
            ["One, two.", "Three, four, five.", "Six"]
        );
        assert_eq!(
            texts(Chunking::FirstClauseThenSentences, text),
            ["One,", "two.", "Three, four, five.", "Six"]
        );
    }

    #[test]
    fn lines_espeak_splits_fall_back_to_one_process_each() {
        // "x ; y" is two clauses for espeak-ng: three output lines for two input lines.
        let espeak = Espeak::from_env("en-us");
        let unit = Unit {
            index: 0,
            text: "x ; y. Done.".into(),
            spoken: vec![clause("x ; y", Some('.')), clause("Done", Some('.'))],
        };
        let mut queue = PhonemeQueue::default();
        queue.pending.push_back(unit);
        queue.start(&espeak, 1).unwrap();
        queue.collect(&espeak).unwrap();
        let (_, phonemes) = queue.ready.pop_front().unwrap();
        assert_eq!(phonemes, "ˈɛks wˈaɪ. dˈʌn.");
    }

    #[test]
    fn a_pipeline_hands_out_every_unit_in_order() {
        let mut p = Pipeline::new(Espeak::from_env("en-us"), Chunking::Clause);
        p.push_text("Hello, world. It costs $3.50! ... Bye");
        p.finish();
        let mut got = Vec::new();
        while let Some((unit, phonemes)) = p.next_unit().unwrap() {
            got.push((unit.index, unit.text, phonemes));
        }
        assert!(p.is_done());
        let texts: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
        assert_eq!(texts, ["Hello,", "world.", "It costs $3.50!", "...", "Bye"]);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(got[0].2, "həlˈoʊ, ");
        assert!(got[2].2.ends_with("sˈɛnts!"), "{}", got[2].2);
        assert_eq!(got[3].2, "", "nothing to say");
    }

    #[test]
    fn a_streamed_first_clause_starts_with_its_first_phrase() {
        let mut p = Pipeline::new(
            Espeak::from_env("en-us"),
            Chunking::FirstPhraseThenSentences,
        );
        let mut got = Vec::new();
        // Token by token, as an LLM writes: the phrase goes once "is" shows it has ended.
        for delta in [
            "The", " capital", " of", " France", " is", " Paris", ",", " a", " city", ".",
        ] {
            p.push_text(delta);
            while let Some((unit, _)) = p.next_unit().unwrap() {
                got.push(unit.text);
            }
        }
        p.push_text(" It is large, and old.");
        p.finish();
        while let Some((unit, _)) = p.next_unit().unwrap() {
            got.push(unit.text);
        }
        assert_eq!(
            got,
            [
                "The capital of France",
                "is Paris, a city.",
                "It is large, and old."
            ]
        );
        // Text that arrives whole has its first clause whole.
        let mut p = Pipeline::new(
            Espeak::from_env("en-us"),
            Chunking::FirstPhraseThenSentences,
        );
        p.push_text("The capital of France is Paris. Yes.");
        let first = p.next_unit().unwrap().unwrap().0.text;
        assert_eq!(first, "The capital of France is Paris.");
    }
}
