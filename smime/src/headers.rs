//! Header protection, RFC 9788 style: the protected header fields travel inside the signed
//! and/or encrypted entity (the "cryptographic payload"), marked by an `hp` parameter on its
//! Content-Type.
//!
//! * Signed only (`hp="clear"`): every header field of the message is copied into the payload;
//!   the outer header is unchanged.
//! * Encrypted (`hp="cipher"`): the payload also carries the fields, and the outer header is
//!   reduced by the baseline Header Confidentiality Policy (RFC 9788 §3.2.1): Subject becomes
//!   `[...]`, Comments and Keywords are dropped, everything else (From, To, Cc, Date,
//!   Message-ID, …) stays because transport needs it. The payload records what was exposed in
//!   `HP-Outer` fields so a reader can tell which outer fields were covered.
//!
//! No Legacy Display Element is added: clients without RFC 9788 support then show the
//! obscured outer Subject, which is the privacy the sender asked for.

use crate::mime::{self, Entity, MimeError, SplitMessage};

/// Which kind of protection the payload gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Signed only: `hp="clear"`.
    Clear,
    /// Encrypted (with or without signature): `hp="cipher"`.
    Cipher,
}

/// The outer Subject under the baseline policy.
pub const OBSCURED_SUBJECT: &str = "[...]";

/// Split a message for wrapping, copying its header fields into the payload.
pub fn split_protected(message: &[u8], protection: Protection) -> Result<SplitMessage, MimeError> {
    let canonical = mime::canonicalize(message);
    let parsed = Entity::parse(&canonical)?;
    let mut outer = Vec::new();
    let mut inner_fields = Vec::new();
    let mut hp_outer = Vec::new();
    for field in parsed.fields.iter().filter(|f| !f.is("mime-version")) {
        let is_content = field.name.to_ascii_lowercase().starts_with(b"content-");
        if field.is("content-type") {
            inner_fields.extend_from_slice(&with_hp_parameter(field.raw, protection));
            continue;
        }
        inner_fields.extend_from_slice(field.raw);
        if is_content {
            continue;
        }
        if let Some(exposed) = outer_form(field, protection) {
            hp_outer.extend_from_slice(b"HP-Outer: ");
            hp_outer.extend_from_slice(&exposed);
            outer.extend_from_slice(&exposed);
        }
    }
    let mut entity = Vec::with_capacity(canonical.len() * 2);
    if parsed.field("content-type").is_none() {
        let default = b"Content-Type: text/plain; charset=utf-8\r\n";
        entity.extend_from_slice(&with_hp_parameter(default, protection));
    }
    entity.extend_from_slice(&inner_fields);
    if protection == Protection::Cipher {
        entity.extend_from_slice(&hp_outer);
    }
    entity.extend_from_slice(b"\r\n");
    entity.extend_from_slice(parsed.body);
    Ok(SplitMessage {
        outer_fields: outer,
        entity,
    })
}

/// How a field appears on the outside: unchanged, obscured, or not at all.
fn outer_form(field: &mime::HeaderField<'_>, protection: Protection) -> Option<Vec<u8>> {
    if protection == Protection::Clear {
        return Some(field.raw.to_vec());
    }
    if field.is("subject") {
        return Some(format!("Subject: {OBSCURED_SUBJECT}\r\n").into_bytes());
    }
    if field.is("comments") || field.is("keywords") {
        return None;
    }
    Some(field.raw.to_vec())
}

/// Append `hp="clear"` or `hp="cipher"` to a Content-Type field (raw, CRLF-terminated).
fn with_hp_parameter(raw: &[u8], protection: Protection) -> Vec<u8> {
    let value = match protection {
        Protection::Clear => "clear",
        Protection::Cipher => "cipher",
    };
    let trimmed = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let mut out = trimmed.to_vec();
    out.extend_from_slice(format!(";\r\n hp=\"{value}\"\r\n").as_bytes());
    out
}

/// The protection an entity declares, if any: read its Content-Type `hp` parameter.
pub fn declared_protection(entity: &Entity<'_>) -> Option<Protection> {
    match entity.content_type().param("hp") {
        Some("clear") => Some(Protection::Clear),
        Some("cipher") => Some(Protection::Cipher),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"From: a@example.test\nTo: b@example.test\nSubject: secret plans\nKeywords: x\nMIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n";

    #[test]
    fn clear_protection_copies_fields_and_keeps_outer() {
        let split = split_protected(MESSAGE, Protection::Clear).unwrap();
        assert_eq!(
            split.outer_fields,
            b"From: a@example.test\r\nTo: b@example.test\r\nSubject: secret plans\r\nKeywords: x\r\n"
        );
        let inner = Entity::parse(&split.entity).unwrap();
        assert_eq!(inner.header("subject").as_deref(), Some("secret plans"));
        assert_eq!(declared_protection(&inner), Some(Protection::Clear));
        assert_eq!(inner.content_type().mime_type, "text/plain");
        assert!(inner.field("hp-outer").is_none());
        assert_eq!(inner.body, b"body\r\n");
    }

    #[test]
    fn cipher_protection_obscures_the_outside() {
        let split = split_protected(MESSAGE, Protection::Cipher).unwrap();
        let outer = String::from_utf8(split.outer_fields).unwrap();
        assert_eq!(
            outer,
            "From: a@example.test\r\nTo: b@example.test\r\nSubject: [...]\r\n"
        );
        let inner = Entity::parse(&split.entity).unwrap();
        assert_eq!(inner.header("subject").as_deref(), Some("secret plans"));
        assert_eq!(inner.header("keywords").as_deref(), Some("x"));
        assert_eq!(declared_protection(&inner), Some(Protection::Cipher));
        let hp_outer: Vec<String> = inner
            .fields
            .iter()
            .filter(|f| f.is("hp-outer"))
            .map(|f| f.value())
            .collect();
        assert_eq!(
            hp_outer,
            [
                "From: a@example.test",
                "To: b@example.test",
                "Subject: [...]"
            ]
        );
    }

    #[test]
    fn missing_content_type_gets_one_with_hp() {
        let split = split_protected(b"Subject: s\n\nhi\n", Protection::Clear).unwrap();
        let inner = Entity::parse(&split.entity).unwrap();
        assert_eq!(inner.content_type().param("hp"), Some("clear"));
        assert_eq!(inner.content_type().param("charset"), Some("utf-8"));
    }
}
