//! The transfer encodings, on bytes alone: canonical CRLF form, base64 and quoted-printable,
//! encoded words in header fields, and whether a body is 7-bit safe.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{BASE64_LINE, MAX_LINE, MimeError};

/// One line of input: where its text starts and ends and where the next line starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub(super) start: usize,
    /// End of the text, before CRLF or LF.
    pub(super) end: usize,
    /// Start of the next line (after the line ending).
    pub(super) next: usize,
}

/// Iterate the lines of `input`, accepting CRLF or LF endings. The last line may have none.
pub(super) fn lines(input: &[u8]) -> impl Iterator<Item = Line> + '_ {
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

pub(super) fn ensure_crlf_end(mut bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.is_empty() && !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// Does this body need no transfer encoding to cross a 7-bit transport unchanged? Written as
/// whole-body scans (a branch-free fold the compiler vectorises, and memchr) because it runs over
/// every attachment of every message signed.
pub(super) fn is_7bit_safe(body: &[u8]) -> bool {
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
