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

pub use switchboard_core::text::{KEPT_SYMBOLS, normalize};

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
