//! Text normalisation and tokenisation, shared byte for byte by training and
//! prediction.
//!
//! Everything a model sees goes through [`normalize`]: the vocabulary is built
//! from its output at training time and looked up in its output at prediction
//! time, so a change here changes what every shipped model means. Such a change
//! must bump [`NORMALIZATION_VERSION`], which models record and check on load.

use switchboard_core::Ticket;

/// Version of the rules in [`normalize`]. A model trained under one version
/// refuses to load under another (see `artefact`).
pub const NORMALIZATION_VERSION: u32 = 1;

/// Characters kept as tokens of their own because they carry meaning in
/// support text (money, percentages) that the surrounding words do not.
const KEPT_SYMBOLS: &[char] = &['$', '£', '€', '¥', '₹', '%'];

/// Apostrophes are dropped without splitting the word, so that "can't",
/// "can’t" and "cant" are the same token.
const APOSTROPHES: &[char] = &['\'', '’', 'ʼ', '`', '´'];

/// Turns raw text into the canonical form the features are built from:
///
/// * at most `max_chars` characters of the input are read (a guard against
///   64 KiB descriptions and pasted logs dominating the cost of a prediction);
/// * letters are lower-cased, apostrophes are removed inside words;
/// * every letter or digit run is a token, each of [`KEPT_SYMBOLS`] is a token
///   of its own, and everything else separates tokens;
/// * tokens are joined by exactly one ASCII space, with none at either end.
///
/// The output is therefore empty or a sequence of non-empty tokens separated
/// by single spaces, and `normalize(normalize(x)) == normalize(x)`.
pub fn normalize(text: &str, max_chars: usize) -> String {
    let mut normalized = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    // A separator is written lazily, only once the next token starts, so the
    // output never begins or ends with a space and never holds two in a row.
    let mut pending_separator = false;
    for character in text.chars().take(max_chars) {
        if APOSTROPHES.contains(&character) {
            continue;
        }
        if character.is_alphanumeric() {
            if pending_separator && !normalized.is_empty() {
                normalized.push(' ');
            }
            pending_separator = false;
            for lower in character.to_lowercase() {
                // Lower-casing may produce combining marks (e.g. 'İ' → "i̇");
                // those are not word characters and are dropped, which keeps
                // the output idempotent.
                if lower.is_alphanumeric() {
                    normalized.push(lower);
                }
            }
        } else if KEPT_SYMBOLS.contains(&character) {
            if !normalized.is_empty() {
                normalized.push(' ');
            }
            normalized.push(character);
            pending_separator = true;
        } else {
            pending_separator = true;
        }
    }
    normalized
}

/// The tokens of already normalised text. Word n-grams are contiguous runs of
/// these, which in normalised text are themselves contiguous slices.
pub fn tokens(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(' ').filter(|token| !token.is_empty())
}

/// The one way a ticket (or a training row) becomes text to classify: the
/// non-blank parts in order, joined by a newline. Training rows with several
/// text columns (`--text summary,description`) go through this too, so a model
/// trained on "title, description" columns sees tickets exactly as the stage
/// hands them over.
pub fn join_fields<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut joined = String::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.push('\n');
        }
        joined.push_str(part);
    }
    joined
}

/// The text the triage models classify for a ticket: its title, then its
/// description.
pub fn ticket_text(ticket: &Ticket) -> String {
    join_fields([ticket.title.as_str(), ticket.description.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNLIMITED: usize = usize::MAX;

    #[test]
    fn examples() {
        assert_eq!(normalize("  I can't  log-in!! ", UNLIMITED), "i cant log in");
        assert_eq!(normalize("Charged £20.50 (twice)?", UNLIMITED), "charged £ 20 50 twice");
        assert_eq!(normalize("100%sure", UNLIMITED), "100 % sure");
        assert_eq!(normalize("ÜBER straße", UNLIMITED), "über straße");
        assert_eq!(normalize("İstanbul", UNLIMITED), "istanbul");
        assert_eq!(normalize("", UNLIMITED), "");
        assert_eq!(normalize("?!", UNLIMITED), "");
        assert_eq!(normalize("abc def", 5), "abc d");
        assert_eq!(tokens("a bb ccc").collect::<Vec<_>>(), ["a", "bb", "ccc"]);
        assert_eq!(tokens("").count(), 0);
    }

    #[test]
    fn fields_are_joined_without_blank_parts() {
        assert_eq!(join_fields(["Title ", "", "  body"]), "Title\nbody");
        assert_eq!(join_fields(["", " "]), "");
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(text in "\\PC{0,80}") {
            let once = normalize(&text, UNLIMITED);
            prop_assert_eq!(normalize(&once, UNLIMITED), once.clone());
        }

        #[test]
        fn output_is_single_space_separated_tokens(text in "\\PC{0,80}") {
            let normalized = normalize(&text, UNLIMITED);
            prop_assert!(!normalized.starts_with(' '));
            prop_assert!(!normalized.ends_with(' '));
            prop_assert!(!normalized.contains("  "));
            for token in tokens(&normalized) {
                let all_word = token.chars().all(char::is_alphanumeric);
                let kept_symbol = token.chars().count() == 1 && token.chars().all(|c| KEPT_SYMBOLS.contains(&c));
                prop_assert!(all_word || kept_symbol, "token {:?}", token);
                prop_assert!(all_word != kept_symbol);
            }
            prop_assert_eq!(tokens(&normalized).collect::<Vec<_>>().join(" "), normalized.clone());
        }

        #[test]
        fn separators_between_pieces_concatenate(left in "\\PC{0,40}", right in "\\PC{0,40}") {
            // Normalising "left right" is normalising each piece and joining
            // the non-empty results: nothing leaks across a separator.
            let joined = normalize(&format!("{left} {right}"), UNLIMITED);
            let pieces: Vec<String> = [normalize(&left, UNLIMITED), normalize(&right, UNLIMITED)]
                .into_iter()
                .filter(|piece| !piece.is_empty())
                .collect();
            prop_assert_eq!(joined, pieces.join(" "));
        }

        #[test]
        fn case_and_apostrophes_do_not_matter(text in "[a-zA-Z' ]{0,40}") {
            let upper = normalize(&text.to_uppercase(), UNLIMITED);
            let without_apostrophes = normalize(&text.replace('\'', ""), UNLIMITED);
            prop_assert_eq!(upper, without_apostrophes);
        }

        #[test]
        fn the_character_limit_reads_a_prefix(text in "\\PC{0,80}", limit in 0usize..100) {
            let prefix: String = text.chars().take(limit).collect();
            prop_assert_eq!(normalize(&text, limit), normalize(&prefix, UNLIMITED));
        }
    }
}
