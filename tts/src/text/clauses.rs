//! Clause splitting, for streaming: text arrives in deltas, clauses leave as soon as they
//! are complete.
//!
//! Two stages. [`ClauseSplitter`] cuts the text as written at clause punctuation followed
//! by a space (`. ? ! ; : ,` and ellipses) and at line breaks, but not inside numbers
//! ("3.14", "1,234", "3:30"), after titles ("Dr. Smith"), initials, list numbers or dates
//! ("March 15, 2024"); when the decision needs a character that has not arrived yet it
//! waits for it. Each clause is then normalised to spoken words, which can add pauses of
//! its own ("March fifteenth, twenty twenty four"); [`spoken_clauses`] cuts that text
//! again into the pieces espeak-ng phonemizes one per line, each with the punctuation
//! Piper gives the voice.
//!
//! Both stages bound a clause to [`MAX_CLAUSE_CHARS`], cutting overlong ones at a space
//! (or anywhere, for a single giant word), so no input makes one synthesis call huge.

use super::normalize::{is_suffix_abbreviation, is_title_abbreviation};

/// The longest clause handed to the voice in one piece, in characters.
pub const MAX_CLAUSE_CHARS: usize = 400;

/// A clause of the input as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The text, trimmed, with its closing punctuation.
    pub text: String,
    /// Whether the clause ends a sentence (`. ? !`, a line break or the end of the text).
    pub ends_sentence: bool,
}

/// Splits text arriving in deltas into clauses (see the module docs).
#[derive(Debug, Default)]
pub struct ClauseSplitter {
    buf: String,
    /// Byte offset up to which `buf` holds no clause boundary.
    scanned: usize,
    finished: bool,
}

/// What a character in the buffer means for the clause before it.
enum Decision {
    /// The clause ends after this many bytes.
    Split { end: usize, ends_sentence: bool },
    /// Not a boundary.
    Continue,
    /// Cannot tell before more text arrives.
    NeedMore,
}

impl ClauseSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a delta of text.
    pub fn push(&mut self, delta: &str) {
        self.buf.push_str(delta);
    }

    /// Marks the end of the text: the rest becomes the last clause.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`ClauseSplitter::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bytes of text not yet returned as clauses.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no text is waiting (whitespace does not count).
    pub fn is_empty(&self) -> bool {
        self.buf.trim().is_empty()
    }

    /// The next complete clause, if one is.
    pub fn next_clause(&mut self) -> Option<Clause> {
        loop {
            let clause = self.scan()?;
            if clause.text.chars().any(|c| !c.is_whitespace()) {
                return Some(clause);
            }
        }
    }

    /// The first words of the clause being written, cut at a phrase boundary
    /// ([`super::phrase::first_phrase_end`]), when [`ClauseSplitter::next_clause`] has no
    /// clause to give yet. For a reply's first audio: what follows becomes the next clause.
    pub fn take_first_phrase(&mut self) -> Option<Clause> {
        if self.finished {
            return None;
        }
        // `scanned` only moves past text without a clause boundary, so the cut never
        // crosses one.
        let end = super::phrase::first_phrase_end(&self.buf[..self.scanned])?;
        Some(self.take(end, false))
    }

    fn scan(&mut self) -> Option<Clause> {
        let mut pos = self.scanned;
        let mut chars_before = self.buf[..pos].chars().count();
        while pos < self.buf.len() {
            let c = self.buf[pos..].chars().next()?;
            if chars_before >= MAX_CLAUSE_CHARS {
                let end = overlong_cut(&self.buf[..pos]);
                return Some(self.take(end, false));
            }
            match self.decide(pos, c) {
                Decision::Split { end, ends_sentence } => {
                    return Some(self.take(end, ends_sentence));
                }
                Decision::Continue => {}
                Decision::NeedMore => {
                    self.scanned = pos;
                    return None;
                }
            }
            pos += c.len_utf8();
            chars_before += 1;
        }
        self.scanned = pos;
        if self.finished && !self.buf.is_empty() {
            let end = self.buf.len();
            return Some(self.take(end, true));
        }
        None
    }

    fn take(&mut self, end: usize, ends_sentence: bool) -> Clause {
        let text: String = self.buf.drain(..end).collect();
        self.scanned = 0;
        Clause {
            text: text.trim().to_owned(),
            ends_sentence,
        }
    }

    fn decide(&self, pos: usize, c: char) -> Decision {
        let buf = &self.buf;
        if c == '\n' {
            return Decision::Split {
                end: pos + 1,
                ends_sentence: true,
            };
        }
        if !matches!(c, '.' | '?' | '!' | ';' | ':' | ',' | '…') {
            return Decision::Continue;
        }
        // The whole run of closing marks: "?!", "...", `."`, ".)".
        let run_end = pos
            + buf[pos..]
                .chars()
                .take_while(|&c| {
                    matches!(
                        c,
                        '.' | '?'
                            | '!'
                            | '…'
                            | ';'
                            | ':'
                            | ','
                            | '"'
                            | '\''
                            | ')'
                            | ']'
                            | '”'
                            | '’'
                            | '»'
                    )
                })
                .map(char::len_utf8)
                .sum::<usize>();
        let Some(next) = buf[run_end..].chars().next() else {
            return if self.finished {
                Decision::Split {
                    end: run_end,
                    ends_sentence: ends_sentence(&buf[pos..run_end]),
                }
            } else {
                Decision::NeedMore
            };
        };
        if !next.is_whitespace() {
            return Decision::Continue;
        }
        let run = &buf[pos..run_end];
        let word = last_word(&buf[..pos]);
        let split = Decision::Split {
            end: run_end,
            ends_sentence: ends_sentence(run),
        };
        let following = buf[run_end..].trim_start();
        let need_following = |decide: &dyn Fn(&str) -> bool| {
            if following.is_empty() && !self.finished {
                Decision::NeedMore
            } else if decide(following) {
                split_clone(&split)
            } else {
                Decision::Continue
            }
        };
        match c {
            '.' if run.starts_with("..") => split,
            '.' if word == "St" => {
                // "Main St. It" ends a sentence; "St. Louis" does not.
                if is_capitalised_word_before(&buf[..pos]) {
                    need_following(&|f| f.starts_with(char::is_uppercase))
                } else {
                    Decision::Continue
                }
            }
            '.' => {
                if is_title_abbreviation(word) || is_initial(word) || is_list_number(buf, pos, word)
                {
                    Decision::Continue
                } else if is_suffix_abbreviation(word) || is_dotted(word) {
                    need_following(&|f| f.starts_with(char::is_uppercase))
                } else {
                    split
                }
            }
            ',' if is_day_after_month(&buf[..pos]) => {
                // "March 15, 2024": the year belongs to the date.
                if following.len() < 4 && !self.finished {
                    Decision::NeedMore
                } else if following.bytes().take(4).all(|b| b.is_ascii_digit())
                    && following.len() >= 4
                {
                    Decision::Continue
                } else {
                    split
                }
            }
            _ => split,
        }
    }
}

fn split_clone(d: &Decision) -> Decision {
    match d {
        Decision::Split { end, ends_sentence } => Decision::Split {
            end: *end,
            ends_sentence: *ends_sentence,
        },
        Decision::Continue => Decision::Continue,
        Decision::NeedMore => Decision::NeedMore,
    }
}

fn ends_sentence(run: &str) -> bool {
    run.contains(['.', '?', '!', '…'])
}

/// The word right before a mark, without opening quotes or brackets.
fn last_word(before: &str) -> &str {
    let start = before
        .rfind(|c: char| c.is_whitespace())
        .map_or(0, |i| i + 1);
    before[start..].trim_start_matches(['"', '\'', '(', '['])
}

/// Whether the word before the last one is capitalised ("Main" in "on Main St").
fn is_capitalised_word_before(before: &str) -> bool {
    let mut words = before.split_whitespace().rev();
    let _abbreviation = words.next();
    let Some(previous) = words.next() else {
        return false;
    };
    let sentence_start = words.next().is_none_or(|w| w.ends_with(['.', '?', '!']));
    !sentence_start && previous.starts_with(char::is_uppercase)
}

/// "J" in "J. R. R. Tolkien".
fn is_initial(word: &str) -> bool {
    let mut chars = word.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase())
}

/// "U.S", "e.g" and the like: letters with inner dots.
fn is_dotted(word: &str) -> bool {
    word.contains('.')
        && word.len() <= 8
        && word
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(char::is_alphabetic))
}

/// "1." at the start of a line: a list marker, not a sentence.
fn is_list_number(buf: &str, pos: usize, word: &str) -> bool {
    if word.is_empty() || word.len() > 3 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let line_start = buf[..pos].rfind('\n').map_or(0, |i| i + 1);
    buf[line_start..pos].trim() == word
}

/// Whether the text ends with a month name and a day number ("March 15").
fn is_day_after_month(before: &str) -> bool {
    let mut words = before.split_whitespace().rev();
    let (Some(day), Some(month)) = (words.next(), words.next()) else {
        return false;
    };
    let day = day.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = month.trim_end_matches('.').to_lowercase();
    (1..=2).contains(&day.len())
        && day.bytes().all(|b| b.is_ascii_digit())
        && month.len() >= 3
        && MONTHS.iter().any(|m| month.starts_with(m))
}

/// Where to cut a clause that reached the length limit: after its last space, or at the
/// limit itself when it is one giant word.
fn overlong_cut(text: &str) -> usize {
    match text.rfind(char::is_whitespace) {
        Some(i) if i > text.len() / 4 => i + 1,
        _ => text.len(),
    }
}

/// A piece of normalised text phonemized on its own line, with the punctuation Piper
/// appends to its phonemes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenClause {
    /// The words, without the closing punctuation.
    pub text: String,
    /// `. , ; : ? !`, or `None` (end of text, ellipsis, line break, length cut).
    pub terminator: Option<char>,
}

/// Cuts normalised text into [`SpokenClause`]s: at clause punctuation followed by a space
/// or the end, at line breaks, and at [`MAX_CLAUSE_CHARS`]. Pieces with nothing to say are
/// dropped.
pub fn spoken_clauses(text: &str) -> Vec<SpokenClause> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let push = |out: &mut Vec<SpokenClause>, current: &mut String, terminator: Option<char>| {
        let text = current.trim().to_owned();
        current.clear();
        if text.chars().any(char::is_alphanumeric) {
            out.push(SpokenClause { text, terminator });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            push(&mut out, &mut current, None);
            i += 1;
            continue;
        }
        if matches!(c, '.' | ',' | ';' | ':' | '?' | '!' | '…') {
            let mut end = i;
            while end < chars.len() && matches!(chars[end], '.' | ',' | ';' | ':' | '?' | '!' | '…')
            {
                end += 1;
            }
            if end == chars.len() || chars[end].is_whitespace() {
                let run: String = chars[i..end].iter().collect();
                let terminator = if run.contains("..") || run.contains('…') {
                    None
                } else {
                    run.chars().next()
                };
                push(&mut out, &mut current, terminator);
                i = end;
                continue;
            }
        }
        current.push(c);
        if current.chars().count() >= MAX_CLAUSE_CHARS {
            let cut = overlong_cut(&current);
            let rest = current.split_off(cut);
            push(&mut out, &mut current, None);
            current = rest;
        }
        i += 1;
    }
    push(&mut out, &mut current, None);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split_all(text: &str) -> Vec<String> {
        let mut s = ClauseSplitter::new();
        s.push(text);
        s.finish();
        std::iter::from_fn(|| s.next_clause())
            .map(|c| c.text)
            .collect()
    }

    #[test]
    fn splits_at_clause_punctuation() {
        assert_eq!(
            split_all("Hello, world. How are you? Fine; thanks: really! Yes"),
            [
                "Hello,",
                "world.",
                "How are you?",
                "Fine;",
                "thanks:",
                "really!",
                "Yes"
            ]
        );
    }

    #[test]
    fn keeps_numbers_titles_initials_and_dates_whole() {
        assert_eq!(
            split_all("Pi is 3.14, not 1,234."),
            ["Pi is 3.14,", "not 1,234."]
        );
        assert_eq!(
            split_all("At 3:30 pm Dr. Smith came."),
            ["At 3:30 pm Dr. Smith came."]
        );
        assert_eq!(
            split_all("J. R. R. Tolkien wrote it."),
            ["J. R. R. Tolkien wrote it."]
        );
        assert_eq!(
            split_all("On March 15, 2024 we met."),
            ["On March 15, 2024 we met."]
        );
        assert_eq!(
            split_all("On March 15, we met."),
            ["On March 15,", "we met."]
        );
        assert_eq!(split_all("Fruit, e.g. apples."), ["Fruit,", "e.g. apples."]);
        assert_eq!(split_all("See example.com now."), ["See example.com now."]);
    }

    #[test]
    fn suffix_abbreviations_end_a_sentence_only_before_a_capital() {
        assert_eq!(split_all("Pears etc. are fine."), ["Pears etc. are fine."]);
        assert_eq!(
            split_all("Pears etc. Then more."),
            ["Pears etc.", "Then more."]
        );
        assert_eq!(
            split_all("I live on Main St. It is quiet."),
            ["I live on Main St.", "It is quiet."]
        );
        assert_eq!(
            split_all("We saw St. Louis today."),
            ["We saw St. Louis today."]
        );
    }

    #[test]
    fn lines_and_list_numbers() {
        assert_eq!(
            split_all("# Title\n1. First item\n2. Second item"),
            ["# Title", "1. First item", "2. Second item"]
        );
        assert_eq!(split_all("a\n\n\nb"), ["a", "b"]);
    }

    #[test]
    fn waits_for_the_character_that_decides() {
        let mut s = ClauseSplitter::new();
        s.push("It costs 3.");
        assert_eq!(s.next_clause(), None, "3. might be 3.50");
        s.push("50 now. And");
        assert_eq!(s.next_clause().unwrap().text, "It costs 3.50 now.");
        assert_eq!(s.next_clause(), None);
        s.push(" then");
        assert_eq!(s.next_clause(), None, "no boundary yet");
        s.finish();
        let last = s.next_clause().unwrap();
        assert_eq!(last.text, "And then");
        assert!(last.ends_sentence);
        assert_eq!(s.next_clause(), None);
    }

    #[test]
    fn deltas_of_any_size_give_the_same_clauses() {
        let text =
            "Hello, Dr. Smith. It's 3:30 pm on March 15, 2024; the cost is $3.50! Done... ok?";
        let whole = split_all(text);
        for size in 1..8 {
            let mut s = ClauseSplitter::new();
            let mut got = Vec::new();
            let chars: Vec<char> = text.chars().collect();
            for chunk in chars.chunks(size) {
                s.push(&chunk.iter().collect::<String>());
                while let Some(c) = s.next_clause() {
                    got.push(c.text);
                }
            }
            s.finish();
            while let Some(c) = s.next_clause() {
                got.push(c.text);
            }
            assert_eq!(got, whole, "delta size {size}");
        }
    }

    #[test]
    fn long_clauses_are_bounded() {
        let words = "word ".repeat(300);
        for clause in split_all(&words) {
            assert!(
                clause.chars().count() <= MAX_CLAUSE_CHARS,
                "{}",
                clause.len()
            );
        }
        let giant = "x".repeat(2000);
        let pieces = split_all(&giant);
        assert_eq!(pieces.len(), 5);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_CLAUSE_CHARS));
    }

    #[test]
    fn nothing_to_say_gives_no_clause() {
        assert!(split_all("").is_empty());
        assert!(split_all("   \n  ").is_empty());
        assert_eq!(
            split_all("..."),
            ["..."],
            "the splitter keeps it; spoken_clauses drops it"
        );
        assert!(spoken_clauses("... ?! ,").is_empty());
    }

    #[test]
    fn spoken_clauses_carry_piper_punctuation() {
        let got = spoken_clauses("March fifteenth, twenty twenty four. Wait... what?");
        let expect = [
            ("March fifteenth", Some(',')),
            ("twenty twenty four", Some('.')),
            ("Wait", None),
            ("what", Some('?')),
        ];
        assert_eq!(got.len(), expect.len());
        for (g, (text, term)) in got.iter().zip(expect) {
            assert_eq!((g.text.as_str(), g.terminator), (text, term));
        }
        assert_eq!(
            spoken_clauses("three thirty p.m tomorrow")[0].text,
            "three thirty p.m tomorrow"
        );
        let long = spoken_clauses(&"abc ".repeat(500));
        assert!(
            long.iter()
                .all(|c| c.text.chars().count() <= MAX_CLAUSE_CHARS)
        );
    }
}
