//! MIME for S/MIME: canonical form, header/body splitting, multipart splitting, and building the
//! `multipart/signed` and `application/pkcs7-mime` entities of RFC 8551.
//!
//! This is deliberately a small parser of our own rather than a general mail parser: signature
//! verification needs the *exact* bytes of the first part of a multipart/signed, and building needs
//! byte-for-byte control of what is signed. Every function works on the raw bytes and reports
//! offsets into them, never re-serialising what it was given.
//!
//! Line endings: input may use CRLF or bare LF (a message saved by a Unix tool). Parsing accepts
//! both; everything we produce uses CRLF, and content is converted to CRLF before it is hashed, as
//! RFC 8551 §3.1.1 requires for the canonical form.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use thiserror::Error;

/// Longest line RFC 5322 allows, without its CRLF.
pub const MAX_LINE: usize = 998;
/// Base64 line length we emit (RFC 2045 §6.8 allows at most 76).
pub const BASE64_LINE: usize = 76;
/// Deepest multipart nesting we follow when making an entity 7-bit safe.
const MAX_NESTING: usize = 32;

/// Why a MIME entity was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MimeError {
    #[error("header line {0} is neither a field nor a continuation")]
    MalformedHeader(usize),
    #[error("multipart entity has no boundary parameter")]
    MissingBoundary,
    #[error("multipart body has no part delimited by its boundary")]
    NoParts,
    #[error("multipart/signed must have exactly two parts, found {0}")]
    SignedPartCount(usize),
    #[error("signature part has type {0}, expected application/pkcs7-signature")]
    UnexpectedSignatureType(String),
    #[error("invalid base64 content")]
    Base64,
    #[error("body declared {0} but holds 8-bit data")]
    EightBitInEncodedBody(String),
    #[error("multipart nesting deeper than {MAX_NESTING} levels")]
    TooDeep,
    #[error("8-bit data inside a message/rfc822 part cannot be made 7-bit safe")]
    EightBitMessagePart,
}

/// Convert every bare LF to CRLF. CRLF pairs are kept as they are.
pub fn canonicalize(input: &[u8]) -> Vec<u8> {
    // Copy the runs between line feeds whole: input that is already canonical (what we build
    // ourselves) costs one copy, not a push per byte.
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut copied = 0;
    for lf in memchr::memchr_iter(b'\n', input) {
        if lf == 0 || input[lf - 1] != b'\r' {
            out.extend_from_slice(&input[copied..lf]);
            out.push(b'\r');
            copied = lf;
        }
    }
    out.extend_from_slice(&input[copied..]);
    out
}

/// One line of input: where its text starts and ends and where the next line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    /// End of the text, before CRLF or LF.
    end: usize,
    /// Start of the next line (after the line ending).
    next: usize,
}

/// Iterate the lines of `input`, accepting CRLF or LF endings. The last line may have none.
fn lines(input: &[u8]) -> impl Iterator<Item = Line> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= input.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match memchr::memchr(b'\n', &input[start..]) {
            Some(i) => {
                let lf = start + i;
                let end = if lf > start && input[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                (end, lf + 1)
            }
            None => (input.len(), input.len()),
        };
        pos = next;
        Some(Line { start, end, next })
    })
}

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
fn split_unquoted(value: &str, sep: char) -> Vec<String> {
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

fn unquote(value: &str) -> String {
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
fn strip_line_ending(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delimiter {
    Part,
    Close,
}

/// Is this line a delimiter (`--boundary` plus optional transport padding) or the close delimiter?
fn delimiter_kind(line: &[u8], delimiter: &[u8]) -> Option<Delimiter> {
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

/// Decode base64 with any line length and any whitespace; missing final padding is tolerated.
pub fn decode_base64(input: &[u8]) -> Result<Vec<u8>, MimeError> {
    // Lines are gathered into a small buffer that stays in cache and decoded a block at a time
    // (a multiple of four characters); only a line with whitespace inside is filtered byte by
    // byte.
    const BLOCK: usize = 16 * 1024;
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut pending: Vec<u8> = Vec::with_capacity(BLOCK + 1024);
    let mut decode = |pending: &mut Vec<u8>, last: bool| -> Result<(), MimeError> {
        let take = if last {
            match pending.len() % 4 {
                0 => {}
                2 => pending.extend_from_slice(b"=="),
                3 => pending.push(b'='),
                _ => return Err(MimeError::Base64),
            }
            pending.len()
        } else {
            pending.len() / 4 * 4
        };
        let start = out.len();
        out.resize(start + take / 4 * 3, 0);
        let written = BASE64
            .decode_slice(&pending[..take], &mut out[start..])
            .map_err(|_| MimeError::Base64)?;
        out.truncate(start + written);
        pending.drain(..take);
        Ok(())
    };
    for line in lines(input) {
        let text = &input[line.start..line.end];
        if text.iter().any(|b| b.is_ascii_whitespace()) {
            pending.extend(text.iter().filter(|b| !b.is_ascii_whitespace()));
        } else {
            pending.extend_from_slice(text);
        }
        if pending.len() >= BLOCK {
            decode(&mut pending, false)?;
        }
    }
    decode(&mut pending, true)?;
    Ok(out)
}

/// An unstructured header value (a Subject) as it may appear in a header: as is when it is
/// printable ASCII, else RFC 2047 encoded-words (UTF-8, base64), folded so no line is too long.
pub fn encode_header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    // 45 bytes of UTF-8 make 60 base64 characters: with "=?UTF-8?B?" and "?=" a word stays
    // within the 75 characters RFC 2047 allows. Words break between characters, never inside one.
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + 45).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            BASE64.encode(&text.as_bytes()[start..end])
        ));
        start = end;
    }
    words.join("\r\n ")
}

/// Base64 in lines of [`BASE64_LINE`] characters, each ending in CRLF.
pub fn encode_base64_lines(data: &[u8]) -> Vec<u8> {
    // 57 bytes make one 76-character line; encode many lines' worth at a time into a buffer that
    // stays in cache, then copy it out line by line.
    const LINE_BYTES: usize = BASE64_LINE / 4 * 3;
    const LINES_PER_BLOCK: usize = 64;
    let lines = data.len().div_ceil(LINE_BYTES);
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4 + lines * 2);
    let mut block = [0u8; BASE64_LINE * LINES_PER_BLOCK];
    for chunk in data.chunks(LINE_BYTES * LINES_PER_BLOCK) {
        // The block holds the encoding of a whole chunk, so the fallback is never taken.
        let encoded = match BASE64.encode_slice(chunk, &mut block) {
            Ok(written) => Cow::Borrowed(&block[..written]),
            Err(_) => Cow::Owned(BASE64.encode(chunk).into_bytes()),
        };
        for line in encoded.chunks(BASE64_LINE) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
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

fn ensure_crlf_end(mut bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.is_empty() && !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// Does this body need no transfer encoding to cross a 7-bit transport unchanged? Written as
/// whole-body scans (a branch-free fold the compiler vectorises, and memchr) because it runs over
/// every attachment of every message signed.
fn is_7bit_safe(body: &[u8]) -> bool {
    let bytes_ok = body
        .chunks(4096)
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & (b != 0) & (b < 0x80)));
    // A CR only as part of CRLF.
    let no_bare_cr = || memchr::memchr_iter(b'\r', body).all(|i| body.get(i + 1) == Some(&b'\n'));
    let short_lines = || {
        let mut start = 0;
        let all_short = memchr::memchr_iter(b'\n', body).all(|lf| {
            let end = if lf > start && body[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            let short = end - start <= MAX_LINE;
            start = lf + 1;
            short
        });
        all_short && body.len().saturating_sub(start) <= MAX_LINE
    };
    bytes_ok && no_bare_cr() && short_lines()
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

fn make_7bit_safe_at(entity: &[u8], depth: usize) -> Result<Cow<'_, [u8]>, MimeError> {
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

fn rebuild_multipart<'a>(
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
fn between_parts<'a>(body: &'a [u8], parts: &[&'a [u8]]) -> impl Iterator<Item = &'a [u8]> {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
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
const MAX_FILENAME_CHARS: usize = 120;

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
fn quoted_printable_part(media_type: &str, text: &str) -> Vec<u8> {
    let mut part = Vec::with_capacity(text.len() + 128);
    part.extend_from_slice(
        format!("Content-Type: {media_type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
            .as_bytes(),
    );
    part.extend_from_slice(&encode_quoted_printable(text));
    part
}

/// A multipart entity of `subtype` around whole parts (their fields, blank line and body).
fn multipart(subtype: &str, parts: &[Vec<u8>]) -> Vec<u8> {
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
fn sanitize_content_type(value: &str) -> String {
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
fn filename_parameters(name: &str) -> (String, String) {
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

/// Quoted-printable (RFC 2045 §6.7) of UTF-8 text, line breaks normalised to CRLF, lines at most
/// 76 characters. Leading "From " and "." are encoded too, so no relay mangles signed text.
pub fn encode_quoted_printable(text: &str) -> Vec<u8> {
    const LIMIT: usize = 76;
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    // The last line break is the one every line gets below.
    let normalized = normalized.strip_suffix('\n').unwrap_or(&normalized);
    let mut out = Vec::with_capacity(normalized.len() * 11 / 10 + 16);
    for line in normalized.split('\n') {
        let bytes = line.as_bytes();
        let mut width = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let at_start = i == 0;
            let literal = match b {
                b'=' => false,
                b' ' | b'\t' => !last,
                b'.' | b'F' if at_start => false,
                0x21..=0x7e => true,
                _ => false,
            };
            let len = if literal { 1 } else { 3 };
            // Leave room for the soft break "=" (and the character after it on the last char).
            let room = if last { LIMIT } else { LIMIT - 1 };
            if width + len > room {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            width += len;
        }
        out.extend_from_slice(b"\r\n");
    }
    out
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

fn is_pkcs7_mime(content_type: &ContentType) -> bool {
    let is_name = |n: &str| n.to_ascii_lowercase().ends_with(".p7m");
    content_type.is("application/pkcs7-mime")
        || content_type.is("application/x-pkcs7-mime")
        // Some clients label the opaque blob as octet-stream with a .p7m name.
        || (content_type.is("application/octet-stream") && content_type.param("name").is_some_and(is_name))
}

fn is_pkcs7_signature(content_type: &ContentType) -> bool {
    content_type.is("application/pkcs7-signature")
        || content_type.is("application/x-pkcs7-signature")
}

/// The CMS bytes of a signature or pkcs7-mime part. Senders that omit Content-Transfer-Encoding
/// almost always mean base64; binary DER is recognised because it is not base64 text.
fn decode_cms_body(entity: &Entity<'_>) -> Result<Vec<u8>, MimeError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_is_7bit_with_short_lines() {
        let text = format!("a=b tail \nFrom me\n.\n{}ü\n", "x".repeat(200));
        let qp = encode_quoted_printable(&text);
        assert!(is_7bit_safe(&qp));
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        let s = String::from_utf8(qp).unwrap();
        assert!(
            s.starts_with("a=3Db tail=20\r\n=46rom me\r\n=2E\r\nxxx"),
            "{s}"
        );
        assert!(s.ends_with("=C3=BC\r\n"), "{s}");
    }

    #[test]
    fn formatted_text_goes_out_as_an_alternative_beside_attachments() {
        let html = "<!DOCTYPE html>\n<html><body><b>Gr\u{fc}\u{df}e</b></body></html>\n";
        let built = build_mixed(
            "Gr\u{fc}\u{df}e",
            Some(html),
            &[Attachment {
                name: "a.txt",
                content_type: "text/plain",
                data: b"x",
            }],
        );
        assert_eq!(make_7bit_safe(built.clone()).unwrap(), built);
        let mixed = Entity::parse(&built).unwrap();
        assert!(mixed.content_type().is("multipart/mixed"));
        let outer = mixed.content_type().param("boundary").unwrap().to_string();
        let parts = split_multipart(mixed.body, &outer).unwrap();
        assert_eq!(parts.len(), 2);
        let alternative = Entity::parse(parts[0]).unwrap();
        assert!(alternative.content_type().is("multipart/alternative"));
        let inner = alternative
            .content_type()
            .param("boundary")
            .unwrap()
            .to_string();
        assert_ne!(inner, outer);
        let texts = split_multipart(alternative.body, &inner).unwrap();
        let plain = Entity::parse(texts[0]).unwrap();
        let rich = Entity::parse(texts[1]).unwrap();
        assert!(plain.content_type().is("text/plain"));
        assert_eq!(plain.transfer_encoding(), "quoted-printable");
        assert_eq!(plain.body, b"Gr=C3=BC=C3=9Fe");
        assert!(rich.content_type().is("text/html"));
        assert!(
            String::from_utf8_lossy(rich.body).contains("<b>Gr=C3=BC=C3=9Fe</b>"),
            "{}",
            String::from_utf8_lossy(rich.body)
        );
    }

    #[test]
    fn build_mixed_is_a_safe_multipart() {
        let plain = build_mixed("hi", None, &[]);
        assert!(plain.starts_with(b"Content-Type: text/plain; charset=utf-8\r\n"));
        let data = [0u8, 1, 2, 255];
        let built = build_mixed(
            "hi",
            None,
            &[
                Attachment {
                    name: "a \"b\".bin",
                    content_type: "Application/X-Thing",
                    data: &data,
                },
                Attachment {
                    name: "März.txt",
                    content_type: "bad type",
                    data: &data,
                },
            ],
        );
        assert_eq!(make_7bit_safe(built.clone()).unwrap(), built);
        let entity = Entity::parse(&built).unwrap();
        let boundary = entity.content_type().param("boundary").unwrap().to_string();
        let parts = split_multipart(entity.body, &boundary).unwrap();
        assert_eq!(parts.len(), 3);
        let first = Entity::parse(parts[1]).unwrap();
        assert_eq!(first.decoded_body().unwrap(), data);
        assert!(
            first
                .header("content-type")
                .unwrap()
                .contains("application/x-thing")
        );
        assert!(
            first
                .header("content-disposition")
                .unwrap()
                .contains(r#"filename="a \"b\".bin""#)
        );
        let second = Entity::parse(parts[2]).unwrap();
        assert!(
            second
                .header("content-type")
                .unwrap()
                .starts_with("application/octet-stream")
        );
        assert!(
            second
                .header("content-disposition")
                .unwrap()
                .contains("filename*=utf-8''M%C3%A4rz.txt")
        );
    }

    #[test]
    fn canonicalize_converts_bare_lf_only() {
        assert_eq!(canonicalize(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonicalize(b"\n\n"), b"\r\n\r\n");
        assert_eq!(canonicalize(b""), b"");
    }

    #[test]
    fn entity_parse_with_folding_and_lf() {
        let msg = b"Subject: hello\n  world\nContent-Type: text/plain;\n\tcharset=utf-8\n\nbody\n";
        let e = Entity::parse(msg).unwrap();
        assert_eq!(e.fields.len(), 2);
        assert_eq!(e.header("subject").unwrap(), "hello  world");
        assert_eq!(e.content_type().param("charset"), Some("utf-8"));
        assert_eq!(e.body, b"body\n");
        assert_eq!(e.fields[0].raw, b"Subject: hello\n  world\n");
    }

    #[test]
    fn entity_without_body_or_headers() {
        let e = Entity::parse(b"X: y\r\n").unwrap();
        assert_eq!(e.fields.len(), 1);
        assert_eq!(e.body, b"");
        let e = Entity::parse(b"\r\nbody").unwrap();
        assert!(e.fields.is_empty());
        assert_eq!(e.body, b"body");
        assert_eq!(
            Entity::parse(b" cont\r\n\r\n"),
            Err(MimeError::MalformedHeader(1))
        );
        assert_eq!(
            Entity::parse(b"no colon\r\n\r\n"),
            Err(MimeError::MalformedHeader(1))
        );
    }

    #[test]
    fn content_type_parameters() {
        let ct = ContentType::parse(
            "Multipart/Signed; protocol=\"application/pkcs7-signature\"; micalg=SHA-256; boundary=\"a;b=\\\"c\\\"\"",
        );
        assert_eq!(ct.mime_type, "multipart/signed");
        assert_eq!(ct.param("micalg"), Some("SHA-256"));
        assert_eq!(ct.param("boundary"), Some("a;b=\"c\""));
        assert_eq!(ct.param("protocol"), Some("application/pkcs7-signature"));
    }

    #[test]
    fn multipart_split_is_exact() {
        let body =
            b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b \r\n\r\ntwo\r\n\r\n--b--\r\nepilogue";
        let parts = split_multipart(body, "b").unwrap();
        assert_eq!(parts, vec![&b"A: 1\r\n\r\none"[..], &b"\r\ntwo\r\n"[..]]);
        // LF endings work the same; a longer boundary with the same prefix is not a delimiter.
        let body = b"--b\nx\n--bb\ny\n--b--\n";
        assert_eq!(
            split_multipart(body, "b").unwrap(),
            vec![&b"x\n--bb\ny"[..]]
        );
        // Missing close delimiter: the last part runs to the end.
        assert_eq!(
            split_multipart(b"--b\r\nx\r\n", "b").unwrap(),
            vec![&b"x"[..]]
        );
        assert_eq!(split_multipart(b"nothing", "b"), Err(MimeError::NoParts));
    }

    #[test]
    fn base64_round_trip_and_leniency() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let enc = encode_base64_lines(&data);
        assert!(
            enc.split(|&b| b == b'\n')
                .all(|l| l.len() <= BASE64_LINE + 1)
        );
        assert_eq!(decode_base64(&enc).unwrap(), data);
        // One long line, LF endings, missing padding.
        assert_eq!(decode_base64(b"aGVsbG8\n").unwrap(), b"hello");
        assert_eq!(decode_base64(b"a"), Err(MimeError::Base64));
        assert_eq!(decode_base64(b"a$==").map_err(|_| ()), Err(()));
    }

    #[test]
    fn split_message_separates_transport_fields() {
        let msg = b"From: a@example.test\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n";
        let split = split_message(msg).unwrap();
        assert_eq!(
            split.outer_fields,
            b"From: a@example.test\r\nSubject: s\r\n"
        );
        assert_eq!(split.entity, b"Content-Type: text/plain\r\n\r\nhi\r\n");
        let bare = split_message(b"Subject: s\n\nhi").unwrap();
        assert_eq!(
            bare.entity,
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nhi"
        );
    }

    #[test]
    fn eight_bit_leaves_become_base64() {
        let entity = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ngrüße\r\n--x\r\nContent-Type: text/plain\r\n\r\nascii\r\n--x--\r\n";
        let safe = make_7bit_safe(entity.as_bytes().to_vec()).unwrap();
        assert!(is_7bit_safe(&safe));
        let parsed = Entity::parse(&safe).unwrap();
        let parts = split_multipart(parsed.body, "x").unwrap();
        let first = Entity::parse(parts[0]).unwrap();
        assert_eq!(first.transfer_encoding(), "base64");
        assert_eq!(first.decoded_body().unwrap(), "grüße".as_bytes());
        assert_eq!(parts[1], b"Content-Type: text/plain\r\n\r\nascii");
        // Already safe: unchanged, preamble and all.
        let safe_input =
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n--x\r\n\r\na\r\n--x--\r\n";
        assert_eq!(make_7bit_safe(safe_input.to_vec()).unwrap(), safe_input);
    }

    #[test]
    fn header_text_is_encoded_only_when_it_must_be() {
        assert_eq!(encode_header_text("Plain subject"), "Plain subject");
        let long = "Grüße aus Köln, und noch viel mehr Text, der nicht in ein Wort passt";
        let encoded = encode_header_text(long);
        assert!(encoded.starts_with("=?UTF-8?B?"));
        assert!(
            encoded
                .split("\r\n ")
                .all(|w| w.len() <= 75 && w.ends_with("?="))
        );
        let decoded: Vec<u8> = encoded
            .split("\r\n ")
            .flat_map(|w| decode_base64(&w.as_bytes()[10..w.len() - 2]).unwrap())
            .collect();
        assert_eq!(String::from_utf8(decoded).unwrap(), long);
    }

    #[test]
    fn seven_bit_checks_bytes_bare_cr_and_line_length() {
        let line = |n| vec![b'a'; n];
        assert!(is_7bit_safe(b""));
        assert!(is_7bit_safe(
            &[line(MAX_LINE), b"\r\n".to_vec(), line(MAX_LINE)].concat()
        ));
        assert!(!is_7bit_safe(
            &[line(MAX_LINE + 1), b"\r\n".to_vec()].concat()
        ));
        assert!(!is_7bit_safe(
            &[b"ok\r\n".to_vec(), line(MAX_LINE + 1)].concat()
        ));
        assert!(!is_7bit_safe(b"a\rb\r\n"));
        assert!(!is_7bit_safe(b"ab\r"));
        assert!(!is_7bit_safe(b"a\0b\r\n"));
        assert!(!is_7bit_safe("grüße\r\n".as_bytes()));
    }

    #[test]
    fn an_eight_bit_preamble_makes_the_multipart_rebuilt() {
        let entity = "Content-Type: multipart/mixed; boundary=x\r\n\r\npréambule\r\n--x\r\n\r\na\r\n--x--\r\n";
        let safe = make_7bit_safe(entity.as_bytes().to_vec()).unwrap();
        assert!(is_7bit_safe(&safe));
        assert_eq!(
            safe,
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--\r\n"
        );
    }

    #[test]
    fn long_lines_are_not_7bit_safe() {
        let mut entity = b"Content-Type: text/plain\r\n\r\n".to_vec();
        entity.extend(std::iter::repeat_n(b'a', 1200));
        let safe = make_7bit_safe(entity.clone()).unwrap();
        assert!(Entity::parse(&safe).unwrap().transfer_encoding() == "base64");
    }

    #[test]
    fn built_multipart_signed_parses_back() {
        let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n";
        let msg = build_multipart_signed(b"Subject: x\r\n", entity, b"\x30\x00", "sha-256");
        match parse_smime(&msg).unwrap() {
            SmimeContent::ClearSigned {
                signed_content,
                signature,
            } => {
                assert_eq!(signed_content, entity);
                assert_eq!(signature, b"\x30\x00");
            }
            other => panic!("unexpected {other:?}"),
        }
        let top = Entity::parse(&msg).unwrap();
        assert_eq!(top.content_type().param("micalg"), Some("sha-256"));
    }

    #[test]
    fn built_pkcs7_mime_parses_back() {
        let msg = build_pkcs7_mime(b"", b"\x30\x03\x02\x01\x00", SmimeType::EnvelopedData);
        assert_eq!(
            parse_smime(&msg).unwrap(),
            SmimeContent::Opaque {
                cms: b"\x30\x03\x02\x01\x00".to_vec()
            }
        );
        assert!(
            std::str::from_utf8(&msg)
                .unwrap()
                .contains("smime-type=enveloped-data")
        );
    }

    #[test]
    fn x_pkcs7_types_are_recognised() {
        let msg = b"Content-Type: application/x-pkcs7-mime\n\nMAA=\n";
        assert_eq!(
            parse_smime(msg).unwrap(),
            SmimeContent::Opaque { cms: vec![0x30, 0] }
        );
        let signed = b"Content-Type: multipart/signed; boundary=q\n\n--q\nA: b\n\nt\n--q\nContent-Type: application/x-pkcs7-signature\n\nMAA=\n--q--\n";
        match parse_smime(signed).unwrap() {
            SmimeContent::ClearSigned { signed_content, .. } => {
                assert_eq!(signed_content, b"A: b\r\n\r\nt")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_smime(b"Content-Type: text/plain\n\nx").unwrap(),
            SmimeContent::NotSmime
        );
    }

    #[test]
    fn address_extraction() {
        assert_eq!(
            addresses("\"Doe, Jane\" <Jane@Example.TEST>, bob@example.test, undisclosed"),
            vec![
                "jane@example.test".to_string(),
                "bob@example.test".to_string()
            ]
        );
    }
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
