//! Whisper's transcript of live audio, cleaned of what is not speech.

/// Removes the non-speech annotations Whisper writes for noise, music and silence
/// (`[BLANK_AUDIO]`, `(wind blowing)`, `♪`) and collapses whitespace. Live audio hands
/// Whisper far more near-silence than uploads do, and such tags must never reach a turn
/// detector or an LLM as if the user had said them.
pub fn clean_transcript(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match (closing, c) {
            (Some(close), c) if c == close => closing = None,
            (Some(_), _) => {}
            (None, '[') => closing = Some(']'),
            (None, '(') => closing = Some(')'),
            (None, '♪' | '♫') => kept.push(' '),
            (None, c) => kept.push(c),
        }
    }
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_go_words_stay() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO]"), "");
        assert_eq!(clean_transcript("(upbeat music) ♪ ♪"), "");
        assert_eq!(
            clean_transcript(" He was not [inaudible] an ill-disposed  man."),
            "He was not an ill-disposed man."
        );
        // An unclosed bracket drops the rest: it is a tag Whisper did not finish.
        assert_eq!(clean_transcript("go forward [Music"), "go forward");
        assert_eq!(clean_transcript(""), "");
    }
}
