//! An early first phrase, for the lowest latency: while a reply's first clause is still
//! being written, its first few words can be spoken on their own.
//!
//! The cut goes where speech would break naturally: after a content word and before a
//! function word ("The capital of France | is Paris"), at the earliest such point from
//! [`FIRST_PHRASE_MIN_WORDS`] words on. Without one by [`FIRST_PHRASE_MAX_WORDS`], the
//! cut goes after that many words if the last is a content word. Numbers, abbreviations
//! and anything but plain words are never cut around, so normalisation ("March 15")
//! reads the same.

/// Words the first phrase has at least.
pub const FIRST_PHRASE_MIN_WORDS: usize = 4;
/// Words after which the first phrase is cut even without a phrase boundary.
pub const FIRST_PHRASE_MAX_WORDS: usize = 8;

/// Words that open a phrase rather than end one (articles, prepositions, conjunctions,
/// auxiliaries, pronouns).
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "after", "also", "am", "an", "and", "are", "as", "at", "be", "because", "been",
    "before", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has",
    "have", "he", "her", "his", "i", "if", "in", "into", "is", "it", "its", "may", "might", "my",
    "not", "of", "on", "or", "our", "she", "should", "so", "than", "that", "the", "their", "then",
    "there", "these", "they", "this", "those", "to", "was", "we", "were", "which", "while", "who",
    "will", "with", "would", "you", "your",
];

fn is_plain_word(word: &str) -> bool {
    word.chars()
        .all(|c| c.is_alphabetic() || c == '\'' || c == '’')
        && word.starts_with(char::is_alphabetic)
}

fn is_function_word(word: &str) -> bool {
    FUNCTION_WORDS.contains(&word.to_lowercase().as_str())
}

/// Where to end the first phrase of `text` (a clause still being written, holding no clause
/// boundary): the byte offset just after its last word, or `None` when `text` has no
/// complete word at a phrase boundary yet. A word counts as complete once whitespace
/// follows it.
pub fn first_phrase_end(text: &str) -> Option<usize> {
    // (start, end) of every complete word.
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
        if words.len() > FIRST_PHRASE_MAX_WORDS {
            break;
        }
    }
    let word = |k: usize| words.get(k).map(|&(s, e)| &text[s..e]);
    for k in FIRST_PHRASE_MIN_WORDS..=FIRST_PHRASE_MAX_WORDS {
        let last = word(k - 1)?;
        // A phrase never ends in a function word or in anything but a plain word.
        if !is_plain_word(last) || is_function_word(last) {
            continue;
        }
        match word(k) {
            Some(next) if is_plain_word(next) && is_function_word(next) => {
                return Some(words[k - 1].1);
            }
            None if k < FIRST_PHRASE_MAX_WORDS => return None,
            _ if k == FIRST_PHRASE_MAX_WORDS => return Some(words[k - 1].1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(text: &str) -> Option<&str> {
        first_phrase_end(text).map(|end| &text[..end])
    }

    #[test]
    fn cuts_after_a_content_word_before_a_function_word() {
        assert_eq!(
            phrase("The capital of France is Par"),
            Some("The capital of France")
        );
        assert_eq!(
            phrase("The fruit that is yellow is a citrus"),
            Some("The fruit that is yellow")
        );
        assert_eq!(
            phrase("The sky on a clear day is a brilliant"),
            Some("The sky on a clear day")
        );
    }

    #[test]
    fn waits_for_the_word_after_the_cut() {
        // "France" is complete but what follows is not known yet.
        assert_eq!(phrase("The capital of France "), None);
        assert_eq!(phrase("The capital of France i"), None);
        assert_eq!(phrase("The capital of"), None);
        assert_eq!(phrase(""), None);
    }

    #[test]
    fn long_runs_of_content_words_are_cut_at_the_maximum() {
        let text = "Bright green mountain lakes reflect tall dark pine forests quietly here";
        assert_eq!(
            phrase(text),
            Some("Bright green mountain lakes reflect tall dark pine")
        );
    }

    #[test]
    fn never_cuts_next_to_a_number_or_after_a_function_word() {
        assert_eq!(phrase("He was born on March 15 2024 in Lyon"), None);
        assert_eq!(phrase("It is in the "), None);
        assert_eq!(
            phrase("Paris has about 2 million people in the city"),
            Some("Paris has about 2 million people")
        );
        assert_eq!(
            phrase("I think that it is the best of them all"),
            Some("I think that it is the best")
        );
    }
}
