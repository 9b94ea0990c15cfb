//! Word error rate, for checking transcripts against references (tests and benchmarks).

/// Lower-cases, drops punctuation, splits hyphenated words, and spells out the forms
/// Whisper writes differently from plain references (`Mr.` → `mister`, `10` → `ten`).
pub fn normalize(text: &str) -> Vec<String> {
    let cleaned: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split_whitespace()
        .flat_map(|w| expand(w.trim_matches('\'')))
        .collect()
}

fn expand(word: &str) -> Vec<String> {
    const SMALL: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let one = |s: &str| vec![s.to_owned()];
    match word {
        "mr" => one("mister"),
        "mrs" => one("missus"),
        "dr" => one("doctor"),
        "" => Vec::new(),
        _ => match word.parse::<usize>() {
            Ok(n) if n < 20 => one(SMALL[n]),
            Ok(n) if n < 100 && n % 10 == 0 => one(TENS[n / 10]),
            Ok(n) if n < 100 => vec![TENS[n / 10].to_owned(), SMALL[n % 10].to_owned()],
            _ => one(word),
        },
    }
}

/// Word error rate of `hypothesis` against `reference`: (substitutions + deletions +
/// insertions) / reference words, after [`normalize`].
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    word_errors(&r, &h) as f64 / r.len() as f64
}

/// Edit distance over words.
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, rw) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hypothesis.len() + 1];
        for (j, hw) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hypothesis.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_edits_after_normalizing() {
        assert_eq!(
            word_error_rate("go forward ten meters", "Go forward 10 meters."),
            0.0
        );
        assert_eq!(word_error_rate("and mister john", "And Mr. John"), 0.0);
        assert_eq!(word_error_rate("a b c d", "a x c"), 0.5);
        assert_eq!(word_error_rate("cold hearted", "cold-hearted"), 0.0);
        assert_eq!(word_error_rate("twenty one", "21"), 0.0);
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("", "noise"), 1.0);
    }
}
