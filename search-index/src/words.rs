//! From text to the terms the index keeps: words are cut at anything that is not a letter or a
//! digit, folded (lower case, accents and other combining marks removed, so "Müller" and
//! "muller" meet) and stemmed for English and German (so "reports" finds "report", "Berichte"
//! finds "Bericht"). A word yields both stems; a query word matches a message holding either.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words longer than this are not words people search for (base64, hashes, long URLs).
const MAX_WORD_CHARS: usize = 40;

pub(crate) struct Stemmers {
    english: Stemmer,
    german: Stemmer,
}

impl Stemmers {
    pub(crate) fn new() -> Self {
        Self {
            english: Stemmer::create(Algorithm::English),
            german: Stemmer::create(Algorithm::German),
        }
    }

    /// The terms a word stands for: its English and its German stem (often the same).
    pub(crate) fn terms(&self, word: &str) -> [String; 2] {
        [
            self.english.stem(word).into_owned(),
            self.german.stem(word).into_owned(),
        ]
    }
}

/// The folded words of `text`, in order, repeats included. One-letter words are left out.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
        .filter(|w| {
            let n = w.chars().count();
            (2..=MAX_WORD_CHARS).contains(&n)
        })
}

fn fold(word: &str) -> String {
    // Most words are ASCII: nothing to decompose.
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        // German writes ß as ss where it has no ß (Switzerland, capitals).
        .replace('ß', "ss")
}

/// The text of an HTML body, crudely: tags dropped (and what `<script>` and `<style>` hold), the
/// common character references decoded. Good enough to find words; never shown to anyone.
pub fn text_of_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        out.push(' ');
        let tag = &rest[start..];
        let lower: String = tag.chars().take(8).flat_map(char::to_lowercase).collect();
        let skip_to = ["script", "style"]
            .iter()
            .find(|name| lower[1..].starts_with(*name))
            .map(|name| format!("</{name}"));
        let end = match skip_to {
            Some(close) => find_ignoring_case(tag, &close)
                .and_then(|at| tag[at..].find('>').map(|gt| at + gt + 1)),
            None => tag.find('>').map(|gt| gt + 1),
        };
        match end {
            Some(end) => rest = &tag[end..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    for (reference, plain) in [
        ("&nbsp;", " "),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ] {
        out = out.replace(reference, plain);
    }
    out
}

fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (0..hay.len().saturating_sub(needle.len() - 1))
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_short_or_endless_ones_dropped() {
        let found: Vec<String> = words("Grüße an Müller, RÉSUMÉ & a x-ray 2026").collect();
        assert_eq!(found, ["grusse", "an", "muller", "resume", "ray", "2026"]);
        let long = "q".repeat(41);
        assert_eq!(words(&long).count(), 0);
    }

    #[test]
    fn english_and_german_inflections_share_a_stem() {
        let stems = Stemmers::new();
        assert_eq!(stems.terms("reports")[0], stems.terms("report")[0]);
        assert_eq!(stems.terms("berichte")[1], stems.terms("bericht")[1]);
    }

    #[test]
    fn html_gives_its_text_without_tags_scripts_or_styles() {
        let html = "<html><style>p{color:red}</style><p>Budget&nbsp;<b>plan</b></p>\
                    <SCRIPT>var secret=1</SCRIPT>Q&amp;A<br";
        let text = text_of_html(html);
        assert!(text.contains("Budget  plan "), "{text}");
        assert!(text.contains("Q&A"), "{text}");
        assert!(
            !text.contains("color") && !text.contains("secret"),
            "{text}"
        );
    }
}
