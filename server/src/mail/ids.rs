//! Identifiers that end up inside header fields: message ids (Message-ID, In-Reply-To,
//! References) and the compose form's send id. Both arrive from places an attacker controls (a
//! received message, a posted form), and a CR or LF in either would let them write header
//! fields of their own into our mail, so only a strict syntax gets through.

/// RFC 5322 §3.6.4 allows at most a line's worth; anything longer is not an id anyone made for
/// a real message.
const MAX_MESSAGE_ID: usize = 250;

/// The id inside a msg-id (`<id-left@id-right>`), without its angle brackets, which is how
/// both the parser hands ids out and the builder takes them in; `None` for anything else.
///
/// The brackets are optional in the input: the reply form carries ids without them. Each side
/// is one or more printable ASCII characters other than `<`, `>` and `@`; spaces, controls
/// (CR and LF above all) and non-ASCII make the whole id unusable, never trimmed into
/// something usable.
pub fn message_id(text: &str) -> Option<String> {
    let inner = match text.strip_prefix('<') {
        Some(rest) => rest.strip_suffix('>')?,
        None => text,
    };
    if inner.len() > MAX_MESSAGE_ID {
        return None;
    }
    let (left, right) = inner.split_once('@')?;
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'@'))
    };
    (part_ok(left) && part_ok(right)).then(|| inner.to_string())
}

/// A References list from whitespace-separated ids: the ones [`message_id`] accepts, in order.
pub fn message_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    ids.into_iter().filter_map(message_id).collect()
}

/// The form's send id becomes the outbox key and the left part of our Message-ID, so it is kept
/// to what the compose page makes (URL-safe base64 letters) and a sane length. Room is left for
/// the suffixes a send adds ("-again" for each "Send again as a new message").
pub fn is_send_id(text: &str) -> bool {
    (16..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_pass_with_or_without_brackets() {
        assert_eq!(
            message_id("<a.b+c@example.test>").as_deref(),
            Some("a.b+c@example.test")
        );
        assert_eq!(
            message_id("a.b@[127.0.0.1]").as_deref(),
            Some("a.b@[127.0.0.1]")
        );
    }

    #[test]
    fn ids_that_could_carry_a_header_field_are_dropped() {
        for bad in [
            "<a@b>\rReply-To: x@evil.test",
            "a@b\r\nReply-To: x@evil.test",
            "a@b\rReply-To:x@evil.test",
            "a@b\nBcc:x@evil.test",
            "<a@b> <c@d>",
            "a b@c",
            "a@b\t",
            "a@b\0",
            "<a@b",
            "a@b>",
            "<<a@b>>",
            "a@b@c",
            "@b",
            "a@",
            "ab",
            "",
            "ä@b",
        ] {
            assert_eq!(message_id(bad), None, "{bad:?} passed");
        }
        assert_eq!(message_id(&format!("{}@b", "a".repeat(300))), None);
    }

    #[test]
    fn references_keep_only_the_good_ids_in_order() {
        let refs = message_ids("<a@b> c@d junk <e@f g@h> <i@j>".split_whitespace());
        assert_eq!(refs, ["a@b", "c@d", "i@j"]);
    }

    #[test]
    fn send_ids_are_url_safe_letters_of_a_sane_length() {
        assert!(is_send_id("AbC-_0123456789abcdef"));
        assert!(!is_send_id("short"));
        assert!(is_send_id(&"a".repeat(128)));
        assert!(!is_send_id(&"a".repeat(129)));
        assert!(!is_send_id("abcdefghijklmnop\r\nBcc: x@evil.test"));
        assert!(!is_send_id("abcdefghijklmnop@evil"));
        assert!(!is_send_id("abcdefghijklmnop.q"));
    }
}
