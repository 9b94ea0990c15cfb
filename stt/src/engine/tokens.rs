//! From whisper.cpp's decoded tokens to timed segments and words.
//!
//! whisper.cpp returns segments of tokens: text tokens (`id < eot`), special tokens
//! (`eot <= id < beg`) and timestamp tokens (`id >= beg`, one per 20 ms of the window).
//! A single-segment decode (the trimmed fast path) can still contain inner timestamp
//! pairs, so segments are rebuilt here from the timestamp tokens themselves, and words
//! from the text tokens: a token starting with a space begins a new word, any other
//! (`.`, `iable`, a split UTF-8 byte) continues the current one.

/// One decoded token, copied out of the whisper state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawToken {
    /// Vocabulary id.
    pub id: i32,
    /// Its bytes (a token may hold part of a UTF-8 character).
    pub bytes: Vec<u8>,
    /// Probability of the token when it was sampled.
    pub p: f32,
    /// Token-level start and end, centiseconds from the start of the input (only
    /// meaningful when token timestamps were computed).
    pub t0: i64,
    /// See `t0`.
    pub t1: i64,
}

/// One segment as whisper.cpp returned it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawSegment {
    /// Start, centiseconds.
    pub t0: i64,
    /// End, centiseconds (a single-segment decode reports the end of the window).
    pub t1: i64,
    /// Probability that the window held no speech, from the decoder's first step.
    pub no_speech: f32,
    /// Its tokens, in order.
    pub tokens: Vec<RawToken>,
}

/// No-speech probability above which a hesitant segment is taken for silence (OpenAI
/// Whisper's `no_speech_threshold`).
const NO_SPEECH: f32 = 0.6;

/// Mean log-probability of the text tokens below which a segment is hesitant (OpenAI
/// Whisper's `logprob_threshold`).
const HESITANT_LOGPROB: f32 = -1.0;

impl RawSegment {
    /// The decoder thought the window silent and was unsure of its words: a "you" or
    /// "Thank you." made up for silence, not speech. (whisper.cpp's own version of this
    /// rule averages over the special tokens too, which lets one-word inventions through.)
    fn is_no_speech(&self, vocab: Vocab) -> bool {
        let logprobs: Vec<f32> = self
            .tokens
            .iter()
            .filter(|t| vocab.is_text(t.id))
            .map(|t| t.p.max(f32::MIN_POSITIVE).ln())
            .collect();
        if logprobs.is_empty() {
            return false;
        }
        let mean = logprobs.iter().sum::<f32>() / logprobs.len() as f32;
        self.no_speech > NO_SPEECH && mean < HESITANT_LOGPROB
    }
}

/// The ids that separate text, special and timestamp tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vocab {
    /// End of text: ids below it are text.
    pub eot: i32,
    /// The first timestamp token (`<|0.00|>`).
    pub beg: i32,
}

impl Vocab {
    fn is_text(self, id: i32) -> bool {
        id < self.eot
    }

    /// Centiseconds from the window start of a timestamp token, `None` for other tokens.
    fn timestamp(self, id: i32) -> Option<i64> {
        (id >= self.beg).then(|| 2 * i64::from(id - self.beg))
    }
}

/// A word being assembled: raw bytes (with the leading space) and its tokens' figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawWord {
    /// Bytes as decoded, leading space included.
    pub bytes: Vec<u8>,
    /// Sum of the tokens' probabilities.
    pub p_sum: f32,
    /// Number of tokens.
    pub n_tokens: usize,
    /// Start, centiseconds.
    pub t0: i64,
    /// End, centiseconds.
    pub t1: i64,
}

impl RawWord {
    /// The word as text, lossy for a character the decode left incomplete.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).trim().to_owned()
    }

    /// Mean probability of its tokens, 0..1.
    pub fn probability(&self) -> f32 {
        let p = if self.n_tokens == 0 {
            0.0
        } else {
            self.p_sum / self.n_tokens as f32
        };
        if p.is_finite() {
            p.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// A span between two timestamp tokens, with its words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    /// Start, centiseconds.
    pub t0: i64,
    /// End, centiseconds.
    pub t1: i64,
    /// Words in order.
    pub words: Vec<RawWord>,
}

impl Piece {
    /// The piece with its times moved `cs` centiseconds later (a chunk's pieces, placed
    /// in the whole input).
    pub(crate) fn shifted(mut self, cs: i64) -> Self {
        self.t0 = self.t0.saturating_add(cs);
        self.t1 = self.t1.saturating_add(cs);
        for w in &mut self.words {
            w.t0 = w.t0.saturating_add(cs);
            w.t1 = w.t1.saturating_add(cs);
        }
        self
    }
}

/// Splits whisper's segments at their timestamp tokens into pieces of words, clamping
/// every time into `0..=audio_end` (centiseconds of real input: the windows are padded).
/// Segments that are no speech are left out.
pub(crate) fn pieces(segments: &[RawSegment], vocab: Vocab, audio_end: i64) -> Vec<Piece> {
    let clamp = |t: i64| t.clamp(0, audio_end.max(0));
    let mut out = Vec::new();
    for seg in segments.iter().filter(|s| !s.is_no_speech(vocab)) {
        // Timestamp tokens count from the start of the window the segment was decoded in;
        // whisper's own segment start tells where that window began.
        let first_ts = seg.tokens.iter().find_map(|t| vocab.timestamp(t.id));
        let window_start = seg.t0 - first_ts.unwrap_or(0);
        let mut piece = Piece {
            t0: clamp(seg.t0),
            t1: clamp(seg.t0),
            words: Vec::new(),
        };
        for tok in &seg.tokens {
            if let Some(ts) = vocab.timestamp(tok.id) {
                let t = clamp(window_start + ts);
                if piece.words.is_empty() {
                    piece.t0 = t;
                } else {
                    piece.t1 = t.max(piece.t0);
                    let next = Piece {
                        t0: piece.t1,
                        t1: piece.t1,
                        words: Vec::new(),
                    };
                    out.push(std::mem::replace(&mut piece, next));
                }
            } else if vocab.is_text(tok.id) {
                push_token(&mut piece.words, tok, &clamp);
            }
        }
        if !piece.words.is_empty() {
            // No closing timestamp: the decode stopped on its token budget or the
            // window's end; whisper's segment end is bounded by the real audio.
            let last_word_end = piece.words.iter().map(|w| w.t1).max().unwrap_or(0);
            piece.t1 = clamp(seg.t1).max(last_word_end).max(piece.t0);
            out.push(piece);
        }
    }
    for piece in &mut out {
        let mut previous_end = piece.t0;
        for w in &mut piece.words {
            w.t0 = w.t0.clamp(piece.t0, piece.t1);
            w.t1 = w.t1.clamp(w.t0, piece.t1);
            // whisper's token timing often pins the last word to the end of the audio
            // with no length; it then started where the word before it ended.
            if w.t1 == w.t0 && previous_end < w.t1 {
                w.t0 = previous_end;
            }
            previous_end = w.t1;
        }
    }
    out
}

/// Removes bracketed annotations, `[BLANK_AUDIO]`, `(water flowing)`, `[MUSIC]`: Whisper's
/// way of saying there is no speech. (Suppressing those tokens instead makes it invent
/// words for silence and noise.) Pieces left without words are dropped.
pub(crate) fn drop_annotations(pieces: &mut Vec<Piece>) {
    for piece in pieces.iter_mut() {
        let mut closer: Option<char> = None;
        piece.words.retain(|w| {
            let text = w.text();
            if let Some(c) = closer {
                if text.contains(c) {
                    closer = None;
                }
                return false;
            }
            let close = match text.chars().next() {
                Some('[') => ']',
                Some('(') => ')',
                Some('*') => '*',
                _ => return true,
            };
            // `[BLANK_AUDIO]` closes in the same word; `(water` waits for `flowing)`.
            if !text.get(1..).is_some_and(|rest| rest.contains(close)) {
                closer = Some(close);
            }
            false
        });
    }
    pieces.retain(|p| !p.words.is_empty());
}

fn push_token(words: &mut Vec<RawWord>, tok: &RawToken, clamp: &impl Fn(i64) -> i64) {
    let p = if tok.p.is_finite() { tok.p } else { 0.0 };
    let starts_word = tok.bytes.first() == Some(&b' ');
    match words.last_mut() {
        Some(w) if !starts_word => {
            w.bytes.extend_from_slice(&tok.bytes);
            w.p_sum += p;
            w.n_tokens += 1;
            w.t1 = w.t1.max(clamp(tok.t1));
        }
        _ => words.push(RawWord {
            bytes: tok.bytes.clone(),
            p_sum: p,
            n_tokens: 1,
            t0: clamp(tok.t0),
            t1: clamp(tok.t1.max(tok.t0)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vocab = Vocab {
        eot: 50256,
        beg: 50363,
    };

    fn text(bytes: &str, p: f32, t0: i64, t1: i64) -> RawToken {
        RawToken {
            id: 100,
            bytes: bytes.as_bytes().to_vec(),
            p,
            t0,
            t1,
        }
    }

    fn ts(cs: i64) -> RawToken {
        RawToken {
            id: V.beg + i32::try_from(cs / 2).unwrap_or(0),
            bytes: Vec::new(),
            p: 0.1,
            t0: cs,
            t1: cs,
        }
    }

    fn eot() -> RawToken {
        RawToken {
            id: V.eot,
            bytes: Vec::new(),
            p: 0.9,
            t0: 0,
            t1: 0,
        }
    }

    #[test]
    fn tokens_merge_into_words_and_split_at_timestamps() {
        let seg = RawSegment {
            t0: 0,
            t1: 3000,
            no_speech: 0.01,
            tokens: vec![
                ts(0),
                text(" Had", 0.6, 0, 20),
                text(" he", 1.0, 30, 40),
                text(" am", 0.8, 140, 156),
                text("iable", 1.0, 156, 197),
                text(",", 0.5, 197, 200),
                ts(210),
                ts(210),
                text(" yes", 0.9, 220, 250),
                text(".", 0.9, 250, 260),
                ts(300),
                eot(),
            ],
        };
        let p = pieces(&[seg], V, 605);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].t0, p[0].t1), (0, 210));
        let words: Vec<String> = p[0].words.iter().map(RawWord::text).collect();
        assert_eq!(words, ["Had", "he", "amiable,"]);
        let amiable = &p[0].words[2];
        assert_eq!((amiable.t0, amiable.t1), (140, 200));
        assert!((amiable.probability() - (0.8 + 1.0 + 0.5) / 3.0).abs() < 1e-6);
        assert_eq!((p[1].t0, p[1].t1), (210, 300));
        assert_eq!(p[1].words[0].text(), "yes.");
    }

    #[test]
    fn missing_closing_timestamp_is_bounded_by_the_audio() {
        let seg = RawSegment {
            t0: 0,
            t1: 3000,
            no_speech: 0.01,
            tokens: vec![
                ts(0),
                text(" Goodbye", 0.9, 0, 80),
                text(".", 0.8, 80, 9000),
            ],
        };
        let p = pieces(&[seg], V, 87);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].t0, p[0].t1), (0, 87));
        assert_eq!(p[0].words[0].t1, 87);
    }

    #[test]
    fn later_window_timestamps_are_offset() {
        // A segment of the second 30 s window: whisper's t0 = 3000 + 2.00 s.
        let seg = RawSegment {
            t0: 3200,
            t1: 3400,
            no_speech: 0.01,
            tokens: vec![ts(200), text(" hi", 0.9, 3210, 3300), ts(400)],
        };
        let p = pieces(&[seg], V, 6000);
        assert_eq!((p[0].t0, p[0].t1), (3200, 3400));
    }

    #[test]
    fn split_utf8_character_joins_back() {
        let bytes = "é".as_bytes();
        let seg = RawSegment {
            t0: 0,
            t1: 100,
            no_speech: 0.01,
            tokens: vec![
                RawToken {
                    id: 1,
                    bytes: vec![b' ', bytes[0]],
                    p: 0.5,
                    t0: 0,
                    t1: 10,
                },
                RawToken {
                    id: 2,
                    bytes: vec![bytes[1], b't', b'e'],
                    p: 0.5,
                    t0: 10,
                    t1: 20,
                },
            ],
        };
        let p = pieces(&[seg], V, 100);
        assert_eq!(p[0].words[0].text(), "éte");
        assert_eq!(p[0].words[0].probability(), 0.5);
    }

    fn piece(words: &[&str]) -> Piece {
        Piece {
            t0: 0,
            t1: 100,
            words: words
                .iter()
                .map(|w| RawWord {
                    bytes: format!(" {w}").into_bytes(),
                    p_sum: 0.5,
                    n_tokens: 1,
                    t0: 0,
                    t1: 100,
                })
                .collect(),
        }
    }

    #[test]
    fn annotations_are_not_speech() {
        let mut p = vec![
            piece(&["[BLANK_AUDIO]"]),
            piece(&["(water", "flowing)"]),
            piece(&["Hello", "*laughs*", "there.", "[MUSIC]"]),
            piece(&["(unclosed", "to", "the", "end"]),
        ];
        drop_annotations(&mut p);
        assert_eq!(p.len(), 1);
        let words: Vec<String> = p[0].words.iter().map(RawWord::text).collect();
        assert_eq!(words, ["Hello", "there."]);
    }

    #[test]
    fn zero_length_last_word_starts_where_the_previous_ended() {
        let seg = RawSegment {
            t0: 0,
            t1: 3000,
            no_speech: 0.01,
            tokens: vec![
                ts(0),
                text(" ten", 0.9, 171, 252),
                text(" meters", 0.9, 278, 278),
                text(".", 0.9, 278, 278),
            ],
        };
        let p = pieces(&[seg], V, 278);
        assert_eq!((p[0].words[1].t0, p[0].words[1].t1), (252, 278));
    }

    #[test]
    fn a_hesitant_word_in_silence_is_no_speech() {
        let you = |no_speech, p| RawSegment {
            t0: 0,
            t1: 3000,
            no_speech,
            tokens: vec![ts(0), text(" you", p, 0, 299), eot()],
        };
        assert!(pieces(&[you(0.987, 0.21)], V, 300).is_empty());
        // Sure of the word, or not thinking it silent: speech.
        assert_eq!(pieces(&[you(0.987, 0.9)], V, 300).len(), 1);
        assert_eq!(pieces(&[you(0.3, 0.21)], V, 300).len(), 1);
    }

    #[test]
    fn nan_probability_reads_as_zero() {
        let w = RawWord {
            bytes: b" x".to_vec(),
            p_sum: f32::NAN,
            n_tokens: 1,
            t0: 0,
            t1: 0,
        };
        assert_eq!(w.probability(), 0.0);
    }
}
