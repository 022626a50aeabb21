//! TF-IDF features over word n-grams and character n-grams.
//!
//! `linfa-preprocessing`'s `TfIdfVectorizer` builds word n-gram vocabularies,
//! but it has no character n-grams, no sublinear term frequency, and it
//! transforms batches of owned strings into `sprs` matrices. A ticket is
//! classified one at a time and must cost microseconds, so the vectoriser here
//! is our own: every n-gram is a slice of the normalised text (no allocation
//! per n-gram) looked up in a hash map. Its word block computes exactly what
//! `linfa-preprocessing` computes with the same settings; a test checks that.
//!
//! Features come in two blocks, words and characters. Each block is weighted
//! by TF-IDF and scaled to unit length on its own, then both are scaled so the
//! whole vector has unit length: short texts are not drowned by the many
//! character n-grams of long ones, and neither block dominates the other.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sparse::SparseVector;
use crate::text;

/// An inclusive range of n-gram lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgramRange {
    pub min: u8,
    pub max: u8,
}

impl NgramRange {
    pub const fn new(min: u8, max: u8) -> Self {
        Self { min, max }
    }

    fn validate(self, what: &str) -> Result<()> {
        if self.min == 0 || self.min > self.max {
            return Err(Error::InvalidOptions(format!(
                "{what} n-gram range {}-{} must satisfy 1 <= min <= max",
                self.min, self.max
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for NgramRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}-{}", self.min, self.max)
    }
}

impl std::str::FromStr for NgramRange {
    type Err = String;

    /// `"1-2"`, or `"3"` for a single length.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| part.trim().parse::<u8>().map_err(|error| format!("{part:?}: {error}"));
        let range = match text.split_once('-') {
            Some((min, max)) => NgramRange::new(parse(min)?, parse(max)?),
            None => {
                let length = parse(text)?;
                NgramRange::new(length, length)
            }
        };
        range.validate("the").map_err(|error| error.to_string())?;
        Ok(range)
    }
}

/// How text becomes features. Stored in the model, so prediction uses exactly
/// the settings training used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Lengths of word n-grams.
    pub word_ngrams: NgramRange,
    /// Lengths of character n-grams, taken inside each word padded with one
    /// space on either side (scikit-learn's `char_wb`); `None` for none.
    pub char_ngrams: Option<NgramRange>,
    /// An n-gram must occur in at least this many training texts.
    pub min_document_frequency: u32,
    /// Keep at most this many word n-grams (the most frequent by document
    /// frequency, ties broken by the n-gram's bytes).
    pub max_word_features: usize,
    /// Keep at most this many character n-grams.
    pub max_char_features: usize,
    /// Use `1 + ln(tf)` instead of the raw count `tf`.
    pub sublinear_tf: bool,
    /// Read at most this many characters of a text (see [`text::normalize`]).
    pub max_chars: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            word_ngrams: NgramRange::new(1, 2),
            char_ngrams: Some(NgramRange::new(2, 5)),
            min_document_frequency: 2,
            max_word_features: 50_000,
            max_char_features: 100_000,
            sublinear_tf: true,
            max_chars: 4_000,
        }
    }
}

impl FeatureConfig {
    pub fn validate(&self) -> Result<()> {
        self.word_ngrams.validate("word")?;
        if let Some(range) = self.char_ngrams {
            range.validate("character")?;
        }
        if self.max_chars == 0 {
            return Err(Error::InvalidOptions("max_chars must be positive".into()));
        }
        Ok(())
    }
}

/// The word n-grams of normalised text, in order: for each length, every run
/// of that many consecutive tokens, as a slice of `normalized`.
fn for_each_word_ngram<'text>(
    normalized: &'text str,
    range: NgramRange,
    token_spans: &mut Vec<(usize, usize)>,
    mut visit: impl FnMut(&'text str),
) {
    token_spans.clear();
    let mut start = 0;
    for token in normalized.split(' ') {
        if !token.is_empty() {
            token_spans.push((start, start + token.len()));
        }
        start += token.len() + 1;
    }
    for length in range.min as usize..=range.max as usize {
        if length > token_spans.len() {
            break;
        }
        for first in 0..=token_spans.len() - length {
            let (from, _) = token_spans[first];
            let (_, to) = token_spans[first + length - 1];
            visit(&normalized[from..to]);
        }
    }
}

/// The character n-grams of normalised text, scikit-learn `char_wb` style:
/// within each token padded by one space on each side. `padded` must be
/// `" " + normalized + " "`; the n-grams are slices of it.
fn for_each_char_ngram<'text>(
    padded: &'text str,
    range: NgramRange,
    boundaries: &mut Vec<usize>,
    mut visit: impl FnMut(&'text str),
) {
    debug_assert!(padded.starts_with(' ') && padded.ends_with(' '));
    let bytes = padded.as_bytes();
    let mut word_start = 0;
    // Each word window runs from the space before a token to the space after
    // it; consecutive windows share that space.
    while word_start + 1 < bytes.len() {
        let word_end = match padded[word_start + 1..].find(' ') {
            Some(offset) => word_start + 1 + offset,
            None => break,
        };
        let window = &padded[word_start..=word_end];
        if window.len() > 2 {
            boundaries.clear();
            if window.is_ascii() {
                boundaries.extend(0..=window.len());
            } else {
                boundaries.extend(window.char_indices().map(|(offset, _)| offset));
                boundaries.push(window.len());
            }
            let n_chars = boundaries.len() - 1;
            for length in range.min as usize..=range.max as usize {
                if length > n_chars {
                    break;
                }
                for first in 0..=n_chars - length {
                    visit(&window[boundaries[first]..boundaries[first + length]]);
                }
            }
        }
        word_start = word_end;
    }
}

/// The 64-bit key of an n-gram in the lookup tables: FNV-1a over its bytes,
/// then MurmurHash3's finaliser to spread the bits. Prediction looks n-grams
/// up by key alone, without comparing strings: two n-grams share a key with
/// probability about 2⁻⁶⁴ per pair, so a text meets a false hit about once
/// in 10¹⁴ predictions. Two vocabulary entries sharing a key would be caught
/// when the vocabulary is loaded. The keys only live in memory, so the
/// function may change between versions without touching model files.
#[inline]
fn term_key(bytes: &[u8]) -> u64 {
    let mut state = FNV_OFFSET;
    for &byte in bytes {
        state = fnv_step(state, byte);
    }
    finish_key(state)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[inline]
fn fnv_step(state: u64, byte: u8) -> u64 {
    (state ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

#[inline]
fn finish_key(mut state: u64) -> u64 {
    state ^= state >> 33;
    state = state.wrapping_mul(0xff51_afd7_ed55_8ccd);
    state ^= state >> 33;
    state = state.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    state ^ (state >> 33)
}

/// The keys of [`for_each_char_ngram`]'s n-grams (the same multiset, start by
/// start rather than length by length): the n-grams starting at one character
/// share their prefix, so each key extends the previous one by a character
/// instead of rehashing.
fn for_each_char_ngram_key(padded: &str, range: NgramRange, boundaries: &mut Vec<usize>, mut visit: impl FnMut(u64)) {
    let bytes = padded.as_bytes();
    let mut word_start = 0;
    while word_start + 1 < bytes.len() {
        let word_end = match padded[word_start + 1..].find(' ') {
            Some(offset) => word_start + 1 + offset,
            None => break,
        };
        let window = &bytes[word_start..=word_end];
        if window.len() > 2 {
            boundaries.clear();
            if window.is_ascii() {
                boundaries.extend(0..=window.len());
            } else {
                boundaries.extend(padded[word_start..=word_end].char_indices().map(|(offset, _)| offset));
                boundaries.push(window.len());
            }
            let n_chars = boundaries.len() - 1;
            let (min, max) = (range.min as usize, range.max as usize);
            for first in 0..n_chars.saturating_sub(min - 1) {
                let mut state = FNV_OFFSET;
                for length in 1..=max.min(n_chars - first) {
                    for &byte in &window[boundaries[first + length - 1]..boundaries[first + length]] {
                        state = fnv_step(state, byte);
                    }
                    if length >= min {
                        visit(finish_key(state));
                    }
                }
            }
        }
        word_start = word_end;
    }
}

/// A hasher for keys that are already well-mixed 64-bit values.
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this path is for completeness.
        for &byte in bytes {
            self.0 = fnv_step(self.0 ^ FNV_OFFSET, byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

type KeyMap = std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<KeyHasher>>;

/// Reusable buffers for turning one text into features; a prediction needs no
/// allocation beyond what these already hold once they have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    normalized: String,
    padded: String,
    spans: Vec<(usize, usize)>,
    boundaries: Vec<usize>,
    word_hits: Vec<u32>,
    char_hits: Vec<u32>,
    /// Occurrences per feature index; all zero between calls.
    counts: Vec<u32>,
    /// The distinct features of the block being counted, first seen first.
    distinct: Vec<u32>,
}

/// A fitted vectoriser: the vocabulary of each block and the inverse document
/// frequency of each feature. Feature indices are word n-grams first (in byte
/// order of the n-gram), then character n-grams (likewise).
#[derive(Clone)]
pub struct Vectorizer {
    config: FeatureConfig,
    word_terms: Vec<String>,
    char_terms: Vec<String>,
    idf: Vec<f32>,
    /// n-gram key ([`term_key`]) → feature index.
    word_index: KeyMap,
    char_index: KeyMap,
}

impl std::fmt::Debug for Vectorizer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Vectorizer")
            .field("config", &self.config)
            .field("word_terms", &self.word_terms.len())
            .field("char_terms", &self.char_terms.len())
            .finish_non_exhaustive()
    }
}

/// The serialisable part of a [`Vectorizer`]; the hash maps are rebuilt on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorizerState {
    pub config: FeatureConfig,
    pub word_terms: Vec<String>,
    pub char_terms: Vec<String>,
    pub idf: Vec<f32>,
}

/// Smoothed inverse document frequency, as scikit-learn and
/// `linfa-preprocessing` (`TfIdfMethod::Smooth`) define it.
fn smooth_idf(n_documents: usize, document_frequency: u32) -> f32 {
    (((1 + n_documents) as f64 / (1 + document_frequency as u64) as f64).ln() + 1.0) as f32
}

/// Keeps the n-grams of at least `min_df` documents, at most `limit` of them
/// (most frequent first, ties by bytes), and returns them sorted by bytes with
/// their document frequencies.
fn select_terms(frequencies: FxHashMap<&str, u32>, min_df: u32, limit: usize) -> Vec<(String, u32)> {
    let mut kept: Vec<(&str, u32)> = frequencies.into_iter().filter(|&(_, df)| df >= min_df).collect();
    kept.sort_unstable_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(right.0)));
    kept.truncate(limit);
    kept.sort_unstable_by(|left, right| left.0.cmp(right.0));
    kept.into_iter().map(|(term, df)| (term.to_owned(), df)).collect()
}

impl Vectorizer {
    /// Builds the vocabularies and document frequencies from training texts.
    pub fn fit<S: AsRef<str> + Sync>(texts: &[S], config: FeatureConfig) -> Result<Self> {
        use rayon::prelude::*;

        config.validate()?;
        let normalized: Vec<String> =
            texts.par_iter().map(|text| text::normalize(text.as_ref(), config.max_chars)).collect();
        let padded: Vec<String> = normalized.iter().map(|text| format!(" {text} ")).collect();

        let mut word_frequency: FxHashMap<&str, u32> = FxHashMap::default();
        let mut char_frequency: FxHashMap<&str, u32> = FxHashMap::default();
        let mut spans = Vec::new();
        let mut boundaries = Vec::new();
        let mut document_terms: Vec<&str> = Vec::new();
        for (normalized_text, padded_text) in normalized.iter().zip(&padded) {
            document_terms.clear();
            for_each_word_ngram(normalized_text, config.word_ngrams, &mut spans, |term| document_terms.push(term));
            document_terms.sort_unstable();
            document_terms.dedup();
            for term in &document_terms {
                *word_frequency.entry(term).or_insert(0) += 1;
            }
            if let Some(range) = config.char_ngrams {
                document_terms.clear();
                for_each_char_ngram(padded_text, range, &mut boundaries, |term| document_terms.push(term));
                document_terms.sort_unstable();
                document_terms.dedup();
                for term in &document_terms {
                    *char_frequency.entry(term).or_insert(0) += 1;
                }
            }
        }

        let words = select_terms(word_frequency, config.min_document_frequency, config.max_word_features);
        let chars = select_terms(char_frequency, config.min_document_frequency, config.max_char_features);
        let idf = words.iter().chain(&chars).map(|&(_, df)| smooth_idf(texts.len(), df)).collect();
        let state = VectorizerState {
            config,
            word_terms: words.into_iter().map(|(term, _)| term).collect(),
            char_terms: chars.into_iter().map(|(term, _)| term).collect(),
            idf,
        };
        Self::from_state(state)
    }

    /// Rebuilds a vectoriser from its stored state, checking it is coherent.
    pub fn from_state(state: VectorizerState) -> Result<Self> {
        state.config.validate()?;
        let n_features = state.word_terms.len() + state.char_terms.len();
        if state.idf.len() != n_features || n_features > u32::MAX as usize {
            return Err(Error::Corrupt(format!(
                "vectoriser has {} idf weights for {n_features} features",
                state.idf.len()
            )));
        }
        let index = |terms: &[String], offset: usize| -> Result<KeyMap> {
            let mut map = KeyMap::with_capacity_and_hasher(terms.len(), Default::default());
            for (position, term) in terms.iter().enumerate() {
                if let Some(other) = map.insert(term_key(term.as_bytes()), (offset + position) as u32) {
                    let other = &terms[other as usize - offset];
                    return Err(Error::Corrupt(format!("vocabulary entries {other:?} and {term:?} share a key")));
                }
            }
            Ok(map)
        };
        let word_index = index(&state.word_terms, 0)?;
        let char_index = index(&state.char_terms, state.word_terms.len())?;
        Ok(Self {
            config: state.config,
            word_terms: state.word_terms,
            char_terms: state.char_terms,
            idf: state.idf,
            word_index,
            char_index,
        })
    }

    pub fn state(&self) -> VectorizerState {
        VectorizerState {
            config: self.config.clone(),
            word_terms: self.word_terms.clone(),
            char_terms: self.char_terms.clone(),
            idf: self.idf.clone(),
        }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    pub fn n_features(&self) -> usize {
        self.idf.len()
    }

    pub fn n_word_features(&self) -> usize {
        self.word_terms.len()
    }

    /// The n-gram behind a feature index (word n-grams as they appear in
    /// normalised text, character n-grams with their padding spaces).
    pub fn term(&self, feature: u32) -> Option<&str> {
        let feature = feature as usize;
        match feature.checked_sub(self.word_terms.len()) {
            None => self.word_terms.get(feature).map(String::as_str),
            Some(char_feature) => self.char_terms.get(char_feature).map(String::as_str),
        }
    }

    /// Features of `text`, sorted by feature index.
    pub fn transform(&self, text: &str) -> SparseVector {
        let mut scratch = Scratch::default();
        let mut features = SparseVector::default();
        self.transform_into(text, &mut scratch, &mut features);
        let mut pairs: Vec<(u32, f32)> = features.iter().collect();
        pairs.sort_unstable_by_key(|&(index, _)| index);
        SparseVector { indices: pairs.iter().map(|p| p.0).collect(), values: pairs.iter().map(|p| p.1).collect() }
    }

    /// Features of `text`, written into `features` (each feature once, in no
    /// particular order: scoring does not need one), reusing `scratch`.
    pub fn transform_into(&self, text: &str, scratch: &mut Scratch, features: &mut SparseVector) {
        features.indices.clear();
        features.values.clear();

        let normalized = text::normalize(text, self.config.max_chars);
        scratch.normalized = normalized;

        scratch.word_hits.clear();
        {
            let word_index = &self.word_index;
            let hits = &mut scratch.word_hits;
            for_each_word_ngram(&scratch.normalized, self.config.word_ngrams, &mut scratch.spans, |term| {
                if let Some(&feature) = word_index.get(&term_key(term.as_bytes())) {
                    hits.push(feature);
                }
            });
        }
        scratch.char_hits.clear();
        if let Some(range) = self.config.char_ngrams {
            scratch.padded.clear();
            scratch.padded.push(' ');
            scratch.padded.push_str(&scratch.normalized);
            scratch.padded.push(' ');
            let char_index = &self.char_index;
            let hits = &mut scratch.char_hits;
            for_each_char_ngram_key(&scratch.padded, range, &mut scratch.boundaries, |key| {
                if let Some(&feature) = char_index.get(&key) {
                    hits.push(feature);
                }
            });
        }

        let blocks_present = usize::from(!scratch.word_hits.is_empty()) + usize::from(!scratch.char_hits.is_empty());
        if blocks_present == 0 {
            return;
        }
        let block_scale = 1.0 / (blocks_present as f32).sqrt();
        // Count occurrences in a dense array (touched entries only, reset
        // after) rather than sorting the hits: a long ticket has thousands of
        // n-gram hits but far fewer distinct features.
        if scratch.counts.len() < self.idf.len() {
            scratch.counts.resize(self.idf.len(), 0);
        }
        for hits in [&scratch.word_hits, &scratch.char_hits] {
            if hits.is_empty() {
                continue;
            }
            scratch.distinct.clear();
            for &feature in hits.iter() {
                let count = &mut scratch.counts[feature as usize];
                if *count == 0 {
                    scratch.distinct.push(feature);
                }
                *count += 1;
            }
            let block_start = features.indices.len();
            for &feature in &scratch.distinct {
                let count = std::mem::take(&mut scratch.counts[feature as usize]);
                let term_frequency = if self.config.sublinear_tf { 1.0 + (count as f32).ln() } else { count as f32 };
                features.indices.push(feature);
                features.values.push(term_frequency * self.idf[feature as usize]);
            }
            let block_values = &mut features.values[block_start..];
            let norm = block_values.iter().map(|value| value * value).sum::<f32>().sqrt();
            let factor = block_scale / norm;
            for value in block_values {
                *value *= factor;
            }
        }
        debug_assert!(scratch.distinct.iter().all(|&feature| scratch.counts[feature as usize] == 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn word_ngrams(text: &str, range: NgramRange) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word_ngram(text, range, &mut Vec::new(), |term| out.push(term.to_owned()));
        out
    }

    fn char_ngrams(text: &str, range: NgramRange) -> Vec<String> {
        let mut out = Vec::new();
        for_each_char_ngram(&format!(" {text} "), range, &mut Vec::new(), |term| out.push(term.to_owned()));
        out
    }

    #[test]
    fn word_ngrams_are_runs_of_tokens() {
        assert_eq!(word_ngrams("a bb c", NgramRange::new(1, 2)), ["a", "bb", "c", "a bb", "bb c"]);
        assert_eq!(word_ngrams("a", NgramRange::new(2, 3)), Vec::<String>::new());
        assert_eq!(word_ngrams("", NgramRange::new(1, 1)), Vec::<String>::new());
    }

    #[test]
    fn char_ngrams_stay_inside_padded_words() {
        assert_eq!(char_ngrams("ab c", NgramRange::new(2, 3)), [" a", "ab", "b ", " ab", "ab ", " c", "c ", " c "]);
        assert_eq!(char_ngrams("é", NgramRange::new(3, 3)), [" é "]);
        assert_eq!(char_ngrams("", NgramRange::new(1, 3)), Vec::<String>::new());
    }

    #[test]
    fn fit_respects_min_df_and_limits() {
        let texts = ["card arrived", "card lost", "card arrived late", "pin"];
        let config = FeatureConfig { char_ngrams: None, min_document_frequency: 2, ..FeatureConfig::default() };
        let vectorizer = Vectorizer::fit(&texts, config.clone()).expect("fit");
        assert_eq!(vectorizer.word_terms, ["arrived", "card", "card arrived"]);
        let limited = Vectorizer::fit(&texts, FeatureConfig { max_word_features: 1, ..config }).expect("fit");
        assert_eq!(limited.word_terms, ["card"]);
    }

    #[test]
    fn unknown_text_has_no_features() {
        let vectorizer = Vectorizer::fit(&["hello world", "hello there"], FeatureConfig::default()).expect("fit");
        assert!(vectorizer.transform("").is_empty());
        assert!(vectorizer.transform("zzz qqq").is_empty());
    }

    /// Our word block computes what `linfa-preprocessing`'s `TfIdfVectorizer`
    /// computes (smooth idf, raw counts), up to the L2 scaling we add. linfa
    /// recomputes idf from the batch it transforms, so the comparison
    /// transforms the fitting corpus itself, where the two idfs coincide.
    #[test]
    fn word_block_matches_linfa_preprocessing() {
        let corpus = [
            "my card has not arrived yet",
            "card arrived but pin not working",
            "how do i change my pin",
            "exchange rate for my card payment",
            "pin blocked after card payment",
        ];
        let config = FeatureConfig {
            word_ngrams: NgramRange::new(1, 1),
            char_ngrams: None,
            min_document_frequency: 1,
            sublinear_tf: false,
            ..FeatureConfig::default()
        };
        let ours = Vectorizer::fit(&corpus, config).expect("fit");
        let documents = ndarray::Array1::from_iter(corpus.iter().map(|text| text.to_string()));
        let linfa =
            linfa_preprocessing::tf_idf_vectorization::TfIdfVectorizer::default().fit(&documents).expect("linfa fit");
        let matrix = linfa.transform(&documents).expect("linfa transform").to_dense();
        let vocabulary = linfa.vocabulary();
        for (row, text) in corpus.iter().enumerate() {
            let features = ours.transform(text);
            // linfa's tokeniser drops one-letter words ("i"); ours keeps them.
            let mut expected: Vec<(String, f64)> = vocabulary
                .iter()
                .enumerate()
                .filter(|&(column, _)| matrix[(row, column)] != 0.0)
                .map(|(column, term)| (term.clone(), matrix[(row, column)]))
                .collect();
            let norm = expected.iter().map(|(_, value)| value * value).sum::<f64>().sqrt();
            expected.iter_mut().for_each(|(_, value)| *value /= norm);
            let mut actual: Vec<(String, f64)> = features
                .iter()
                .map(|(index, value)| (ours.term(index).expect("term").to_owned(), f64::from(value)))
                .filter(|(term, _)| term.chars().count() > 1)
                .collect();
            let norm = actual.iter().map(|(_, value)| value * value).sum::<f64>().sqrt();
            actual.iter_mut().for_each(|(_, value)| *value /= norm);
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            actual.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(actual.len(), expected.len(), "{text}");
            for ((term, value), (expected_term, expected_value)) in actual.iter().zip(&expected) {
                assert_eq!(term, expected_term);
                assert!((value - expected_value).abs() < 1e-5, "{term}: {value} vs {expected_value}");
            }
        }
    }

    proptest! {
        #[test]
        fn incremental_keys_match_hashed_ngrams(text in "\\PC{0,60}", min in 1u8..4, extra in 0u8..4) {
            let range = NgramRange::new(min, min + extra);
            let padded = format!(" {} ", text::normalize(&text, usize::MAX));
            let mut expected = Vec::new();
            for_each_char_ngram(&padded, range, &mut Vec::new(), |term| expected.push(term_key(term.as_bytes())));
            let mut actual = Vec::new();
            for_each_char_ngram_key(&padded, range, &mut Vec::new(), |key| actual.push(key));
            expected.sort_unstable();
            actual.sort_unstable();
            prop_assert_eq!(actual, expected);
        }

        #[test]
        fn vectors_are_sorted_and_unit_length(
            corpus in proptest::collection::vec("[a-e ]{0,30}", 2..20),
            probe in "[a-f ,!]{0,40}",
        ) {
            let config = FeatureConfig { min_document_frequency: 1, ..FeatureConfig::default() };
            let vectorizer = Vectorizer::fit(&corpus, config).expect("fit");
            let features = vectorizer.transform(&probe);
            prop_assert!(features.indices.windows(2).all(|pair| pair[0] < pair[1]));
            prop_assert!(features.indices.iter().all(|&index| (index as usize) < vectorizer.n_features()));
            prop_assert!(features.values.iter().all(|value| value.is_finite() && *value > 0.0));
            if !features.is_empty() {
                prop_assert!((features.squared_norm() - 1.0).abs() < 1e-4);
            }
        }

        #[test]
        fn features_depend_only_on_normalized_text(text in "\\PC{0,60}") {
            let corpus = ["the card did not arrive", "my card is lost", "£ 20 refund please", "can t log in"];
            let vectorizer = Vectorizer::fit(&corpus, FeatureConfig { min_document_frequency: 1, ..FeatureConfig::default() })
                .expect("fit");
            let normalized = text::normalize(&text, usize::MAX);
            prop_assert_eq!(vectorizer.transform(&text), vectorizer.transform(&normalized));
        }

        #[test]
        fn state_round_trips(corpus in proptest::collection::vec("[a-z ]{0,30}", 2..10)) {
            let vectorizer = Vectorizer::fit(&corpus, FeatureConfig { min_document_frequency: 1, ..FeatureConfig::default() })
                .expect("fit");
            let rebuilt = Vectorizer::from_state(vectorizer.state()).expect("rebuild");
            for text in &corpus {
                prop_assert_eq!(vectorizer.transform(text), rebuilt.transform(text));
            }
        }
    }
}
