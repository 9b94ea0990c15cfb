//! Repetition: the failure Whisper falls into when its decoding is not anchored to the
//! audio (a trimmed audio context, silence, noise). Two checks, both on words compared by
//! a normalized key (case and punctuation ignored):
//!
//! - [`restarts`]: the text, from some word on, starts over from its beginning. This is
//!   the signature of a trimmed-context decode that missed its closing timestamp; the
//!   engine then decodes again with the full window instead of guessing which copy is
//!   right.
//! - [`collapse`]: a phrase said three or more times in a row is kept once, and a partial
//!   copy trailing the run is dropped. The safety net applied to every result.

/// How many times in a row a phrase must occur before it is collapsed. Two is common
/// in real speech ("bye bye", "no, no"); three of a multi-word phrase practically never is.
const MIN_RUN: usize = 3;

/// Longest phrase, in words, that [`collapse`] looks for.
const MAX_PHRASE: usize = 24;

/// The comparison key of a word: lower-case letters and digits only.
pub(crate) fn key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// True when the words, from some position `k > 0` on, repeat the words from the start
/// (`w[i] == w[i - k]` for every `i >= k`): "go forward. go forward", "goodbye goodbye
/// goodbye". The repeated words must be at least half of the `k` before them, and need
/// not be more than four: a long text that merely ends on the two words it began with
/// ("he was … than he was") has not started over.
pub(crate) fn restarts(keys: &[String]) -> bool {
    let n = keys.len();
    (1..n).any(|k| {
        let needed = (k / 2).clamp(2, 4).min(k);
        n - k >= needed && (k..n).all(|i| keys[i] == keys[i - k])
    })
}

/// True when some phrase occurs [`MIN_RUN`] or more times in a row.
pub(crate) fn has_run(keys: &[String]) -> bool {
    (0..keys.len()).any(|i| run_at(keys, i).is_some())
}

/// Keeps one copy of every phrase repeated [`MIN_RUN`]+ times in a row, and drops a partial
/// copy right after such a run. Returns, for each item, whether it is kept.
pub(crate) fn collapse(keys: &[String]) -> Vec<bool> {
    let mut keep = vec![true; keys.len()];
    let mut i = 0;
    while i < keys.len() {
        match run_at(keys, i) {
            Some((len, copies)) => {
                let mut end = i + len * copies;
                // A cut-off copy after the run ("... ten meters. go forward") is more of it.
                while end < keys.len() && keys[end] == keys[i + (end - i) % len] {
                    end += 1;
                }
                for k in &mut keep[i + len..end] {
                    *k = false;
                }
                i = end;
            }
            None => i += 1,
        }
    }
    keep
}

/// The shortest phrase starting at `i` that occurs [`MIN_RUN`]+ times in a row there:
/// `(phrase length, number of copies)`.
fn run_at(keys: &[String], i: usize) -> Option<(usize, usize)> {
    let rest = keys.len() - i;
    (1..=MAX_PHRASE.min(rest / MIN_RUN)).find_map(|len| {
        let phrase = &keys[i..i + len];
        // An empty key (a lone punctuation mark) is no evidence of a loop.
        if phrase.iter().all(String::is_empty) {
            return None;
        }
        let copies = 1 + keys[i + len..]
            .chunks_exact(len)
            .take_while(|c| *c == phrase)
            .count();
        (copies >= MIN_RUN).then_some((len, copies))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        text.split_whitespace().map(key).collect()
    }

    fn collapsed(text: &str) -> String {
        let words: Vec<&str> = text.split_whitespace().collect();
        let keep = collapse(&keys(text));
        words
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(w, _)| *w)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn restart_of_the_whole_text_is_detected() {
        assert!(restarts(&keys("Goodbye. Goodbye.")));
        assert!(restarts(&keys(
            "Go forward 10 meters. Go forward 10 meters. Go forward"
        )));
        assert!(restarts(&keys(
            "He was not an ill-disposed young man. \"He was not an"
        )));
        assert!(!restarts(&keys("He was not an ill-disposed young man.")));
        // A long text ending on the words it began with (a 15 s chunk of the benchmark).
        assert!(!restarts(&keys(
            "he was not an ill-disposed young man, unless to be rather cold-hearted and \
             rather selfish is to be ill-disposed. Had he married a more amiable woman he \
             might have been made still more respectable than he was"
        )));
        assert!(restarts(&keys("he was not. he was not. he was")));
        assert!(!restarts(&keys("please try again")));
        // One word repeating after a longer start is not a restart.
        assert!(!restarts(&keys("go forward go")));
        assert!(!restarts(&[]));
    }

    #[test]
    fn runs_of_three_collapse_to_one() {
        assert_eq!(collapsed("Goodbye. Goodbye. goodbye"), "Goodbye.");
        assert_eq!(
            collapsed(
                "Go forward 10 meters. Go forward 10 meters. Go forward 10 meters. Go forward"
            ),
            "Go forward 10 meters."
        );
        assert_eq!(collapsed("a b c a b c a b c d"), "a b c d");
        assert_eq!(
            collapsed("well, thank you. thank you. thank you. Bye"),
            "well, thank you. Bye"
        );
    }

    #[test]
    fn two_copies_and_ordinary_text_are_kept() {
        assert_eq!(collapsed("bye bye"), "bye bye");
        assert_eq!(collapsed("no, no. I said no"), "no, no. I said no");
        assert_eq!(
            collapsed("he might even have been made amiable himself"),
            "he might even have been made amiable himself"
        );
        assert_eq!(collapsed("- - -"), "- - -");
        assert!(collapse(&[]).is_empty());
        assert!(has_run(&keys("x y x y x y")));
        assert!(!has_run(&keys("x y x y")));
    }
}
