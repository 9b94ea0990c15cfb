//! Whisper's text tokenizer (byte-level BPE over the `.tiktoken` vocabularies the models
//! were converted with), for the `tokens` of OpenAI's `verbose_json` segments.
//!
//! The engine reports text and timings, not token ids; the ids of a segment's text are
//! its BPE encoding in the model's own vocabulary (`gpt2` for English-only models,
//! `multilingual` otherwise), which is what Whisper emits for all but rare non-canonical
//! spellings. Vocabularies load once, on first use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use mka1_models::ModelsDir;
use mka1_models::catalog::paths;
use mka1_stt::ModelId;

/// A loaded vocabulary: token bytes → id (its rank).
#[derive(Debug)]
pub struct Bpe {
    ranks: HashMap<Vec<u8>, u32>,
}

impl Bpe {
    /// Reads a `.tiktoken` file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let tokens = mka1_stt::convert::assets::read_tiktoken(path).map_err(|e| e.to_string())?;
        let ranks = tokens
            .into_iter()
            .enumerate()
            .filter_map(|(rank, bytes)| Some((bytes, u32::try_from(rank).ok()?)))
            .collect();
        Ok(Self { ranks })
    }

    /// The token ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for piece in pretokenize(text) {
            self.encode_piece(piece.as_bytes(), &mut out);
        }
        out
    }

    /// Byte-pair merges of one pre-token: the adjacent pair whose union has the lowest
    /// rank merges first, until no union is a token (tiktoken's algorithm).
    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(&id) = self.ranks.get(piece) {
            out.push(id);
            return;
        }
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|b| vec![*b]).collect();
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    let joined = [pair[0].as_slice(), pair[1].as_slice()].concat();
                    self.ranks.get(&joined).map(|rank| (*rank, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let next = parts.remove(i + 1);
            if let Some(part) = parts.get_mut(i) {
                part.extend_from_slice(&next);
            }
        }
        // Every single byte is a token of byte-level BPE vocabularies.
        out.extend(parts.iter().filter_map(|p| self.ranks.get(p).copied()));
    }
}

/// GPT-2's pre-tokenization (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`),
/// written out by hand.
fn pretokenize(text: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Letter,
        Number,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphabetic() {
            Class::Letter
        } else if c.is_numeric() {
            Class::Number
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(start, c)) = chars.get(i) {
        // Contractions.
        if c == '\'' {
            let rest = &text[start + 1..];
            if let Some(len) = ["s", "t", "re", "ve", "m", "ll", "d"]
                .iter()
                .find(|s| rest.starts_with(**s))
                .map(|s| s.len())
            {
                out.push(&text[start..start + 1 + len]);
                i += 1 + len;
                continue;
            }
        }
        // ` ?` then a run of one class.
        let (run_start, first) = if c == ' ' {
            match chars.get(i + 1) {
                Some(&(_, n)) if class(n) != Class::Space => (i + 1, n),
                _ => (i, c),
            }
        } else {
            (i, c)
        };
        let kind = class(first);
        if kind != Class::Space {
            let mut j = run_start + 1;
            while chars.get(j).is_some_and(|&(_, n)| class(n) == kind) {
                j += 1;
            }
            out.push(&text[start..end_of(j)]);
            i = j;
            continue;
        }
        // Whitespace: the run, less its last character when a non-space follows (that
        // one belongs to the next pre-token as its ` ?`).
        let mut j = i + 1;
        while chars.get(j).is_some_and(|&(_, n)| class(n) == Class::Space) {
            j += 1;
        }
        if j < chars.len() && j - i > 1 {
            j -= 1;
        }
        out.push(&text[start..end_of(j)]);
        i = j;
    }
    out
}

/// Both vocabularies, each loaded on first use.
#[derive(Debug, Default)]
pub struct Tokenizers {
    english: OnceLock<Result<Arc<Bpe>, String>>,
    multilingual: OnceLock<Result<Arc<Bpe>, String>>,
}

impl Tokenizers {
    /// The vocabulary of `model` (blocking on first use: it reads a 0.8 MB file).
    pub fn for_model(&self, dir: &ModelsDir, model: ModelId) -> Result<Arc<Bpe>, String> {
        let (cell, file) = if model.is_multilingual() {
            (&self.multilingual, paths::MULTILINGUAL_TIKTOKEN)
        } else {
            (&self.english, paths::GPT2_TIKTOKEN)
        };
        cell.get_or_init(|| Bpe::load(&dir.path(file)).map(Arc::new))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pretokenizes_like_gpt2() {
        assert_eq!(
            pretokenize("He's 42 years old!  Wow, it's..."),
            [
                "He", "'s", " 42", " years", " old", "!", " ", " Wow", ",", " it", "'s", "..."
            ]
        );
        assert_eq!(
            pretokenize(" Hello\n\nworld"),
            [" Hello", "\n", "\n", "world"]
        );
        assert_eq!(pretokenize("a  "), ["a", "  "]);
        assert_eq!(pretokenize(""), Vec::<&str>::new());
    }

    #[test]
    fn encodes_with_the_gpt2_vocabulary() {
        let dir = ModelsDir::from_env().unwrap();
        let path = dir.path(paths::GPT2_TIKTOKEN);
        if !path.is_file() {
            panic!("the Whisper assets are not installed: run `mka1-voice models install`");
        }
        let bpe = Bpe::load(&path).unwrap();
        // GPT-2's well-known ids.
        assert_eq!(bpe.encode("Hello world"), [15496, 995]);
        assert_eq!(bpe.encode(" Hello"), [18435]);
        let ids = bpe.encode(" He was not an ill-disposed young man.");
        let decoded: Vec<u8> = ids
            .iter()
            .flat_map(|id| {
                bpe.ranks
                    .iter()
                    .find(|(_, r)| *r == id)
                    .map(|(b, _)| b.clone())
                    .unwrap()
            })
            .collect();
        assert_eq!(decoded, b" He was not an ill-disposed young man.");
    }
}
