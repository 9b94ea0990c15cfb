//! Markdown to plain text, for replies written by an LLM: the markup is dropped, the words
//! stay.
//!
//! Works line by line with no memory across calls, so it gives the same answer on a whole
//! reply and on each clause of it: fence lines (```` ``` ````) are dropped but the code
//! between them is kept as text, headings, quotes and list markers lose their prefix,
//! emphasis and inline-code markers vanish, links and images keep their text, HTML tags go.

/// Plain text of `text` with Markdown markup removed.
pub fn strip_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(line) = strip_line_prefix(line) {
            strip_inline(line, &mut out);
        }
    }
    out
}

/// The line without its block prefix, or `None` for lines that carry no words (fences,
/// horizontal rules, table separators).
fn strip_line_prefix(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
        return None;
    }
    if is_rule(trimmed) || is_table_separator(trimmed) {
        return None;
    }
    let mut rest = trimmed;
    // Block quotes nest ("> > text").
    while let Some(r) = rest.strip_prefix('>') {
        rest = r.trim_start();
    }
    // ATX headings: one to six '#' and a space.
    let hashes = rest.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && rest[hashes..].starts_with([' ', '\t']) {
        rest = rest[hashes..].trim_start();
    }
    // Bullets: "- ", "* ", "+ ", and task boxes after them.
    if let Some(r) = rest
        .strip_prefix("- ")
        .or_else(|| rest.strip_prefix("* "))
        .or_else(|| rest.strip_prefix("+ "))
    {
        rest = r.trim_start();
        for box_ in ["[ ] ", "[x] ", "[X] "] {
            if let Some(r) = rest.strip_prefix(box_) {
                rest = r.trim_start();
            }
        }
    }
    // Numbered items: "1. " or "1) ".
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let after = &rest[digits..];
        if let Some(r) = after
            .strip_prefix(". ")
            .or_else(|| after.strip_prefix(") "))
        {
            rest = r.trim_start();
        }
    }
    Some(rest)
}

/// `---`, `***`, `___` (three or more, spaces allowed).
fn is_rule(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && matches!(marks[0], '-' | '*' | '_') && marks.iter().all(|&c| c == marks[0])
}

/// `|---|:---:|` and the like.
fn is_table_separator(line: &str) -> bool {
    line.contains('-')
        && line.contains('|')
        && line
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// Appends `line` with inline markup removed.
fn strip_inline(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // Images and links keep their text: ![alt](url), [text](url).
            '!' if chars.get(i + 1) == Some(&'[') => {
                if let Some((text, next)) = link_at(&chars, i + 1) {
                    strip_inline(&text, out);
                    i = next;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            '[' => {
                if let Some((text, next)) = link_at(&chars, i) {
                    strip_inline(&text, out);
                    i = next;
                } else {
                    // A stray bracket is no speech (and espeak reads "[[" as phonemes).
                    out.push(' ');
                    i += 1;
                }
            }
            ']' => {
                out.push(' ');
                i += 1;
            }
            '<' => match tag_end(&chars, i) {
                Some(TagKind::Autolink(url_end)) => {
                    out.extend(&chars[i + 1..url_end]);
                    i = url_end + 1;
                }
                Some(TagKind::Html(end)) => {
                    out.push(' ');
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            // Emphasis, strike-through and code markers.
            '*' | '`' => i += 1,
            '~' if chars.get(i + 1) == Some(&'~') => i += 2,
            // `_` marks emphasis or joins identifier parts; either way a space reads right.
            '_' => {
                out.push(' ');
                i += 1;
            }
            // Table cells.
            '|' => {
                out.push(' ');
                i += 1;
            }
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                // A backslash escape: keep the escaped character.
                if let Some(&n) = chars.get(i + 1) {
                    out.push(n);
                }
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// `[text](target)` starting at `open` (the `[`): the text and the index after the `)`.
fn link_at(chars: &[char], open: usize) -> Option<(String, usize)> {
    let mut depth = 0usize;
    let mut close = None;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(k);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 2..].iter().position(|&c| c == ')')? + close + 2;
    Some((chars[open + 1..close].iter().collect(), end + 1))
}

enum TagKind {
    /// `<https://…>`: the index of the closing `>`.
    Autolink(usize),
    /// `<b>`, `</p>`, `<br/>`: the index of the closing `>`.
    Html(usize),
}

/// Whether `<` at `open` starts an autolink or an HTML tag (not a comparison).
fn tag_end(chars: &[char], open: usize) -> Option<TagKind> {
    let end = chars[open + 1..]
        .iter()
        .take(200)
        .position(|&c| c == '>' || c == '<')
        .map(|p| p + open + 1)?;
    if chars[end] != '>' {
        return None;
    }
    let inner: String = chars[open + 1..end].iter().collect();
    if inner.starts_with("http://") || inner.starts_with("https://") || inner.starts_with("www.") {
        return (!inner.contains(' ')).then_some(TagKind::Autolink(end));
    }
    let name = inner.strip_prefix('/').unwrap_or(&inner);
    let name_len = name
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let starts_alpha = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest = &name[name_len..];
    let plausible = starts_alpha
        && (rest.is_empty() || rest == "/" || rest.starts_with(' ') || rest.starts_with('/'));
    plausible.then_some(TagKind::Html(end))
}

#[cfg(test)]
mod tests {
    use super::strip_markdown as strip;

    #[test]
    fn emphasis_and_code() {
        assert_eq!(
            strip("**bold** and *it* and __b__"),
            "bold and it and   b  "
        );
        assert_eq!(strip("run `cargo test` now"), "run cargo test now");
        assert_eq!(strip("~~gone~~ here"), "gone here");
    }

    #[test]
    fn block_prefixes() {
        assert_eq!(strip("# Heading"), "Heading");
        assert_eq!(strip("### Third level"), "Third level");
        assert_eq!(strip("#hashtag"), "#hashtag");
        assert_eq!(strip("- item one\n- item two"), "item one\nitem two");
        assert_eq!(strip("* starred\n+ plus"), "starred\nplus");
        assert_eq!(strip("1. first\n2) second"), "first\nsecond");
        assert_eq!(strip("> quoted\n> > nested"), "quoted\nnested");
        assert_eq!(strip("- [x] done"), "done");
        assert_eq!(strip("---\ntext\n***"), "\ntext\n");
    }

    #[test]
    fn fences_drop_their_lines_only() {
        assert_eq!(
            strip("before\n```rust\nlet x = 1;\n```\nafter"),
            "before\n\nlet x = 1;\n\nafter"
        );
    }

    #[test]
    fn links_images_and_tags() {
        assert_eq!(
            strip("see [the docs](https://x.io/a) now"),
            "see the docs now"
        );
        assert_eq!(strip("![a cat](cat.png)"), "a cat");
        assert_eq!(strip("[[h@l'oU]]"), "  h@l'oU  ");
        assert_eq!(strip("a<br/>b </p>"), "a b  ");
        assert_eq!(
            strip("go to <https://example.com>"),
            "go to https://example.com"
        );
        assert_eq!(strip("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
    }

    #[test]
    fn tables() {
        assert_eq!(
            strip("| a | b |\n|---|---|\n| 1 | 2 |")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a", "b", "1", "2"]
        );
    }
}
