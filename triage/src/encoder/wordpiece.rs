//! BERT's uncased tokenizer: the "basic" pass (clean, lower-case, strip
//! accents, split on whitespace and punctuation, one token per CJK ideograph)
//! followed by greedy longest-match-first WordPiece over a vocabulary file.
//!
//! Training and prediction both run this code, so they agree exactly; it
//! follows the reference tokenizer the sentence encoders were trained with
//! closely enough that their embeddings match (a test compares ids on typical
//! support text). Where this differs is Unicode punctuation outside the
//! ASCII and general-punctuation ranges, which it treats as letters.

use std::path::Path;

use rustc_hash::FxHashMap;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::error::{Error, Result};

/// Words longer than this many characters become `[UNK]`, as in BERT.
const MAX_WORD_CHARS: usize = 100;

#[derive(Clone, Debug)]
pub struct WordPiece {
    ids: FxHashMap<String, u32>,
    /// `##`-prefixed pieces, stored without the prefix.
    continuations: FxHashMap<String, u32>,
    pub(crate) cls: u32,
    pub(crate) sep: u32,
    unk: u32,
    pub(crate) vocab_size: usize,
}

impl WordPiece {
    /// Reads a `vocab.txt`: one piece per line, the line number is its id.
    pub fn from_vocab_file(path: &Path) -> Result<WordPiece> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::io(path, error))?;
        WordPiece::from_vocab(text.lines())
    }

    pub fn from_vocab<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<WordPiece> {
        let mut ids = FxHashMap::default();
        let mut continuations = FxHashMap::default();
        let mut vocab_size = 0;
        for (id, piece) in lines.into_iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| Error::Corrupt("vocabulary too large".into()))?;
            match piece.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => continuations.entry(rest.to_owned()).or_insert(id),
                _ => ids.entry(piece.to_owned()).or_insert(id),
            };
            vocab_size += 1;
        }
        let special = |name: &str| {
            ids.get(name).copied().ok_or_else(|| Error::Corrupt(format!("encoder vocabulary has no {name} token")))
        };
        Ok(WordPiece {
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            unk: special("[UNK]")?,
            ids,
            continuations,
            vocab_size,
        })
    }

    /// The ids of `text`, `[CLS] … [SEP]`, at most `max_tokens` in all.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let budget = max_tokens.max(2) - 2;
        let mut out = Vec::with_capacity(budget.min(64) + 2);
        out.push(self.cls);
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut Vec<u32>| {
            if !word.is_empty() {
                self.push_word_pieces(word, out);
                word.clear();
            }
        };
        for character in text.nfd() {
            if out.len() > budget {
                break;
            }
            if is_ignored(character) || is_combining_mark(character) {
                continue;
            }
            if character.is_whitespace() {
                flush(&mut word, &mut out);
            } else if is_punctuation(character) || is_cjk(character) {
                flush(&mut word, &mut out);
                word.push(character);
                flush(&mut word, &mut out);
            } else {
                word.extend(character.to_lowercase().filter(|lower| !is_combining_mark(*lower)));
            }
        }
        flush(&mut word, &mut out);
        out.truncate(budget + 1);
        out.push(self.sep);
        out
    }

    fn push_word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = if start == 0 { &self.ids } else { &self.continuations };
            // Longest match first: shrink the end one character at a time.
            let mut end = word.len();
            let found = loop {
                if let Some(&id) = table.get(&word[start..end]) {
                    break Some(id);
                }
                match word[start..end].char_indices().next_back() {
                    Some((offset, _)) if offset > 0 => end = start + offset,
                    _ => break None,
                }
            };
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(first);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// NUL, the replacement character and control characters are dropped
/// (whitespace controls such as tab and newline count as whitespace).
fn is_ignored(character: char) -> bool {
    matches!(character, '\0' | '\u{fffd}')
        || (character.is_control() && !character.is_whitespace())
        || matches!(character, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

fn is_punctuation(character: char) -> bool {
    character.is_ascii_punctuation()
        || matches!(character,
            '\u{a1}' | '\u{a7}' | '\u{ab}' | '\u{b6}' | '\u{b7}' | '\u{bb}' | '\u{bf}'
            | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205e}'
            | '\u{2e00}'..='\u{2e7f}' | '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}'
            | '\u{ff01}'..='\u{ff0f}' | '\u{ff1a}'..='\u{ff20}')
}

fn is_cjk(character: char) -> bool {
    matches!(character,
        '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{20000}'..='\u{2a6df}'
        | '\u{2a700}'..='\u{2b73f}' | '\u{2b740}'..='\u{2b81f}' | '\u{2b820}'..='\u{2ceaf}'
        | '\u{f900}'..='\u{faff}' | '\u{2f800}'..='\u{2fa1f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "my", "card", "was", "stole", "##n", "!", "cafe", "un", "##want",
            "##ed", ",", "runn", "##ing",
        ];
        WordPiece::from_vocab(vocab).expect("vocabulary")
    }

    #[test]
    fn splits_punctuation_lowercases_strips_accents_and_matches_longest_pieces() {
        let pieces = tiny();
        assert_eq!(pieces.encode("My card was STOLEN!", 64), vec![2, 4, 5, 6, 7, 8, 9, 3]);
        assert_eq!(pieces.encode("Café unwanted,running", 64), vec![2, 10, 11, 12, 13, 14, 15, 16, 3]);
    }

    #[test]
    fn unknown_words_become_one_unk_and_the_length_is_capped() {
        let pieces = tiny();
        assert_eq!(pieces.encode("card xyz card", 64), vec![2, 5, 1, 5, 3]);
        assert_eq!(pieces.encode("card card card card", 4), vec![2, 5, 5, 3]);
        assert_eq!(pieces.encode("", 4), vec![2, 3]);
        assert_eq!(pieces.encode("\u{0}\u{7}  \t", 4), vec![2, 3]);
    }
}
