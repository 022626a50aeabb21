//! Text analysis: the tantivy analyzers the index uses, the same analysis
//! for queries, and word-bounded character n-grams for the re-ranker.

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenizerManager,
};

/// Which stop words the analyzer removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StopWords {
    /// Keep every word.
    None,
    /// Lucene's English list (33 words, including "no" and "not").
    Lucene,
    /// Lucene's list minus the negations "no" and "not": "card not
    /// arrived" and "card arrived" are different support questions.
    LuceneKeepNegations,
}

/// How text is turned into index terms. Fixed when an index is created and
/// stored beside it, since changing it means re-indexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// English Snowball stemming ("arrived" and "arriving" both become "arriv").
    pub stemming: bool,
    pub stop_words: StopWords,
    /// The re-ranker's vectors also hold whole words and word pairs, not
    /// only character n-grams.
    #[serde(default)]
    pub rerank_words: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        // Tuned on StackFAQ with dense re-ranking (see `SearchConfig`'s
        // defaults): Lucene's stop words removed, 0.9509 against 0.9488 for
        // keeping every word (tuning folds).
        Self { stemming: true, stop_words: StopWords::Lucene, rerank_words: false }
    }
}

impl AnalysisOptions {
    /// What a plain BM25 baseline uses: lowercased words, nothing removed or stemmed.
    pub fn plain() -> Self {
        Self { stemming: false, stop_words: StopWords::None, rerank_words: false }
    }

    /// The name the analyzer is registered under in the index's tokenizer manager.
    pub(crate) fn analyzer_name(&self) -> String {
        let stop = match self.stop_words {
            StopWords::None => "nostop",
            StopWords::Lucene => "lucenestop",
            StopWords::LuceneKeepNegations => "negstop",
        };
        let stem = if self.stemming { "stem" } else { "nostem" };
        format!("sb_en_{stem}_{stop}")
    }

    fn all() -> impl Iterator<Item = AnalysisOptions> {
        [true, false].into_iter().flat_map(|stemming| {
            [StopWords::None, StopWords::Lucene, StopWords::LuceneKeepNegations]
                .into_iter()
                .map(move |stop_words| AnalysisOptions { stemming, stop_words, rerank_words: false })
        })
    }

    /// Builds the analyzer: words of letters and digits, at most 40 bytes,
    /// accents folded to ASCII, lowercased, then stop words and stemming as chosen.
    pub fn analyzer(&self) -> TextAnalyzer {
        let builder = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            // Folding first: folding can turn a lowercase letter into an
            // uppercase ASCII one ("ꟻ" into "F"), which must still be lowercased.
            .filter(AsciiFoldingFilter)
            .filter(LowerCaser)
            .dynamic();
        let builder = match self.stop_words {
            StopWords::None => builder,
            StopWords::Lucene => builder.filter_dynamic(lucene_stop_words(true)),
            StopWords::LuceneKeepNegations => builder.filter_dynamic(lucene_stop_words(false)),
        };
        let builder = if self.stemming { builder.filter_dynamic(Stemmer::new(Language::English)) } else { builder };
        builder.build()
    }
}

/// Lucene's English stop words, with or without the negations.
fn lucene_stop_words(with_negations: bool) -> StopWordFilter {
    const LUCENE_ENGLISH: [&str; 33] = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
        "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
        "will", "with",
    ];
    StopWordFilter::remove(
        LUCENE_ENGLISH.into_iter().filter(|word| with_negations || !matches!(*word, "no" | "not")).map(str::to_owned),
    )
}

/// Registers every analyzer this crate may name in a schema, so an index
/// created with any [`AnalysisOptions`] can be opened.
pub(crate) fn register_analyzers(manager: &TokenizerManager) {
    // The analyzer does not depend on `rerank_words`.
    for options in AnalysisOptions::all() {
        manager.register(&options.analyzer_name(), options.analyzer());
    }
}

/// One analyzed word and its position in the original text. Positions count
/// removed stop words too, so phrase queries keep their gaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzedToken {
    pub text: String,
    pub position: usize,
}

/// Runs `text` through the analyzer.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<AnalyzedToken> {
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        let token = stream.token();
        tokens.push(AnalyzedToken { text: token.text.clone(), position: token.position });
    }
    tokens
}

/// The re-ranker's features: [`char_ngrams`], and with `words` also each
/// lowercased word and each pair of neighbouring words (marked so they never
/// collide with n-grams).
pub fn rerank_features(text: &str, words: bool, mut emit: impl FnMut(&str)) {
    char_ngrams(text, &mut emit);
    if !words {
        return;
    }
    let mut previous: Option<String> = None;
    let mut feature = String::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let word: String = word.chars().flat_map(char::to_lowercase).collect();
        feature.clear();
        feature.push_str("w|");
        feature.push_str(&word);
        emit(&feature);
        if let Some(previous) = &previous {
            feature.clear();
            feature.push_str("b|");
            feature.push_str(previous);
            feature.push(' ');
            feature.push_str(&word);
            emit(&feature);
        }
        previous = Some(word);
    }
}

/// Word-bounded character n-grams of 3 to 5 characters: each lowercased word
/// of letters and digits is padded with a space on both sides and cut into
/// every n-gram. They survive typos, inflections and word splits
/// ("log-in"/"login") that whole-word terms miss.
pub fn char_ngrams(text: &str, mut emit: impl FnMut(&str)) {
    const MIN: usize = 3;
    const MAX: usize = 5;
    let mut padded: Vec<char> = Vec::with_capacity(32);
    let mut gram = String::with_capacity(4 * MAX);
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        padded.clear();
        padded.push(' ');
        padded.extend(word.chars().flat_map(char::to_lowercase));
        padded.push(' ');
        for start in 0..padded.len() {
            for length in MIN..=MAX {
                let Some(slice) = padded.get(start..start + length) else { break };
                gram.clear();
                gram.extend(slice);
                emit(&gram);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(options: AnalysisOptions, text: &str) -> Vec<String> {
        analyze(&mut options.analyzer(), text).into_iter().map(|token| token.text).collect()
    }

    #[test]
    fn stemming_and_stop_words() {
        let keep_negations =
            AnalysisOptions { stemming: true, stop_words: StopWords::LuceneKeepNegations, rerank_words: false };
        assert_eq!(
            words(keep_negations, "My card has NOT arrived, the cards"),
            ["my", "card", "has", "not", "arriv", "card"]
        );
        let lucene = AnalysisOptions { stemming: true, stop_words: StopWords::Lucene, rerank_words: false };
        assert_eq!(words(lucene, "card not arrived"), ["card", "arriv"]);
        assert_eq!(words(AnalysisOptions::plain(), "Café, the Cards"), ["cafe", "the", "cards"]);
    }

    #[test]
    fn positions_keep_gaps_of_removed_words() {
        let lucene = AnalysisOptions { stemming: true, stop_words: StopWords::Lucene, rerank_words: false };
        let tokens = analyze(&mut lucene.analyzer(), "reset the password");
        assert_eq!(tokens.iter().map(|t| t.position).collect::<Vec<_>>(), [0, 2]);
    }

    #[test]
    fn ngrams_are_word_bounded() {
        let mut grams = Vec::new();
        char_ngrams("Log-in", |gram| grams.push(gram.to_owned()));
        assert_eq!(grams, [" lo", " log", " log ", "log", "log ", "og ", " in", " in ", "in "]);
    }

    proptest::proptest! {
        #[test]
        fn analysis_never_panics_and_yields_lowercase_ascii_terms(text in "\\PC{0,200}") {
            for options in AnalysisOptions::all() {
                for token in analyze(&mut options.analyzer(), &text) {
                    proptest::prop_assert!(!token.text.is_empty());
                    proptest::prop_assert!(token.text.len() <= 40 * 4);
                    proptest::prop_assert_eq!(token.text.to_lowercase(), token.text.clone());
                }
            }
        }

        #[test]
        fn ngrams_have_three_to_five_chars(text in "\\PC{0,100}") {
            char_ngrams(&text, |gram| {
                let count = gram.chars().count();
                assert!((3..=5).contains(&count), "{gram:?}");
            });
        }

        #[test]
        fn analysis_is_case_insensitive(text in "[a-zA-Z ]{0,80}") {
            let options = AnalysisOptions::default();
            proptest::prop_assert_eq!(words(options, &text), words(options, &text.to_uppercase()));
        }
    }
}
