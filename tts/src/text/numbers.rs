//! Numbers as English words: cardinals, ordinals, years, digit strings, decimals.
//!
//! Hyphens and "and" are left out ("one hundred twenty three"): that is how speech
//! recognisers and the word-error-rate normaliser write numbers, and the voice says both
//! forms the same.

const ONES: [&str; 20] = [
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

/// Scale words for groups of three digits, lowest first.
const SCALES: [&str; 6] = [
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
];

/// The largest number spoken as a cardinal; longer digit strings are read digit by digit.
pub const MAX_CARDINAL: u64 = 999_999_999_999_999_999;

/// Words for 0..=999.
fn below_thousand(n: u64, out: &mut Vec<&'static str>) {
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        out.push(ONES[hundreds as usize]);
        out.push("hundred");
    }
    if rest >= 20 {
        out.push(TENS[(rest / 10) as usize]);
        if !rest.is_multiple_of(10) {
            out.push(ONES[(rest % 10) as usize]);
        }
    } else if rest > 0 || hundreds == 0 {
        out.push(ONES[rest as usize]);
    }
}

/// A cardinal number in words: 1234 → "one thousand two hundred thirty four".
pub fn cardinal(n: u64) -> String {
    if n > MAX_CARDINAL {
        return digits(&n.to_string());
    }
    if n == 0 {
        return ONES[0].to_owned();
    }
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut words = Vec::new();
    for (scale, &group) in groups.iter().enumerate().rev() {
        if group == 0 {
            continue;
        }
        below_thousand(group, &mut words);
        if let Some(&word) = SCALES.get(scale).filter(|w| !w.is_empty()) {
            words.push(word);
        }
    }
    words.join(" ")
}

/// An ordinal number in words: 22 → "twenty second".
pub fn ordinal(n: u64) -> String {
    let words = cardinal(n);
    let (head, last) = match words.rsplit_once(' ') {
        Some((head, last)) => (Some(head), last),
        None => (None, words.as_str()),
    };
    let last = ordinal_word(last);
    match head {
        Some(head) => format!("{head} {last}"),
        None => last,
    }
}

/// The ordinal form of one number word ("twenty" → "twentieth").
fn ordinal_word(word: &str) -> String {
    match word {
        "one" => "first".into(),
        "two" => "second".into(),
        "three" => "third".into(),
        "five" => "fifth".into(),
        "eight" => "eighth".into(),
        "nine" => "ninth".into(),
        "twelve" => "twelfth".into(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    }
}

/// The plural ordinal used for fractions ("three" → "thirds", with "half" for two).
pub fn fraction_denominator(n: u64, plural: bool) -> String {
    let word = match n {
        2 => "half".to_owned(),
        4 => "quarter".to_owned(),
        _ => ordinal(n),
    };
    if !plural {
        return word;
    }
    match word.strip_suffix("half") {
        Some(head) => format!("{head}halves"),
        None => format!("{word}s"),
    }
}

/// A year as people say it: 1999 → "nineteen ninety nine", 2005 → "two thousand five",
/// 2024 → "twenty twenty four", 1900 → "nineteen hundred", 1905 → "nineteen oh five".
pub fn year(n: u64) -> String {
    if !(1000..=9999).contains(&n) || (2000..2010).contains(&n) || n.is_multiple_of(1000) {
        return cardinal(n);
    }
    let (high, low) = (n / 100, n % 100);
    match low {
        0 => format!("{} hundred", cardinal(high)),
        1..=9 => format!("{} oh {}", cardinal(high), ONES[low as usize]),
        _ => format!("{} {}", cardinal(high), cardinal(low)),
    }
}

/// Each digit as a word: "007" → "zero zero seven". Non-digits are skipped.
pub fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// An unsigned integer given as ASCII digits: a cardinal, or digit by digit when it has
/// a leading zero or is too long to say as a number.
pub fn integer(s: &str) -> String {
    let s = if s.is_empty() { "0" } else { s };
    if s.len() > 1 && s.starts_with('0') {
        return digits(s);
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_CARDINAL => cardinal(n),
        _ => digits(s),
    }
}

/// A decimal number from its integer and fraction digits: ("3", "14") → "three point one
/// four".
pub fn decimal(int_part: &str, frac_part: &str) -> String {
    let int_words = if int_part.is_empty() {
        String::new()
    } else {
        integer(int_part)
    };
    let frac_words = digits(frac_part);
    match (int_words.is_empty(), frac_words.is_empty()) {
        (true, true) => ONES[0].to_owned(),
        (true, false) => format!("point {frac_words}"),
        (false, true) => int_words,
        (false, false) => format!("{int_words} point {frac_words}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinals() {
        assert_eq!(cardinal(0), "zero");
        assert_eq!(cardinal(7), "seven");
        assert_eq!(cardinal(13), "thirteen");
        assert_eq!(cardinal(20), "twenty");
        assert_eq!(cardinal(25), "twenty five");
        assert_eq!(cardinal(100), "one hundred");
        assert_eq!(cardinal(101), "one hundred one");
        assert_eq!(cardinal(1234), "one thousand two hundred thirty four");
        assert_eq!(cardinal(1_000_000), "one million");
        assert_eq!(cardinal(2_000_017), "two million seventeen");
        assert_eq!(
            cardinal(MAX_CARDINAL).split(' ').next(),
            Some("nine"),
            "the largest cardinal is still words"
        );
        assert_eq!(cardinal(u64::MAX).split(' ').count(), 20, "digit by digit");
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(1), "first");
        assert_eq!(ordinal(2), "second");
        assert_eq!(ordinal(3), "third");
        assert_eq!(ordinal(4), "fourth");
        assert_eq!(ordinal(12), "twelfth");
        assert_eq!(ordinal(15), "fifteenth");
        assert_eq!(ordinal(20), "twentieth");
        assert_eq!(ordinal(22), "twenty second");
        assert_eq!(ordinal(100), "one hundredth");
        assert_eq!(ordinal(101), "one hundred first");
    }

    #[test]
    fn years() {
        assert_eq!(year(1999), "nineteen ninety nine");
        assert_eq!(year(2024), "twenty twenty four");
        assert_eq!(year(2000), "two thousand");
        assert_eq!(year(2005), "two thousand five");
        assert_eq!(year(1900), "nineteen hundred");
        assert_eq!(year(1905), "nineteen oh five");
        assert_eq!(year(2010), "twenty ten");
        assert_eq!(year(476), "four hundred seventy six");
    }

    #[test]
    fn digit_strings_and_decimals() {
        assert_eq!(digits("007"), "zero zero seven");
        assert_eq!(integer("007"), "zero zero seven");
        assert_eq!(integer("42"), "forty two");
        assert_eq!(
            integer("99999999999999999999999"),
            digits("99999999999999999999999")
        );
        assert_eq!(decimal("3", "14"), "three point one four");
        assert_eq!(decimal("0", "5"), "zero point five");
        assert_eq!(decimal("", "5"), "point five");
        assert_eq!(fraction_denominator(2, false), "half");
        assert_eq!(fraction_denominator(2, true), "halves");
        assert_eq!(fraction_denominator(3, true), "thirds");
        assert_eq!(fraction_denominator(4, true), "quarters");
        assert_eq!(fraction_denominator(8, true), "eighths");
    }
}
