//! The one text normalisation: what triage models are trained and predict
//! on, and what the urgency policy's keywords are compared in. (Pure, so it
//! lives here, where the policy's data types live too.)

/// Characters kept as tokens of their own because they carry meaning in
/// support text (money, percentages) that the surrounding words do not.
pub const KEPT_SYMBOLS: &[char] = &['$', '£', '€', '¥', '₹', '%'];

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
        // ASCII (most support text) takes the short way; the result is the
        // same as the general one's.
        // (The modifier-letter apostrophe 'ʼ' is a letter to Unicode, but an
        // apostrophe here, dropped like the others below.)
        let alphanumeric = if character.is_ascii() {
            character.is_ascii_alphanumeric()
        } else {
            character.is_alphanumeric() && character != 'ʼ'
        };
        if alphanumeric {
            if pending_separator && !normalized.is_empty() {
                normalized.push(' ');
            }
            pending_separator = false;
            if character.is_ascii() {
                normalized.push(character.to_ascii_lowercase());
                continue;
            }
            for lower in character.to_lowercase() {
                // Lower-casing may produce combining marks (e.g. 'İ' → "i̇");
                // those are not word characters and are dropped, which keeps
                // the output idempotent.
                if lower.is_alphanumeric() {
                    normalized.push(lower);
                }
            }
        } else if APOSTROPHES.contains(&character) {
            continue;
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

/// The longest start of `text` of at most `max_bytes` bytes that ends on a
/// character boundary.
pub fn clip(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The first C0 control character in `text` other than tab, newline and
/// carriage return, if any. Text with one is refused wherever it enters:
/// PostgreSQL cannot store NUL in text, and nothing a person writes holds
/// the others, so accepting them would accept a ticket that later cannot be
/// stored.
pub fn forbidden_control(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_ascii_control() && *c != '\u{7f}' && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod control_tests {
    use super::forbidden_control;

    #[test]
    fn only_c0_controls_other_than_whitespace_are_forbidden() {
        assert_eq!(forbidden_control("plain text\twith\ttabs\r\nand lines"), None);
        assert_eq!(forbidden_control("nul \u{0} here"), Some('\u{0}'));
        assert_eq!(forbidden_control("bell \u{7}"), Some('\u{7}'));
        assert_eq!(forbidden_control("escape \u{1b}[0m"), Some('\u{1b}'));
        assert_eq!(forbidden_control("delete \u{7f} and é ü 漢字 are text"), None);
    }
}

#[cfg(test)]
mod fast_path_tests {
    use proptest::prelude::*;

    use super::{APOSTROPHES, KEPT_SYMBOLS, normalize};

    /// The normalisation without its ASCII short cut, as first written.
    fn general(text: &str, max_chars: usize) -> String {
        let mut normalized = String::new();
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
                normalized.extend(character.to_lowercase().filter(|lower| lower.is_alphanumeric()));
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

    #[test]
    fn every_apostrophe_is_dropped_inside_a_word() {
        // 'ʼ' (U+02BC) is a letter to Unicode; the proptest below found it kept.
        assert_eq!(normalize("canʼt can’t can't can`t", 100), "cant cant cant cant");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_ascii_short_cut_changes_nothing(text in "(\\PC|[A-Za-z0-9 '’$%.,-]){0,80}", max_chars in 0usize..100) {
            prop_assert_eq!(normalize(&text, max_chars), general(&text, max_chars));
        }
    }
}
