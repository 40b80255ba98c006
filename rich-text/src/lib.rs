//! Formatted (HTML) text in composed mail.
//!
//! A formatted message goes out as `multipart/alternative`: a `text/plain` part for readers
//! that show only text, and a `text/html` part. What the editor produced is untrusted (anything
//! can be pasted into it, and a modified page can post anything), so [`sanitize`] keeps only the
//! formatting the editor offers before the message is signed or sent, and [`plain_text`] derives
//! the text part from that clean HTML, so the two parts always say the same thing.
//!
//! The server uses this for mail it can read; the browser module uses it for mail it signs or
//! encrypts, which the server never sees. One rule, so both kinds carry the same structure.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashSet;

/// The elements the editor can make, and nothing else: no images (a composed message should
/// not fetch anything when read), no styles, no forms, no scripts.
const TAGS: &[&str] = &[
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strike",
    "strong",
    "u",
    "ul",
];

/// Width of the plain-text alternative, as mail clients wrap text.
const TEXT_WIDTH: usize = 76;

/// The formatted text with everything the editor cannot make removed. Links keep only
/// `http`, `https` and `mailto` targets.
pub fn sanitize(html: &str) -> String {
    let tags: HashSet<&str> = TAGS.iter().copied().collect();
    ammonia::Builder::empty()
        .tags(tags)
        .add_tag_attributes("a", ["href"])
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

/// The plain-text alternative of (already sanitised) formatted text: paragraphs and line breaks
/// kept, `**bold**` and `*italic*`, lists as `*` and `1.` items, quotes as `> ` lines, links as
/// numbered references listed at the end.
pub fn plain_text(html: &str) -> String {
    match html2text::config::plain()
        .link_footnotes(true)
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
    {
        // An editor keeps typed spaces with no-break spaces; in plain text they are spaces.
        Ok(text) => text.trim_end().replace('\u{a0}', " ") + "\n",
        // Rendering fails only for a width too narrow for the content's nesting; fall back to
        // the text with its tags taken out rather than losing the message.
        Err(_) => ammonia::Builder::empty().clean(html).to_string(),
    }
}

/// Plain text as formatted text: each line kept, special characters escaped. For switching a
/// message from plain to formatted, and for quoting plain mail in a formatted reply.
pub fn from_plain_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        out.push_str(&escape(line));
    }
    out
}

/// A reply's formatted start: room to write, the attribution, and the original (sanitised)
/// in a quote.
pub fn quote(attribution: &str, original_html: &str) -> String {
    format!(
        "<p><br></p><p>{}</p><blockquote type=\"cite\">{}</blockquote>",
        escape(attribution),
        sanitize(original_html)
    )
}

/// The text/html part's document around sanitised formatted text.
pub fn document(clean_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{clean_html}\n</body></html>\n"
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editors_formatting_survives() {
        let html = "<p><b>Bold</b> <i>it</i> <u>u</u></p><ul><li>one</li></ul><ol><li>two</li></ol>\
                    <blockquote>quoted</blockquote><a href=\"https://example.test/x\">link</a>";
        let clean = sanitize(html);
        for kept in [
            "<b>Bold</b>",
            "<i>it</i>",
            "<u>u</u>",
            "<ul><li>one</li></ul>",
            "<ol>",
            "<blockquote>",
            "href=\"https://example.test/x\"",
        ] {
            assert!(clean.contains(kept), "{kept} lost: {clean}");
        }
    }

    #[test]
    fn anything_active_or_fetching_is_removed() {
        let html = "<p onclick=\"x()\" style=\"color:red\">hi</p><script>alert(1)</script>\
                    <img src=\"https://tracker.test/p.gif\"><a href=\"javascript:alert(1)\">j</a>\
                    <iframe src=\"https://evil.test\"></iframe><form><input name=a></form>\
                    <style>p{}</style><a href=\"data:text/html,x\">d</a>";
        let clean = sanitize(html);
        for gone in [
            "onclick",
            "style",
            "script",
            "alert",
            "img",
            "tracker",
            "javascript",
            "iframe",
            "form",
            "input",
            "data:",
        ] {
            assert!(!clean.contains(gone), "{gone} survived: {clean}");
        }
        assert!(clean.contains("hi"));
    }

    #[test]
    fn the_text_part_says_what_the_html_says() {
        let text = plain_text(&sanitize(
            "<p>Hello&nbsp;<b>Bob</b></p><ul><li>apples</li><li>pears</li></ul><ol><li>first</li></ol>\
             <blockquote>said before</blockquote><p><a href=\"https://example.test/\">site</a></p>",
        ));
        // Emphasis as plain-text mail has long written it.
        assert!(text.contains("Hello **Bob**"), "{text}");
        assert!(text.contains("* apples"), "{text}");
        assert!(text.contains("1. first"), "{text}");
        assert!(text.contains("> said before"), "{text}");
        assert!(
            text.contains("[site][1]") && text.contains("[1]: https://example.test/"),
            "{text}"
        );
    }

    #[test]
    fn plain_text_becomes_escaped_lines() {
        assert_eq!(
            from_plain_text("a < b & c\r\nsecond"),
            "a &lt; b &amp; c<br>second"
        );
    }

    #[test]
    fn a_quote_cleans_the_original_and_escapes_the_attribution() {
        let quoted = quote("On Mon, <eve@x> wrote:", "<p>hi<script>x</script></p>");
        assert!(quoted.contains("On Mon, &lt;eve@x&gt; wrote:"));
        assert!(
            quoted.contains("<blockquote type=\"cite\"><p>hi</p></blockquote>"),
            "{quoted}"
        );
    }
}
