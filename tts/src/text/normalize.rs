//! Written text → the words a voice should say.
//!
//! [`normalize_text`] is pure and total: any string in, plain speakable text out. It strips
//! Markdown ([`super::markdown`]), drops control characters, emoji and other symbols that
//! have no spoken form, and writes out what espeak-ng would read badly or not at all:
//! numbers (cardinals, decimals, ordinals, years, ranges, fractions, phone numbers),
//! currencies, percentages, units, dates, times, common abbreviations, symbols, URLs and
//! e-mail addresses. Clause punctuation (`. , ; : ? !`) is kept: it shapes the prosody.
//!
//! The rules are English (the voices are `en-US`) and deliberately conservative: a token
//! no rule recognises is passed through for espeak-ng, which reads most words, acronyms
//! and file names sensibly by itself.

use super::markdown::strip_markdown;
use super::numbers::{cardinal, decimal, digits, fraction_denominator, integer, ordinal, year};

/// The spoken form of `text` (see the module docs). Lines stay lines.
///
/// ```
/// use mka1_tts::text::normalize_text;
///
/// assert_eq!(normalize_text("It costs $3.50."), "It costs three dollars and fifty cents.");
/// assert_eq!(normalize_text("Dr. Smith lives on Main St."), "Doctor Smith lives on Main Street.");
/// ```
pub fn normalize_text(text: &str) -> String {
    let plain = strip_markdown(&sanitize(text));
    let mut out = String::with_capacity(plain.len() + plain.len() / 4);
    for (i, line) in plain.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&normalize_line(line));
    }
    out
}

/// Drops NUL and control characters (newlines stay), unifies quotes, apostrophes and
/// dashes, so later rules see one form of each.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' | '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{3000}' => Some(' '),
            '\u{2018}' | '\u{2019}' | '\u{02bc}' | '\u{2032}' => Some('\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{00ab}' | '\u{00bb}' => Some('"'),
            '\u{2010}' | '\u{2011}' => Some('-'),
            '\u{2212}' => Some('-'),
            c if c.is_control() => None,
            // Zero-width characters and byte-order marks.
            '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}' => None,
            c => Some(c),
        })
        .collect()
}

/// A whitespace-separated token: opening marks, the core, closing punctuation.
#[derive(Debug, Clone, Default)]
struct Token {
    core: String,
    trail: String,
}

/// Characters that may open a token without being part of it.
fn is_opener(c: char) -> bool {
    matches!(c, '"' | '\'' | '(' | '[' | '{' | '¿' | '¡')
}

/// Characters that may close a token without being part of it.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '?' | '!' | '"' | '\'' | ')' | ']' | '}' | '…'
    )
}

fn tokenize(line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for word in line.split_whitespace() {
        // Long dashes and double hyphens are pauses, even inside a token.
        let word = word.replace(['—', '–'], " -- ");
        for piece in word.split(' ').filter(|p| !p.is_empty()) {
            for (k, part) in piece.split("--").enumerate() {
                if k > 0 {
                    tokens.push(Token {
                        core: String::new(),
                        trail: ",".into(),
                    });
                }
                if !part.is_empty() {
                    tokens.push(split_token(part));
                }
            }
        }
    }
    tokens
}

fn split_token(word: &str) -> Token {
    let start = word
        .char_indices()
        .find(|&(_, c)| !is_opener(c))
        .map_or(word.len(), |(i, _)| i);
    let rest = &word[start..];
    // Apostrophes close a token only when they do not end a word like "dogs'".
    let mut end = rest.len();
    for (i, c) in rest.char_indices().rev() {
        if is_closer(c) && !(c == '\'' && i > 0 && rest[..i].ends_with('s')) {
            end = i;
        } else {
            break;
        }
    }
    Token {
        core: rest[..end].to_owned(),
        trail: rest[end..].to_owned(),
    }
}

/// The clause punctuation worth keeping from a token's closing characters.
fn spoken_trail(trail: &str) -> String {
    let trail = trail.replace('…', "...");
    if trail.contains("...") {
        return "...".into();
    }
    trail
        .chars()
        .filter(|c| matches!(c, '.' | ',' | ';' | ':' | '?' | '!'))
        .take(1)
        .collect()
}

fn normalize_line(line: &str) -> String {
    let tokens = tokenize(line);
    let mut pieces: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let ctx = Context {
            tokens: &tokens,
            index: i,
        };
        let (spoken, used) = expand(&ctx);
        let last = &tokens[i + used - 1];
        let mut trail = spoken_trail(&last.trail);
        if let Some(t) = spoken.trail_override {
            trail = t;
        }
        let mut piece = spoken.words.trim().to_owned();
        piece.push_str(&trail);
        if !piece.is_empty() {
            pieces.push(piece);
        }
        i += used;
    }
    tidy(&pieces.join(" "))
}

/// Spaces and punctuation cleaned up: one space between words, no space before clause
/// punctuation, no punctuation at the start or doubled.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        if matches!(c, ',' | ';' | ':' | '?' | '!' | '.') {
            while out.ends_with(' ') {
                out.pop();
            }
            if out.is_empty() {
                continue;
            }
            // One mark per pause; a sentence end wins over a comma before it, and an
            // ellipsis ("...") is kept whole.
            let prev = out.chars().last().unwrap_or(' ');
            if matches!(prev, ',' | ';' | ':') && c != ',' {
                out.pop();
            } else if matches!(prev, ',' | ';' | ':' | '?' | '!') || (prev == '.' && c != '.') {
                continue;
            }
        }
        out.push(c);
    }
    let trimmed = out.trim_end();
    // "...." or more collapses to an ellipsis.
    let mut s = trimmed.to_owned();
    while s.contains("....") {
        s = s.replace("....", "...");
    }
    s
}

/// What a rule made of one or more tokens.
struct Spoken {
    words: String,
    /// Replaces the closing punctuation of the last token used (an abbreviation's period
    /// is not a sentence end).
    trail_override: Option<String>,
}

impl Spoken {
    fn words(words: impl Into<String>) -> Self {
        Self {
            words: words.into(),
            trail_override: None,
        }
    }
}

struct Context<'a> {
    tokens: &'a [Token],
    index: usize,
}

impl Context<'_> {
    fn token(&self) -> &Token {
        &self.tokens[self.index]
    }

    fn next(&self, k: usize) -> Option<&Token> {
        self.tokens.get(self.index + k)
    }

    fn prev(&self) -> Option<&Token> {
        self.index.checked_sub(1).map(|i| &self.tokens[i])
    }

    /// Whether the previous token is a capitalised word inside the sentence (not its
    /// first word): "Main" in "on Main St.".
    fn prev_is_name(&self) -> bool {
        let Some(prev) = self.prev() else {
            return false;
        };
        let sentence_start = self.index < 2 || {
            let before = &self.tokens[self.index - 2];
            before.trail.contains(['.', '?', '!'])
        };
        !sentence_start && !prev.trail.contains(['.', '?', '!']) && starts_upper(&prev.core)
    }

    /// Whether the next token starts with a capital letter.
    fn next_is_capitalised(&self) -> bool {
        self.next(1).is_some_and(|t| starts_upper(&t.core))
    }
}

fn starts_upper(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_uppercase)
}

/// Expands the token at `ctx.index`; returns the words and how many tokens were used.
fn expand(ctx: &Context<'_>) -> (Spoken, usize) {
    let token = ctx.token();
    let core = token.core.as_str();
    if core.is_empty() {
        return (Spoken::words(""), 1);
    }
    if let Some(s) = email(core) {
        return (Spoken::words(s), 1);
    }
    if let Some(s) = url(core).or_else(|| domain(core)) {
        return (Spoken::words(s), 1);
    }
    if let Some(r) = currency(ctx) {
        return r;
    }
    if let Some(r) = month_date(ctx) {
        return r;
    }
    if let Some(r) = abbreviation(ctx) {
        return r;
    }
    if starts_numeric(core) {
        return number_token(ctx);
    }
    if let Some(s) = symbol_word(core, ctx) {
        return (Spoken::words(s), 1);
    }
    (Spoken::words(mixed(core)), 1)
}

fn starts_numeric(core: &str) -> bool {
    let mut chars = core.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('-' | '+' | '.' | '#' | '~') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// E-mail addresses and URLs

fn email(core: &str) -> Option<String> {
    let core = core.strip_prefix("mailto:").unwrap_or(core);
    let (local, domain) = core.split_once('@')?;
    let valid_local = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    let valid_domain = domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
    if !(valid_local && valid_domain) {
        return None;
    }
    Some(format!(
        "{} at {}",
        spell_url_part(local),
        spell_url_part(domain)
    ))
}

fn url(core: &str) -> Option<String> {
    let lower = core.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        &core[core.len() - r.len()..]
    } else if let Some(r) = lower.strip_prefix("http://") {
        &core[core.len() - r.len()..]
    } else if lower.starts_with("www.") && core.len() > 4 {
        core
    } else {
        return None;
    };
    // Queries and fragments are not worth saying.
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.trim_end_matches('/');
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host = host.split(':').next().unwrap_or(host);
    let mut spoken = match host.strip_prefix("www.") {
        Some(h) => format!("w w w dot {}", spell_url_part(h)),
        None => spell_url_part(host),
    };
    if let Some(path) = path {
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            spoken.push_str(" slash ");
            spoken.push_str(&spell_url_part(segment));
        }
    }
    Some(spoken)
}

/// Top-level domains that make "word.tld" an address rather than a file name.
const TLDS: [&str; 16] = [
    "com", "org", "net", "io", "dev", "ai", "edu", "gov", "co", "uk", "de", "app", "info", "us",
    "eu", "tv",
];

/// A bare domain: "example.com" → "example dot com".
fn domain(core: &str) -> Option<String> {
    let (_, tld) = core.rsplit_once('.')?;
    let valid = core
        .split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    (valid && TLDS.contains(&tld.to_ascii_lowercase().as_str())).then(|| spell_url_part(core))
}

/// A piece of an address: dots said, separators as words or pauses, numbers as words.
fn spell_url_part(part: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(mixed(current));
            current.clear();
        }
    };
    for c in part.chars() {
        let word = match c {
            '.' => Some("dot"),
            '@' => Some("at"),
            '+' => Some("plus"),
            '_' => Some("underscore"),
            '-' | '~' | '=' | '%' | '&' => Some(""),
            _ => None,
        };
        match word {
            Some(w) => {
                flush(&mut current, &mut words);
                if !w.is_empty() {
                    words.push(w.to_owned());
                }
            }
            None => current.push(c),
        }
    }
    flush(&mut current, &mut words);
    words.join(" ")
}

// ---------------------------------------------------------------------------------------
// Money

struct Currency {
    symbol: char,
    one: &'static str,
    many: &'static str,
    minor: Option<(&'static str, &'static str)>,
}

const CURRENCIES: [Currency; 5] = [
    Currency {
        symbol: '$',
        one: "dollar",
        many: "dollars",
        minor: Some(("cent", "cents")),
    },
    Currency {
        symbol: '€',
        one: "euro",
        many: "euros",
        minor: Some(("cent", "cents")),
    },
    Currency {
        symbol: '£',
        one: "pound",
        many: "pounds",
        minor: Some(("penny", "pence")),
    },
    Currency {
        symbol: '¥',
        one: "yen",
        many: "yen",
        minor: None,
    },
    Currency {
        symbol: '₹',
        one: "rupee",
        many: "rupees",
        minor: None,
    },
];

/// Words after an amount that scale it ("$2.5 million").
const SCALE_WORDS: [&str; 5] = ["thousand", "million", "billion", "trillion", "quadrillion"];

fn currency(ctx: &Context<'_>) -> Option<(Spoken, usize)> {
    let core = ctx.token().core.as_str();
    let (negative, body) = match core.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, core),
    };
    let symbol = body.chars().next()?;
    let cur = CURRENCIES.iter().find(|c| c.symbol == symbol)?;
    let amount = &body[symbol.len_utf8()..];
    let (number, suffix) = split_number(amount)?;
    let mut scale = match suffix {
        "" => None,
        "k" | "K" => Some("thousand"),
        "m" | "M" | "mn" => Some("million"),
        "b" | "B" | "bn" => Some("billion"),
        "t" | "T" | "tn" => Some("trillion"),
        _ => return None,
    };
    let mut used = 1;
    if scale.is_none()
        && let Some(next) = ctx.next(1)
    {
        let word = next.core.to_ascii_lowercase();
        if let Some(&w) = SCALE_WORDS.iter().find(|&&w| w == word)
            && ctx.token().trail.is_empty()
        {
            scale = Some(w);
            used = 2;
        }
    }
    let sign = if negative { "minus " } else { "" };
    let (int_part, frac_part) = number_parts(number);
    let words = if let Some(scale) = scale {
        format!(
            "{sign}{} {scale} {}",
            decimal(&int_part, frac_part),
            cur.many
        )
    } else {
        money_words(cur, &int_part, frac_part)
            .map(|w| format!("{sign}{w}"))
            .unwrap_or_else(|| format!("{sign}{} {}", decimal(&int_part, frac_part), cur.many))
    };
    Some((Spoken::words(words), used))
}

/// "3", "50" → "three dollars and fifty cents"; `None` when the fraction is not cents.
fn money_words(cur: &Currency, int_part: &str, frac_part: &str) -> Option<String> {
    let units: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let minor: u64 = match frac_part.len() {
        0 => 0,
        1 => frac_part.parse::<u64>().ok()? * 10,
        2 => frac_part.parse().ok()?,
        _ => return None,
    };
    if minor > 0 && cur.minor.is_none() {
        return None;
    }
    let major = format!(
        "{} {}",
        cardinal(units),
        if units == 1 { cur.one } else { cur.many }
    );
    match (units, minor, cur.minor) {
        (_, 0, _) | (_, _, None) => Some(major),
        (0, m, Some((one, many))) => Some(format!(
            "{} {}",
            cardinal(m),
            if m == 1 { one } else { many }
        )),
        (_, m, Some((one, many))) => Some(format!(
            "{major} and {} {}",
            cardinal(m),
            if m == 1 { one } else { many }
        )),
    }
}

/// Splits "1,234.50xyz" into the number ("1,234.50") and what follows ("xyz").
fn split_number(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut end = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    while end < bytes.len() {
        let b = bytes[end];
        let next_is_digit = bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_digit() {
            seen_digit = true;
        } else if b == b',' && seen_digit && !seen_point && next_is_digit {
            // A thousands separator only if three digits follow.
            let group = bytes[end + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if group != 3 {
                break;
            }
        } else if b == b'.' && !seen_point && next_is_digit {
            seen_point = true;
        } else {
            break;
        }
        end += 1;
    }
    let has_digit = s[..end].bytes().any(|b| b.is_ascii_digit());
    has_digit.then(|| (&s[..end], &s[end..]))
}

/// Integer digits without separators, and the fraction digits.
fn number_parts(number: &str) -> (String, &str) {
    let (int_part, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    (int_part.replace(',', ""), frac)
}

/// Words for a number as written ("1,234.5").
fn number_words(number: &str) -> String {
    let (int_part, frac) = number_parts(number);
    if frac.is_empty() {
        integer(&int_part)
    } else {
        decimal(&int_part, frac)
    }
}

// ---------------------------------------------------------------------------------------
// Dates and times

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_number(word: &str) -> Option<usize> {
    let w = word.strip_suffix('.').unwrap_or(word);
    if w.len() < 3 || !starts_upper(w) {
        return None;
    }
    let lower = w.to_lowercase();
    MONTHS.iter().position(|m| {
        let m = m.to_lowercase();
        m == lower
            || (lower.len() >= 3 && m.starts_with(&lower) && (lower.len() == 3 || lower == "sept"))
    })
}

/// "March 15", "March 15th, 2024", "Jan. 5 2020" → "March fifteenth, twenty twenty four".
fn month_date(ctx: &Context<'_>) -> Option<(Spoken, usize)> {
    let token = ctx.token();
    let month = month_number(&token.core)?;
    // "May" alone is a word; a month name needs a day after it.
    let day_token = ctx.next(1)?;
    if !token.trail.is_empty() && token.trail != "." {
        return None;
    }
    let day_text = day_token.core.as_str();
    let day_digits: String = day_text.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &day_text[day_digits.len()..];
    if day_digits.is_empty() || !matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    let day: u64 = day_digits.parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let mut words = format!("{} {}", MONTHS[month], ordinal(day));
    let mut used = 2;
    if let Some(year_token) = ctx.next(2)
        && matches!(day_token.trail.as_str(), "" | ",")
        && year_token.core.len() == 4
        && year_token.core.bytes().all(|b| b.is_ascii_digit())
        && let Ok(y) = year_token.core.parse::<u64>()
    {
        words.push_str(", ");
        words.push_str(&year(y));
        used = 3;
    }
    Some((Spoken::words(words), used))
}

/// "2024-03-15" → "March fifteenth, twenty twenty four".
fn iso_date(core: &str) -> Option<String> {
    let parts: Vec<&str> = core.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    date_words(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// "3/15/2024" (or "15/3/2024", when the first number cannot be a month).
fn slash_date(core: &str) -> Option<String> {
    let parts: Vec<&str> = core.split('/').collect();
    let [a, b, y] = parts.as_slice() else {
        return None;
    };
    if !(1..=2).contains(&a.len()) || !(1..=2).contains(&b.len()) || !matches!(y.len(), 2 | 4) {
        return None;
    }
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    let mut y: u64 = y.parse().ok()?;
    if y < 100 {
        y += if y < 50 { 2000 } else { 1900 };
    }
    let (m, d) = if a > 12 { (b, a) } else { (a, b) };
    date_words(y, m, d)
}

fn date_words(y: u64, m: u64, d: u64) -> Option<String> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let month = MONTHS[usize::try_from(m - 1).ok()?];
    Some(format!("{month} {}, {}", ordinal(d), year(y)))
}

/// The spoken form of a day-time suffix, if `word` is one.
fn meridiem(word: &str) -> Option<&'static str> {
    // "a.m" keeps its inner dot: espeak reads a lone "a" as the article.
    match word.to_ascii_lowercase().trim_end_matches('.') {
        "am" | "a.m" => Some("a.m"),
        "pm" | "p.m" => Some("p.m"),
        _ => None,
    }
}

/// "3:30" → "three thirty", "3:05" → "three oh five", "3:00" → "three o'clock".
fn clock_words(core: &str, suffix: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = core.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || !(1..=2).contains(&parts[0].len())
        || parts[1..].iter().any(|p| p.len() != 2)
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let hour: u64 = parts[0].parse().ok()?;
    let minute: u64 = parts[1].parse().ok()?;
    if hour > 24 || minute > 59 {
        return None;
    }
    let mut words = cardinal(hour);
    match (minute, suffix) {
        (0, Some(_)) => {}
        (0, None) if hour <= 12 => words.push_str(" o'clock"),
        (0, None) => words.push_str(" hundred"),
        (1..=9, _) => {
            words.push_str(" oh ");
            words.push_str(&cardinal(minute));
        }
        _ => {
            words.push(' ');
            words.push_str(&cardinal(minute));
        }
    }
    if let Some(seconds) = parts.get(2) {
        let s: u64 = seconds.parse().ok()?;
        words.push_str(&format!(" and {} seconds", cardinal(s)));
    }
    if let Some(suffix) = suffix {
        words.push(' ');
        words.push_str(suffix);
    }
    Some(words)
}

// ---------------------------------------------------------------------------------------
// Abbreviations

/// How an abbreviation is read: its expansion, and whether it needs its period to count.
struct Abbreviation {
    written: &'static str,
    spoken: &'static str,
    needs_period: bool,
}

const fn abbr(written: &'static str, spoken: &'static str, needs_period: bool) -> Abbreviation {
    Abbreviation {
        written,
        spoken,
        needs_period,
    }
}

/// Abbreviations that are read the same everywhere (titles and street types with their
/// own rules are handled in [`abbreviation`]).
const ABBREVIATIONS: &[Abbreviation] = &[
    abbr("Mr", "Mister", false),
    abbr("Mrs", "Missus", false),
    abbr("Ms", "Miz", false),
    abbr("Prof", "Professor", true),
    abbr("Mt", "Mount", true),
    abbr("Gen", "General", true),
    abbr("Capt", "Captain", true),
    abbr("Lt", "Lieutenant", true),
    abbr("Sgt", "Sergeant", true),
    abbr("Col", "Colonel", true),
    abbr("Gov", "Governor", true),
    abbr("Sen", "Senator", true),
    abbr("Rep", "Representative", true),
    abbr("Rev", "Reverend", true),
    abbr("Hon", "Honorable", true),
    abbr("Pres", "President", true),
    abbr("Jr", "Junior", true),
    abbr("Sr", "Senior", true),
    abbr("Inc", "Incorporated", true),
    abbr("Ltd", "Limited", true),
    abbr("Corp", "Corporation", true),
    abbr("Co", "Company", true),
    abbr("Ave", "Avenue", true),
    abbr("Blvd", "Boulevard", true),
    abbr("Rd", "Road", true),
    abbr("Ln", "Lane", true),
    abbr("Hwy", "Highway", true),
    abbr("Dept", "Department", true),
    abbr("dept", "department", true),
    abbr("Univ", "University", true),
    abbr("etc", "et cetera", false),
    abbr("e.g", "for example", false),
    abbr("E.g", "For example", false),
    abbr("i.e", "that is", false),
    abbr("I.e", "That is", false),
    abbr("vs", "versus", false),
    abbr("approx", "approximately", false),
    abbr("Approx", "Approximately", false),
    abbr("cf", "compare", true),
    abbr("Fig", "Figure", true),
    abbr("fig", "figure", true),
    abbr("Vol", "Volume", true),
    abbr("vol", "volume", true),
    abbr("a.m", "a.m", false),
    abbr("p.m", "p.m", false),
];

/// Abbreviations whose period never ends a sentence (the clause splitter asks).
pub(crate) fn is_title_abbreviation(word: &str) -> bool {
    const TITLES: [&str; 20] = [
        "Dr", "Mr", "Mrs", "Ms", "Prof", "Mt", "Gen", "Capt", "Lt", "Sgt", "Col", "Gov", "Sen",
        "Rep", "Rev", "Hon", "Pres", "No", "Fig", "Vol",
    ];
    const INFIX: [&str; 9] = [
        "e.g", "E.g", "i.e", "I.e", "vs", "cf", "approx", "Approx", "no",
    ];
    TITLES.contains(&word) || INFIX.contains(&word)
}

/// Abbreviations whose period ends a sentence only when a capitalised word follows.
pub(crate) fn is_suffix_abbreviation(word: &str) -> bool {
    const SUFFIX: [&str; 16] = [
        "etc", "Jr", "Sr", "Inc", "Ltd", "Corp", "Co", "Ave", "Blvd", "Rd", "Ln", "Hwy", "St",
        "a.m", "p.m", "Dept",
    ];
    SUFFIX.contains(&word)
}

/// The closing punctuation of the abbreviation at `ctx.index + offset`: its own period is
/// no sentence end, unless the line ends there or (for "etc.", "Inc.", "p.m." and the like)
/// a capitalised word follows.
fn abbreviation_trail(ctx: &Context<'_>, suffix: bool) -> String {
    let index = ctx.index;
    let token = &ctx.tokens[index];
    let last = index + 1 >= ctx.tokens.len();
    let ends_sentence = last
        || (suffix
            && ctx
                .tokens
                .get(index + 1)
                .is_some_and(|t| starts_upper(&t.core)));
    match token.trail.strip_prefix('.') {
        Some(rest) if !ends_sentence => spoken_trail(rest),
        _ => spoken_trail(&token.trail),
    }
}

fn abbreviation(ctx: &Context<'_>) -> Option<(Spoken, usize)> {
    let token = ctx.token();
    let core = token.core.as_str();
    let has_period = token.trail.starts_with('.');
    let consume_period = |spoken: &str, suffix: bool| Spoken {
        words: spoken.to_owned(),
        trail_override: Some(abbreviation_trail(ctx, suffix)),
    };
    match core {
        "Dr" => {
            // "Dr. Smith" is a doctor; "Elm Dr." a drive.
            let drive = ctx.prev_is_name() && !ctx.next_is_capitalised();
            let word = if drive { "Drive" } else { "Doctor" };
            return Some((consume_period(word, drive), 1));
        }
        "St" => {
            // "Main St." is a street; "St. Louis" a saint.
            let saint = !ctx.prev_is_name() && ctx.next_is_capitalised();
            let word = if saint { "Saint" } else { "Street" };
            return Some((consume_period(word, !saint), 1));
        }
        "No" | "no" | "Nos" | "nos" => {
            let before_number = ctx.next(1).is_some_and(|t| starts_numeric(&t.core));
            if has_period && before_number {
                let word = if core.starts_with('N') {
                    "Number"
                } else {
                    "number"
                };
                return Some((consume_period(word, false), 1));
            }
            return None;
        }
        _ => {}
    }
    let entry = ABBREVIATIONS.iter().find(|a| a.written == core)?;
    if entry.needs_period && !has_period {
        return None;
    }
    if !has_period {
        return Some((Spoken::words(entry.spoken), 1));
    }
    Some((
        consume_period(entry.spoken, is_suffix_abbreviation(entry.written)),
        1,
    ))
}

// ---------------------------------------------------------------------------------------
// Numbers

/// Units read after a number: written form, singular, plural.
const UNITS: &[(&str, &str, &str)] = &[
    ("km", "kilometer", "kilometers"),
    ("m", "meter", "meters"),
    ("cm", "centimeter", "centimeters"),
    ("mm", "millimeter", "millimeters"),
    ("mi", "mile", "miles"),
    ("ft", "foot", "feet"),
    ("kg", "kilogram", "kilograms"),
    ("g", "gram", "grams"),
    ("mg", "milligram", "milligrams"),
    ("lb", "pound", "pounds"),
    ("lbs", "pounds", "pounds"),
    ("oz", "ounce", "ounces"),
    ("l", "liter", "liters"),
    ("L", "liter", "liters"),
    ("ml", "milliliter", "milliliters"),
    ("mL", "milliliter", "milliliters"),
    ("mph", "mile per hour", "miles per hour"),
    ("km/h", "kilometer per hour", "kilometers per hour"),
    ("kph", "kilometer per hour", "kilometers per hour"),
    ("ms", "millisecond", "milliseconds"),
    ("sec", "second", "seconds"),
    ("secs", "seconds", "seconds"),
    ("min", "minute", "minutes"),
    ("mins", "minutes", "minutes"),
    ("hr", "hour", "hours"),
    ("hrs", "hours", "hours"),
    ("KB", "kilobyte", "kilobytes"),
    ("kB", "kilobyte", "kilobytes"),
    ("MB", "megabyte", "megabytes"),
    ("GB", "gigabyte", "gigabytes"),
    ("TB", "terabyte", "terabytes"),
    ("Hz", "hertz", "hertz"),
    ("kHz", "kilohertz", "kilohertz"),
    ("MHz", "megahertz", "megahertz"),
    ("GHz", "gigahertz", "gigahertz"),
    ("W", "watt", "watts"),
    ("kW", "kilowatt", "kilowatts"),
    ("kWh", "kilowatt hour", "kilowatt hours"),
    ("V", "volt", "volts"),
    ("°C", "degree Celsius", "degrees Celsius"),
    ("°F", "degree Fahrenheit", "degrees Fahrenheit"),
    ("°", "degree", "degrees"),
    ("%", "percent", "percent"),
    ("x", "times", "times"),
];

fn unit_words(unit: &str, number: &str) -> Option<&'static str> {
    let &(_, one, many) = UNITS.iter().find(|(w, _, _)| *w == unit)?;
    Some(if number == "1" { one } else { many })
}

/// Words before a four-digit number that make it a year.
const YEAR_CUES: [&str; 20] = [
    "in", "since", "by", "from", "until", "till", "to", "of", "year", "during", "before", "after",
    "around", "circa", "early", "late", "mid", "between", "and", "back",
];

fn looks_like_year(ctx: &Context<'_>, n: u64) -> bool {
    if !(1000..=2099).contains(&n) {
        return false;
    }
    let era = ctx
        .next(1)
        .is_some_and(|t| matches!(t.core.as_str(), "BC" | "AD" | "BCE" | "CE"));
    let cue = ctx
        .prev()
        .is_some_and(|p| p.trail.is_empty() && YEAR_CUES.contains(&p.core.to_lowercase().as_str()));
    era || cue
}

fn number_token(ctx: &Context<'_>) -> (Spoken, usize) {
    let core = ctx.token().core.as_str();
    // Signs and markers in front of the number.
    let (prefix, body) = if let Some(b) = core.strip_prefix('-') {
        ("minus ", b)
    } else if let Some(b) = core.strip_prefix('+') {
        ("plus ", b)
    } else if let Some(b) = core.strip_prefix('#') {
        ("number ", b)
    } else if let Some(b) = core.strip_prefix('~') {
        ("about ", b)
    } else {
        ("", core)
    };
    if prefix.is_empty() {
        if let Some(w) = iso_date(core).or_else(|| slash_date(core)) {
            return (Spoken::words(w), 1);
        }
        if core.contains(':') {
            let suffix = ctx.next(1).and_then(|t| meridiem(&t.core));
            let with_suffix = suffix.filter(|_| ctx.token().trail.is_empty());
            if let Some(w) = clock_words(core, with_suffix) {
                if with_suffix.is_some() {
                    return (meridiem_spoken(ctx, w), 2);
                }
                return (Spoken::words(w), 1);
            }
        }
    }
    let Some((number, rest)) = split_number(body) else {
        return (Spoken::words(mixed(core)), 1);
    };
    let (int_part, _) = number_parts(number);
    let words = number_words(number);
    let simple_int = !number.contains([',', '.']);
    let spoken = |w: String| Spoken::words(format!("{prefix}{w}"));

    match rest {
        "" => {
            // A unit, a day-time or an era in the next token.
            if let Some(next) = ctx.next(1).filter(|_| ctx.token().trail.is_empty()) {
                if let Some(m) = meridiem(&next.core)
                    && let Some(time) = time_before_meridiem(number, m)
                {
                    return (meridiem_spoken(ctx, format!("{prefix}{time}")), 2);
                }
                if let Some(unit) = unit_words(&next.core, number).filter(|_| next.core != "x") {
                    return (spoken(format!("{words} {unit}")), 2);
                }
            }
            if simple_int
                && prefix.is_empty()
                && int_part.len() == 4
                && let Ok(n) = int_part.parse::<u64>()
                && looks_like_year(ctx, n)
            {
                return (spoken(year(n)), 1);
            }
            (spoken(words), 1)
        }
        "st" | "nd" | "rd" | "th" if simple_int => match int_part.parse::<u64>() {
            Ok(n) => (spoken(ordinal(n)), 1),
            Err(_) => (spoken(words), 1),
        },
        "s" | "'s" if simple_int && int_part.len() >= 2 && int_part.ends_with('0') => {
            // Decades: "1990s" → "nineteen nineties", "90s" → "nineties".
            let n: u64 = int_part.parse().unwrap_or(0);
            let base = if int_part.len() == 4 {
                year(n)
            } else {
                cardinal(n)
            };
            (spoken(pluralize_last(&base)), 1)
        }
        _ => {
            if let Some(unit) = unit_words(rest, number) {
                return (spoken(format!("{words} {unit}")), 1);
            }
            if let Some(m) = meridiem(rest)
                && let Some(time) = time_before_meridiem(number, m)
            {
                return (spoken(time), 1);
            }
            if let Some(w) = hyphenated_numbers(body) {
                return (spoken(w), 1);
            }
            if let Some(w) = fraction(body) {
                return (spoken(w), 1);
            }
            (Spoken::words(format!("{prefix}{}", mixed(body))), 1)
        }
    }
}

/// Words that end with a day-time suffix taken from the next token ("5 p.m."): that
/// token's period belongs to the abbreviation.
fn meridiem_spoken(ctx: &Context<'_>, words: String) -> Spoken {
    let index = ctx.index + 1;
    let token = &ctx.tokens[index];
    let ends_sentence = ctx
        .tokens
        .get(index + 1)
        .is_none_or(|t| starts_upper(&t.core));
    let trail = match token.trail.strip_prefix('.') {
        Some(rest) if !ends_sentence => spoken_trail(rest),
        _ => spoken_trail(&token.trail),
    };
    Spoken {
        words,
        trail_override: Some(trail),
    }
}

/// A time written without a colon before "am"/"pm": "5" → "five p.m", "3.30" and "330"
/// → "three thirty p.m" (how people and speech recognisers write it).
fn time_before_meridiem(number: &str, meridiem: &str) -> Option<String> {
    let (hour, minute) = match number.split_once('.') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None if number.len() >= 3 && number.len() <= 4 => number.split_at(number.len() - 2),
        None => (number, "00"),
    };
    let (h, m): (u64, u64) = (hour.parse().ok()?, minute.parse().ok()?);
    if !(1..=12).contains(&h) || m > 59 {
        return None;
    }
    clock_words(&format!("{h}:{minute}"), Some(meridiem))
}

/// "ninety" → "nineties", "hundred" → "hundreds".
fn pluralize_last(words: &str) -> String {
    match words.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{words}s"),
    }
}

/// "10-20" → "ten to twenty"; "555-123-4567" → digits in groups (a phone number).
fn hyphenated_numbers(body: &str) -> Option<String> {
    let groups: Vec<&str> = body.split('-').collect();
    if groups.len() < 2
        || groups
            .iter()
            .any(|g| g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let years = groups.len() == 2 && groups.iter().all(|g| g.len() == 4);
    if groups.len() == 2 && (total < 7 || years) {
        let say = |g: &str| match (years, g.parse::<u64>()) {
            (true, Ok(n)) => year(n),
            _ => integer(g),
        };
        return Some(format!("{} to {}", say(groups[0]), say(groups[1])));
    }
    Some(
        groups
            .iter()
            .map(|g| digits(g))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// "3/4" → "three quarters", "1/2" → "one half", "24/7" → "twenty four seven".
fn fraction(body: &str) -> Option<String> {
    let (a, b) = body.split_once('/')?;
    if a.is_empty() || b.is_empty() || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (n, d): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    if (2..=10).contains(&d) && n < d {
        return Some(format!(
            "{} {}",
            cardinal(n),
            fraction_denominator(d, n != 1)
        ));
    }
    if let Some(date) = (1..=12)
        .contains(&n)
        .then(|| (1..=31).contains(&d))
        .filter(|&ok| ok)
        .map(|_| format!("{} {}", MONTHS[(n - 1) as usize], ordinal(d)))
    {
        return Some(date);
    }
    Some(format!("{} {}", integer(a), integer(b)))
}

// ---------------------------------------------------------------------------------------
// Symbols and mixed tokens

/// A token that is one symbol: "&" → "and".
fn symbol_word(core: &str, ctx: &Context<'_>) -> Option<String> {
    let between_numbers = ctx.prev().is_some_and(|p| starts_numeric(&p.core))
        && ctx.next(1).is_some_and(|n| starts_numeric(&n.core));
    let word = match core {
        "&" | "&&" => "and",
        "+" => "plus",
        "=" | "==" => "equals",
        "@" => "at",
        "%" => "percent",
        "/" => "slash",
        "x" | "×" | "*" if between_numbers => "times",
        "×" => "times",
        "÷" => "divided by",
        "<" => "less than",
        ">" => "greater than",
        "<=" | "≤" => "less than or equal to",
        ">=" | "≥" => "greater than or equal to",
        "≈" | "~" => "about",
        "-" => "",
        _ => return None,
    };
    Some(word.to_owned())
}

/// A token of letters, digits and symbols mixed ("COVID-19", "MP3", "A&B", "v1.2"):
/// digit runs become numbers, letters stay, known symbols become words, the rest go.
fn mixed(core: &str) -> String {
    let chars: Vec<char> = core.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut i = 0;
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            flush(&mut word, &mut out);
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            // "1.2.3" is a version: each part a number.
            let parts: Vec<&str> = number.split('.').collect();
            if parts.len() > 2 {
                out.push(
                    parts
                        .iter()
                        .map(|p| integer(p))
                        .collect::<Vec<_>>()
                        .join(" point "),
                );
            } else {
                out.push(number_words(&number));
            }
            continue;
        }
        if c.is_alphabetic() || c == '\'' || (c == '.' && !word.is_empty()) {
            word.push(c);
            i += 1;
            continue;
        }
        if c == '-' && !word.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_alphabetic()) {
            // Hyphenated words stay whole: espeak reads them as one.
            word.push(c);
            i += 1;
            continue;
        }
        flush(&mut word, &mut out);
        let spoken = match c {
            '&' => "and",
            '+' => "plus",
            '=' => "equals",
            '@' => "at",
            '%' => "percent",
            '×' => "times",
            '°' => "degrees",
            '#' => "number",
            '/' => "slash",
            _ => "",
        };
        if !spoken.is_empty() {
            out.push(spoken.to_owned());
        }
        i += 1;
    }
    flush(&mut word, &mut out);
    // A word left ending in '.' ("U.S.") keeps it only inside; the caller owns the trail.
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::normalize_text as n;

    #[test]
    fn examples_from_the_issue() {
        assert_eq!(n("$3.50"), "three dollars and fifty cents");
        assert_eq!(n("25%"), "twenty five percent");
        assert_eq!(
            n("Dr. Smith lives on Main St."),
            "Doctor Smith lives on Main Street."
        );
        assert_eq!(n("e.g."), "for example.");
        assert_eq!(n("Fruit, e.g. apples."), "Fruit, for example apples.");
        assert_eq!(n("3:30 pm"), "three thirty p.m");
        assert_eq!(n("2024-03-15"), "March fifteenth, twenty twenty four");
        assert_eq!(n("1,234"), "one thousand two hundred thirty four");
        assert_eq!(n("3.14"), "three point one four");
        assert_eq!(n("john@example.com"), "john at example dot com");
        assert_eq!(n("1st"), "first");
    }

    #[test]
    fn money() {
        assert_eq!(n("$1"), "one dollar");
        assert_eq!(n("$1.01"), "one dollar and one cent");
        assert_eq!(n("$0.99"), "ninety nine cents");
        assert_eq!(n("$3.5"), "three dollars and fifty cents");
        assert_eq!(n("$1,000,000"), "one million dollars");
        assert_eq!(n("$2.5 million"), "two point five million dollars");
        assert_eq!(n("$5k"), "five thousand dollars");
        assert_eq!(n("€20"), "twenty euros");
        assert_eq!(n("£3.20"), "three pounds and twenty pence");
        assert_eq!(n("¥500"), "five hundred yen");
        assert_eq!(n("-$5"), "minus five dollars");
        assert_eq!(
            n("It costs $3.999."),
            "It costs three point nine nine nine dollars."
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(n("42"), "forty two");
        assert_eq!(n("-7 degrees"), "minus seven degrees");
        assert_eq!(n("0.5"), "zero point five");
        assert_eq!(n(".5"), "point five");
        assert_eq!(n("007"), "zero zero seven");
        assert_eq!(n("3.5%"), "three point five percent");
        assert_eq!(n("22nd and 3rd"), "twenty second and third");
        assert_eq!(n("pages 10-20"), "pages ten to twenty");
        assert_eq!(
            n("call 555-123-4567"),
            "call five five five, one two three, four five six seven"
        );
        assert_eq!(n("3/4 cup"), "three quarters cup");
        assert_eq!(n("1/2"), "one half");
        assert_eq!(n("#1"), "number one");
        assert_eq!(n("No. 5"), "Number five");
        assert_eq!(n("5 km"), "five kilometers");
        assert_eq!(n("1 km"), "one kilometer");
        assert_eq!(n("10kg"), "ten kilograms");
        assert_eq!(n("20°C"), "twenty degrees Celsius");
        assert_eq!(n("3x faster"), "three times faster");
        assert_eq!(
            n("99999999999999999999999"),
            super::digits("99999999999999999999999")
        );
    }

    #[test]
    fn years_and_decades() {
        assert_eq!(n("in 1999"), "in nineteen ninety nine");
        assert_eq!(n("since 2005,"), "since two thousand five,");
        assert_eq!(
            n("from 1990 to 2024"),
            "from nineteen ninety to twenty twenty four"
        );
        assert_eq!(n("1500 people"), "one thousand five hundred people");
        assert_eq!(n("the 1990s"), "the nineteen nineties");
        assert_eq!(n("the 80s"), "the eighties");
        assert_eq!(n("1990-2000"), "nineteen ninety to two thousand");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(n("March 15, 2024"), "March fifteenth, twenty twenty four");
        assert_eq!(n("on Jan. 5 we met"), "on January fifth we met");
        assert_eq!(n("3/15/2024"), "March fifteenth, twenty twenty four");
        assert_eq!(n("15/03/2024"), "March fifteenth, twenty twenty four");
        assert_eq!(n("3:05"), "three oh five");
        assert_eq!(n("at 3:00"), "at three o'clock");
        assert_eq!(n("at 15:00"), "at fifteen hundred");
        assert_eq!(n("15:45"), "fifteen forty five");
        assert_eq!(n("10 AM"), "ten a.m");
        assert_eq!(n("at 5pm."), "at five p.m.");
        assert_eq!(n("at 330 PM"), "at three thirty p.m");
        assert_eq!(n("3.30 pm"), "three thirty p.m");
        assert_eq!(n("1030am"), "ten thirty a.m");
        assert_eq!(n("1999 am"), "one thousand nine hundred ninety nine am");
        assert_eq!(n("9:15 a.m. tomorrow"), "nine fifteen a.m tomorrow");
        assert_eq!(n("May I help?"), "May I help?");
    }

    #[test]
    fn abbreviations() {
        assert_eq!(n("Mr. and Mrs. Jones"), "Mister and Missus Jones");
        assert_eq!(n("Ms Smith"), "Miz Smith");
        assert_eq!(n("St. Louis is big"), "Saint Louis is big");
        assert_eq!(
            n("We met on St. Patrick's day"),
            "We met on Saint Patrick's day"
        );
        assert_eq!(n("He lives on Elm Dr. now"), "He lives on Elm Drive now");
        assert_eq!(n("apples, pears, etc."), "apples, pears, et cetera.");
        assert_eq!(n("cats vs. dogs"), "cats versus dogs");
        assert_eq!(n("i.e., this"), "that is, this");
        assert_eq!(
            n("Martin Luther King Jr. was"),
            "Martin Luther King Junior was"
        );
        assert_eq!(n("Acme Inc."), "Acme Incorporated.");
        assert_eq!(n("approx. 5 km"), "approximately five kilometers");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            n("Visit https://example.com/docs/api."),
            "Visit example dot com slash docs slash api."
        );
        assert_eq!(n("www.rust-lang.org"), "w w w dot rust lang dot org");
        assert_eq!(n("see example.com."), "see example dot com.");
        assert_eq!(n("notes.txt"), "notes.txt");
        assert_eq!(n("http://localhost:8080/v1?x=1"), "localhost slash v one");
        assert_eq!(
            n("Mail jane.doe+tts@mail.example.org!"),
            "Mail jane dot doe plus tts at mail dot example dot org!"
        );
    }

    #[test]
    fn symbols() {
        assert_eq!(n("salt & pepper"), "salt and pepper");
        assert_eq!(n("A&B"), "A and B");
        assert_eq!(n("2 + 2 = 4"), "two plus two equals four");
        assert_eq!(n("COVID-19"), "COVID nineteen");
        assert_eq!(n("MP3 player"), "MP three player");
        assert_eq!(n("well-known"), "well-known");
        assert_eq!(n("I love it 😀!"), "I love it!");
        assert_eq!(n("yes — no"), "yes, no");
        assert_eq!(n("wait--what"), "wait, what");
        assert_eq!(n("“Quoted” (aside) text"), "Quoted aside text");
        assert_eq!(n("Don’t stop"), "Don't stop");
        assert_eq!(n("version 1.2.3"), "version one point two point three");
    }

    #[test]
    fn markdown_is_stripped() {
        assert_eq!(n("**Bold** move"), "Bold move");
        assert_eq!(
            n("# Title\n- first item\n- 2nd item"),
            "Title\nfirst item\nsecond item"
        );
        assert_eq!(n("See [the docs](https://x.io)."), "See the docs.");
        assert_eq!(n("```\ncode\n```"), "\ncode\n");
    }

    #[test]
    fn hostile_input_never_panics() {
        for text in [
            "",
            " ",
            "...",
            "?!?!",
            "$",
            "$.",
            "-",
            "--",
            "—",
            "@",
            "a@",
            "@b.c",
            "http://",
            "https://?",
            "www.",
            "1:",
            ":30",
            "99:99",
            "2024-13-45",
            "0/0",
            "1/0",
            "12345678901234567890",
            "\0\u{1}\u{7f}",
            "[[",
            "]]",
            "**",
            "`",
            "#",
            "#######",
            "1e999",
            "$1,00",
            "1,2345",
            "$9999999999999999999999999",
            "½",
            "٣",
            "𝟘",
            "Dr.",
            "St.",
            "No.",
            "e.g",
            "x",
            "×",
            "🙂🙂🙂",
            "\u{202e}abc",
            "a\u{301}",
            "1.2.3.4.5.6",
            "-.5",
            "+",
            "~",
            "#1st",
        ] {
            let _ = n(text);
        }
        let huge = "1234567 $5.25 Dr. 🙂 ".repeat(20_000);
        assert!(!n(&huge).is_empty());
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(n("he\0llo\u{7}"), "hello");
        assert_eq!(n("a\tb"), "a b");
    }
}
