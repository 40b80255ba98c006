//! Building S/MIME entities: an entity made 7-bit safe before it is signed (RFC 8551 §3.1.2),
//! multipart/signed around content and signature, application/pkcs7-mime around CMS, and the
//! plain, formatted and attachment parts of a message the browser seals.

use std::borrow::Cow;

use super::encode::{encode_base64_lines, encode_quoted_printable, is_7bit_safe};
use super::parse::{ContentType, Entity, split_multipart};
use super::{MAX_NESTING, MimeError};

/// A boundary derived from the content's digest, so building needs no randomness and the
/// boundary cannot occur in the content (checked, with a counter as tie-breaker).
pub fn choose_boundary(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    // Deterministic (the same content gets the same boundary) without hashing megabytes: the
    // length and both ends are enough to tell messages apart, and collisions are checked below.
    const SAMPLE: usize = 64 * 1024;
    let mut hasher = Sha256::new();
    hasher.update((content.len() as u64).to_be_bytes());
    hasher.update(&content[..content.len().min(SAMPLE)]);
    hasher.update(&content[content.len().saturating_sub(SAMPLE)..]);
    let hash = hasher.finalize();
    let hex: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let mut counter = 0u32;
    loop {
        let candidate = format!("----=_smime_{hex}_{counter}");
        if !contains(content, candidate.as_bytes()) {
            return candidate;
        }
        counter += 1;
    }
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Build a clear-signed message (RFC 8551 §3.5.3). `entity` must be the exact canonical bytes
/// that were hashed; it is inserted unchanged.
pub fn build_multipart_signed(
    outer_fields: &[u8],
    entity: &[u8],
    signature_der: &[u8],
    micalg: &str,
) -> Vec<u8> {
    let boundary = choose_boundary(entity);
    let mut out = Vec::with_capacity(entity.len() + signature_der.len() * 2 + 512);
    out.extend_from_slice(outer_fields);
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={micalg};\r\n boundary=\"{boundary}\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(b"This is a cryptographically signed message in MIME format.\r\n\r\n");
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(entity);
    out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    out.extend_from_slice(
        b"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\
Content-Description: S/MIME Cryptographic Signature\r\n\r\n",
    );
    out.extend_from_slice(&encode_base64_lines(signature_der));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// One attachment for [`build_mixed`].
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// File name as the user sees it (any Unicode; control characters are dropped).
    pub name: &'a str,
    /// `type/subtype`; anything else becomes application/octet-stream.
    pub content_type: &'a str,
    pub data: &'a [u8],
}

/// Longest file name put in a header field: percent-encoding triples it, and the field must stay
/// under [`MAX_LINE`].
pub(super) const MAX_FILENAME_CHARS: usize = 120;

/// Build a bare MIME entity (Content-* fields, blank line, body; CRLF; 7-bit safe) for a message
/// composed in the browser: the text as text/plain; charset=utf-8 in quoted-printable (with
/// `html`, a multipart/alternative of that text and the HTML document), and each attachment in
/// base64 under multipart/mixed. Without attachments the entity is just the text part(s).
/// Deterministic (the boundary is derived from the content), so it needs no randomness.
/// `html` must already be clean: this only frames it.
pub fn build_mixed(text: &str, html: Option<&str>, attachments: &[Attachment<'_>]) -> Vec<u8> {
    let text_part = quoted_printable_part("text/plain", text);
    let body = match html {
        Some(html) => multipart(
            "alternative",
            &[text_part, quoted_printable_part("text/html", html)],
        ),
        None => text_part,
    };
    if attachments.is_empty() {
        return body;
    }
    let mut parts = vec![body];
    for attachment in attachments {
        let mut part = Vec::with_capacity(attachment.data.len() * 4 / 3 + 512);
        let (name_param, filename_param) = filename_parameters(attachment.name);
        part.extend_from_slice(
            format!(
                "Content-Type: {};\r\n {name_param}\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n {filename_param}\r\n\r\n",
                sanitize_content_type(attachment.content_type)
            )
            .as_bytes(),
        );
        part.extend_from_slice(&encode_base64_lines(attachment.data));
        parts.push(part);
    }
    multipart("mixed", &parts)
}

/// A text part in quoted-printable, UTF-8.
pub(super) fn quoted_printable_part(media_type: &str, text: &str) -> Vec<u8> {
    let mut part = Vec::with_capacity(text.len() + 128);
    part.extend_from_slice(
        format!("Content-Type: {media_type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
            .as_bytes(),
    );
    part.extend_from_slice(&encode_quoted_printable(text));
    part
}

/// A multipart entity of `subtype` around whole parts (their fields, blank line and body).
pub(super) fn multipart(subtype: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let boundary = choose_boundary(&parts.concat());
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 512);
    out.extend_from_slice(
        format!("Content-Type: multipart/{subtype};\r\n boundary=\"{boundary}\"\r\n\r\n")
            .as_bytes(),
    );
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(part);
        if !part.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// `type/subtype` made of RFC 2045 token characters, lower-cased; otherwise octet-stream.
pub(super) fn sanitize_content_type(value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match value.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) && !t.starts_with("multipart") => value,
        _ => "application/octet-stream".into(),
    }
}

/// The `name` (Content-Type) and `filename` (Content-Disposition) parameters: quoted strings for
/// ASCII names, RFC 2231 `*=utf-8''…` for the rest.
pub(super) fn filename_parameters(name: &str) -> (String, String) {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let cleaned = if cleaned.trim().is_empty() {
        "attachment".to_string()
    } else {
        cleaned
    };
    if cleaned.is_ascii() {
        let quoted = cleaned.replace('\\', "\\\\").replace('"', "\\\"");
        (
            format!("name=\"{quoted}\""),
            format!("filename=\"{quoted}\""),
        )
    } else {
        let mut encoded = String::new();
        for b in cleaned.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        (
            format!("name*=utf-8''{encoded}"),
            format!("filename*=utf-8''{encoded}"),
        )
    }
}

/// The `smime-type` parameter of application/pkcs7-mime (RFC 8551 §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmimeType {
    SignedData,
    EnvelopedData,
    AuthEnvelopedData,
}

impl SmimeType {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignedData => "signed-data",
            Self::EnvelopedData => "enveloped-data",
            Self::AuthEnvelopedData => "authEnveloped-data",
        }
    }
}

/// Build an application/pkcs7-mime message carrying a CMS object.
pub fn build_pkcs7_mime(outer_fields: &[u8], cms_der: &[u8], smime_type: SmimeType) -> Vec<u8> {
    let mut out = Vec::with_capacity(cms_der.len() * 4 / 3 + 512);
    out.extend_from_slice(outer_fields);
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(
        format!(
            "Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n",
            smime_type.as_str()
        )
        .as_bytes(),
    );
    out.extend_from_slice(
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
    );
    out.extend_from_slice(&encode_base64_lines(cms_der));
    out
}

/// The two S/MIME forms of signed mail (RFC 8551 §3.5): which to produce, and which was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignedFormat {
    /// multipart/signed: readable without S/MIME support.
    #[default]
    Clear,
    /// application/pkcs7-mime; smime-type=signed-data: survives gateways that rewrite MIME.
    Opaque,
}

/// Rewrite an entity (canonical CRLF) so every leaf is 7-bit safe: 8-bit or binary leaves are
/// re-encoded as base64. Signed content must survive any relay untouched (RFC 8551 §3.1.2), so
/// this runs before hashing. Entities that are already safe are returned as they came.
pub fn make_7bit_safe(entity: Vec<u8>) -> Result<Vec<u8>, MimeError> {
    match make_7bit_safe_at(&entity, 0)? {
        Cow::Borrowed(_) => Ok(entity),
        Cow::Owned(rewritten) => Ok(rewritten),
    }
}

pub(super) fn make_7bit_safe_at(entity: &[u8], depth: usize) -> Result<Cow<'_, [u8]>, MimeError> {
    if depth > MAX_NESTING {
        return Err(MimeError::TooDeep);
    }
    let parsed = Entity::parse(entity)?;
    let content_type = parsed.content_type();
    let encoding = parsed.transfer_encoding();
    if content_type.is_multipart() {
        return rebuild_multipart(entity, &parsed, &content_type, depth);
    }
    if is_7bit_safe(parsed.body) {
        return Ok(Cow::Borrowed(entity));
    }
    if encoding == "base64" || encoding == "quoted-printable" {
        return Err(MimeError::EightBitInEncodedBody(encoding));
    }
    if content_type.is("message/rfc822") {
        return Err(MimeError::EightBitMessagePart);
    }
    let mut out = Vec::with_capacity(parsed.body.len() * 4 / 3 + 256);
    for field in parsed
        .fields
        .iter()
        .filter(|f| !f.is("content-transfer-encoding"))
    {
        out.extend_from_slice(field.raw);
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out.extend_from_slice(&encode_base64_lines(parsed.body));
    Ok(Cow::Owned(out))
}

pub(super) fn rebuild_multipart<'a>(
    entity: &'a [u8],
    parsed: &Entity<'a>,
    content_type: &ContentType,
    depth: usize,
) -> Result<Cow<'a, [u8]>, MimeError> {
    let boundary = content_type
        .param("boundary")
        .ok_or(MimeError::MissingBoundary)?;
    let parts = split_multipart(parsed.body, boundary)?;
    let mut changed = false;
    let mut new_parts = Vec::with_capacity(parts.len());
    for part in &parts {
        let safe = make_7bit_safe_at(part, depth + 1)?;
        changed |= matches!(safe, Cow::Owned(_));
        new_parts.push(safe);
    }
    // The preamble and epilogue are not shown to users; keep them only if nothing had to change.
    // The parts were checked above, so only what lies between them is left to check.
    if !changed && between_parts(parsed.body, &parts).all(is_7bit_safe) {
        return Ok(Cow::Borrowed(entity));
    }
    let mut out = Vec::new();
    for field in &parsed.fields {
        out.extend_from_slice(field.raw);
    }
    out.extend_from_slice(b"\r\n");
    for part in new_parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(&part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Cow::Owned(out))
}

/// The stretches of `body` outside `parts` (preamble, delimiter lines, epilogue); `parts` are
/// ordered, non-overlapping slices of `body`, as [`split_multipart`] returns them.
pub(super) fn between_parts<'a>(
    body: &'a [u8],
    parts: &[&'a [u8]],
) -> impl Iterator<Item = &'a [u8]> {
    let base = body.as_ptr() as usize;
    let mut bounds: Vec<(usize, usize)> = parts
        .iter()
        .map(|p| {
            let start = p.as_ptr() as usize - base;
            (start, start + p.len())
        })
        .collect();
    bounds.push((body.len(), body.len()));
    let mut previous_end = 0;
    bounds.into_iter().map(move |(start, end)| {
        let gap = body.get(previous_end..start).unwrap_or_default();
        previous_end = end;
        gap
    })
}
