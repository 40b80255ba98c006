//! Reading MIME: header fields and their continuations, entities, Content-Type and its
//! parameters, multipart bodies split at their boundaries (keeping each part's exact bytes), a
//! message split into transport fields and entity, and what kind of S/MIME an entity is.

use super::MimeError;
use super::encode::{canonicalize, decode_base64, ensure_crlf_end, lines};

/// A header field as it appears in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// Field name as written.
    pub name: &'a [u8],
    /// The complete field including folded continuation lines and its final line ending.
    pub raw: &'a [u8],
}

impl HeaderField<'_> {
    /// The value with folding removed and surrounding whitespace trimmed.
    pub fn value(&self) -> String {
        let colon = self.name.len() + 1;
        let rest = self.raw.get(colon..).unwrap_or_default();
        let unfolded: Vec<u8> = rest
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        String::from_utf8_lossy(&unfolded).trim().to_string()
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// An entity split into its header fields and body, borrowing the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity<'a> {
    pub fields: Vec<HeaderField<'a>>,
    /// Everything after the empty line that ends the header section.
    pub body: &'a [u8],
}

impl<'a> Entity<'a> {
    /// Split an entity. An input without an empty line is all header; one that starts with an
    /// empty line has no header fields.
    pub fn parse(input: &'a [u8]) -> Result<Self, MimeError> {
        let mut fields: Vec<HeaderField<'a>> = Vec::new();
        let mut field_start: Option<(usize, usize)> = None; // (start, name end)
        let mut body_start = input.len();
        for (index, line) in lines(input).enumerate() {
            let text = &input[line.start..line.end];
            let is_continuation = matches!(text.first(), Some(b' ' | b'\t'));
            // Any line but a continuation ends the field before it.
            if !is_continuation && let Some((start, name_end)) = field_start.take() {
                fields.push(HeaderField {
                    name: &input[start..name_end],
                    raw: &input[start..line.start],
                });
            }
            if text.is_empty() {
                body_start = line.next;
                break;
            }
            if is_continuation {
                if field_start.is_none() {
                    return Err(MimeError::MalformedHeader(index + 1));
                }
                continue;
            }
            let colon = text
                .iter()
                .position(|&b| b == b':')
                .ok_or(MimeError::MalformedHeader(index + 1))?;
            let name = &text[..colon];
            let valid_name = !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic());
            if !valid_name {
                return Err(MimeError::MalformedHeader(index + 1));
            }
            field_start = Some((line.start, line.start + colon));
        }
        if let Some((start, name_end)) = field_start {
            let end = body_start.min(input.len());
            fields.push(HeaderField {
                name: &input[start..name_end],
                raw: &input[start..end],
            });
        }
        Ok(Self {
            fields,
            body: &input[body_start..],
        })
    }

    /// The first field with this name (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&HeaderField<'a>> {
        self.fields.iter().find(|f| f.is(name))
    }

    /// The unfolded value of the first field with this name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.field(name).map(HeaderField::value)
    }

    /// Every address of every From field, lower-cased; `None` when there is no From field.
    /// All fields count, not the first: a reader may show another one, so a second From field
    /// is a second sender.
    pub fn from_addresses(&self) -> Option<Vec<String>> {
        let mut fields = self.fields.iter().filter(|f| f.is("from")).peekable();
        fields.peek()?;
        Some(fields.flat_map(|f| addresses(&f.value())).collect())
    }

    /// The Content-Type, defaulting to text/plain as RFC 2045 §5.2 says.
    pub fn content_type(&self) -> ContentType {
        self.header("content-type")
            .map(|v| ContentType::parse(&v))
            .unwrap_or_else(|| ContentType::parse("text/plain; charset=us-ascii"))
    }

    /// The Content-Transfer-Encoding, lower-cased, defaulting to 7bit.
    pub fn transfer_encoding(&self) -> String {
        self.header("content-transfer-encoding")
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".into())
    }

    /// The body with its transfer encoding undone (base64 decoded; other encodings as is).
    pub fn decoded_body(&self) -> Result<Vec<u8>, MimeError> {
        match self.transfer_encoding().as_str() {
            "base64" => decode_base64(self.body),
            _ => Ok(self.body.to_vec()),
        }
    }
}

/// A parsed Content-Type value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lower-cased.
    pub mime_type: String,
    /// Parameters with lower-cased names, values unquoted.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parse leniently: a malformed parameter is skipped rather than failing the whole message.
    pub fn parse(value: &str) -> Self {
        let mut pieces = split_unquoted(value, ';').into_iter();
        let mime_type = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let params = pieces
            .filter_map(|p| {
                let (name, val) = p.split_once('=')?;
                Some((name.trim().to_ascii_lowercase(), unquote(val.trim())))
            })
            .collect();
        Self { mime_type, params }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is(&self, mime_type: &str) -> bool {
        self.mime_type == mime_type
    }

    pub fn is_multipart(&self) -> bool {
        self.mime_type.starts_with("multipart/")
    }
}

/// Split at `sep` outside double quotes.
pub(super) fn split_unquoted(value: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

pub(super) fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// The body parts of a multipart entity, exactly as they appear in the input.
///
/// A part runs from just after its delimiter line to just before the line ending that precedes
/// the next delimiter (RFC 2046 §5.1.1: that line ending belongs to the delimiter). A missing
/// close delimiter ends the last part at the end of the body, as mail clients do.
pub fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, MimeError> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut prev_end = 0usize;
    for line in lines(body) {
        let text = &body[line.start..line.end];
        if let Some(kind) = delimiter_kind(text, delimiter.as_bytes()) {
            if let Some(start) = part_start {
                parts.push(&body[start..prev_end.max(start)]);
            }
            if kind == Delimiter::Close {
                return if parts.is_empty() {
                    Err(MimeError::NoParts)
                } else {
                    Ok(parts)
                };
            }
            part_start = Some(line.next);
        }
        prev_end = line.end;
    }
    if let Some(start) = part_start {
        let rest = body.get(start..).unwrap_or_default();
        parts.push(strip_line_ending(rest));
    }
    if parts.is_empty() {
        Err(MimeError::NoParts)
    } else {
        Ok(parts)
    }
}

/// Drop one final CRLF or LF.
pub(super) fn strip_line_ending(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delimiter {
    Part,
    Close,
}

/// Is this line a delimiter (`--boundary` plus optional transport padding) or the close delimiter?
pub(super) fn delimiter_kind(line: &[u8], delimiter: &[u8]) -> Option<Delimiter> {
    let rest = line.strip_prefix(delimiter)?;
    let (kind, padding) = match rest.strip_prefix(b"--") {
        Some(after) => (Delimiter::Close, after),
        None => (Delimiter::Part, rest),
    };
    padding
        .iter()
        .all(|&b| b == b' ' || b == b'\t')
        .then_some(kind)
}

/// A message split into the fields that describe the transport (From, To, Subject, …), which
/// stay outside the S/MIME wrapper, and the MIME entity (Content-* fields and body), which is
/// what gets signed or encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMessage {
    /// Outer header fields, CRLF-terminated, without MIME-Version and Content-* fields.
    pub outer_fields: Vec<u8>,
    /// The entity to protect, in canonical CRLF form.
    pub entity: Vec<u8>,
}

/// Split a message (or a bare entity) for wrapping. A missing Content-Type is made explicit so
/// that the protected entity says what it is.
pub fn split_message(message: &[u8]) -> Result<SplitMessage, MimeError> {
    let canonical = canonicalize(message);
    let parsed = Entity::parse(&canonical)?;
    let mut outer = Vec::new();
    let mut entity = Vec::new();
    for field in &parsed.fields {
        let lower = field.name.to_ascii_lowercase();
        if lower.starts_with(b"content-") {
            entity.extend_from_slice(field.raw);
        } else if lower != b"mime-version" {
            outer.extend_from_slice(field.raw);
        }
    }
    if parsed.field("content-type").is_none() {
        entity.splice(
            0..0,
            b"Content-Type: text/plain; charset=utf-8\r\n"
                .iter()
                .copied(),
        );
    }
    entity.extend_from_slice(b"\r\n");
    entity.extend_from_slice(parsed.body);
    Ok(SplitMessage {
        outer_fields: ensure_crlf_end(outer),
        entity,
    })
}

/// What an incoming message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmimeContent {
    /// multipart/signed: the signed entity in canonical form, and the detached signature (BER).
    ClearSigned {
        signed_content: Vec<u8>,
        signature: Vec<u8>,
    },
    /// application/pkcs7-mime (or x-pkcs7-mime): the CMS object (BER).
    Opaque { cms: Vec<u8> },
    /// Neither: no S/MIME at the top level.
    NotSmime,
}

pub(super) fn is_pkcs7_mime(content_type: &ContentType) -> bool {
    let is_name = |n: &str| n.to_ascii_lowercase().ends_with(".p7m");
    content_type.is("application/pkcs7-mime")
        || content_type.is("application/x-pkcs7-mime")
        // Some clients label the opaque blob as octet-stream with a .p7m name.
        || (content_type.is("application/octet-stream") && content_type.param("name").is_some_and(is_name))
}

pub(super) fn is_pkcs7_signature(content_type: &ContentType) -> bool {
    content_type.is("application/pkcs7-signature")
        || content_type.is("application/x-pkcs7-signature")
}

/// The CMS bytes of a signature or pkcs7-mime part. Senders that omit Content-Transfer-Encoding
/// almost always mean base64; binary DER is recognised because it is not base64 text.
pub(super) fn decode_cms_body(entity: &Entity<'_>) -> Result<Vec<u8>, MimeError> {
    let looks_base64 = || {
        entity.body.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
        })
    };
    if entity.field("content-transfer-encoding").is_none() && looks_base64() {
        return decode_base64(entity.body);
    }
    entity.decoded_body()
}

/// Find the S/MIME structure of a message (or entity).
pub fn parse_smime(message: &[u8]) -> Result<SmimeContent, MimeError> {
    let parsed = Entity::parse(message)?;
    let content_type = parsed.content_type();
    if content_type.is("multipart/signed") {
        let boundary = content_type
            .param("boundary")
            .ok_or(MimeError::MissingBoundary)?;
        let parts = split_multipart(parsed.body, boundary)?;
        let [content, signature] = parts.as_slice() else {
            return Err(MimeError::SignedPartCount(parts.len()));
        };
        let signature_part = Entity::parse(signature)?;
        let signature_type = signature_part.content_type();
        if !is_pkcs7_signature(&signature_type) {
            return Err(MimeError::UnexpectedSignatureType(signature_type.mime_type));
        }
        return Ok(SmimeContent::ClearSigned {
            signed_content: canonicalize(content),
            signature: decode_cms_body(&signature_part)?,
        });
    }
    if is_pkcs7_mime(&content_type) {
        return Ok(SmimeContent::Opaque {
            cms: decode_cms_body(&parsed)?,
        });
    }
    Ok(SmimeContent::NotSmime)
}

/// The addr-specs of an address-list header value, lower-cased (`"A" <a@x>, b@y` → a@x, b@y).
pub fn addresses(value: &str) -> Vec<String> {
    split_unquoted(value, ',')
        .iter()
        .filter_map(|mailbox| {
            let addr = match (mailbox.rfind('<'), mailbox.rfind('>')) {
                (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
                _ => mailbox.as_str(),
            };
            let addr = addr.trim();
            addr.contains('@').then(|| addr.to_ascii_lowercase())
        })
        .collect()
}
