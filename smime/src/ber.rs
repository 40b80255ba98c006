//! BER → DER normalisation and a minimal DER walker.
//!
//! The `der` crate decodes DER only, but real S/MIME arrives in BER: `openssl cms -stream` and
//! Outlook use indefinite lengths and split OCTET STRINGs into constructed chunks. Before any
//! structure is decoded we rewrite the bytes into their DER form:
//!
//! * indefinite lengths become definite, minimal lengths;
//! * constructed universal string types (OCTET STRING, BIT STRING, character strings) become one
//!   primitive string holding the concatenated chunks;
//! * non-minimal long-form lengths become minimal.
//!
//! Everything else is copied byte for byte: in particular SET OF elements are **not** re-sorted,
//! because a signer hashed its signed attributes in the order it sent them.
//!
//! Implicitly tagged strings (for example `EncryptedContentInfo.encryptedContent [0] IMPLICIT
//! OCTET STRING`) cannot be recognised without the schema; [`flatten_implicit_string`] exists for
//! the callers that know the schema.
//!
//! Hostile input is bounded: nesting depth is capped, every length is checked against the bytes
//! actually present, and the output never exceeds the input by more than a few bytes per element.

use thiserror::Error;

/// Deepest nesting accepted. CMS needs about 15 levels; certificates a few more.
pub const MAX_DEPTH: usize = 64;

/// Why a BER/DER byte string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BerError {
    #[error("BER input ends inside an element")]
    Truncated,
    #[error("BER length field is malformed or larger than supported")]
    BadLength,
    #[error("BER indefinite length on a primitive element")]
    IndefinitePrimitive,
    #[error("BER nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("constructed string contains an element of another type")]
    MixedStringChunks,
    #[error("BIT STRING chunk other than the last has unused bits")]
    BadBitStringChunk,
    #[error("{0} trailing bytes after the outermost element")]
    TrailingData(usize),
    #[error("unexpected end-of-contents marker")]
    UnexpectedEndOfContents,
}

/// The identifier octets of an element: class, constructed flag and tag number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// Top two bits of the first identifier octet: 0 universal, 1 application, 2 context,
    /// 3 private.
    pub class: u8,
    pub constructed: bool,
    pub number: u32,
}

impl Tag {
    /// True for a universal tag with this number.
    pub fn is_universal(&self, number: u32) -> bool {
        self.class == 0 && self.number == number
    }

    /// True for a context-specific tag with this number (`[n]`).
    pub fn is_context(&self, number: u32) -> bool {
        self.class == 2 && self.number == number
    }

    fn encode(&self, constructed: bool, out: &mut Vec<u8>) {
        let first = (self.class << 6) | if constructed { 0x20 } else { 0 };
        if self.number < 31 {
            out.push(first | self.number as u8);
            return;
        }
        out.push(first | 0x1f);
        // Base-128, most significant group first, continuation bit on all but the last.
        let mut groups = Vec::with_capacity(5);
        let mut n = self.number;
        loop {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            let more = i + 1 < groups.len();
            out.push(if more { g | 0x80 } else { *g });
        }
    }
}

/// Universal tag numbers whose BER encoding may be split into constructed chunks.
fn is_string_type(tag: &Tag) -> bool {
    tag.class == 0 && matches!(tag.number, 3 | 4 | 12 | 18..=22 | 25..=28 | 30)
}

const BIT_STRING: u32 = 3;

/// Length field of an element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Definite(usize),
    Indefinite,
}

/// A cursor over BER bytes.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, BerError> {
        let b = *self.input.get(self.pos).ok_or(BerError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BerError> {
        if n > self.remaining() {
            return Err(BerError::Truncated);
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn at_end_of_contents(&self) -> bool {
        self.input.get(self.pos..self.pos + 2) == Some(&[0, 0])
    }

    fn tag(&mut self) -> Result<Tag, BerError> {
        let first = self.byte()?;
        let class = first >> 6;
        let constructed = first & 0x20 != 0;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            // High-tag-number form; five groups are enough for any u32.
            for i in 0.. {
                if i == 5 {
                    return Err(BerError::BadLength);
                }
                let b = self.byte()?;
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok(Tag {
            class,
            constructed,
            number,
        })
    }

    fn length(&mut self) -> Result<Length, BerError> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(Length::Definite(usize::from(first)));
        }
        if first == 0x80 {
            return Ok(Length::Indefinite);
        }
        let count = usize::from(first & 0x7f);
        // Four length octets allow 4 GiB, beyond anything a mail message may hold.
        if count > 4 {
            return Err(BerError::BadLength);
        }
        let mut len = 0usize;
        for _ in 0..count {
            len = (len << 8) | usize::from(self.byte()?);
        }
        if len > self.remaining() {
            return Err(BerError::Truncated);
        }
        Ok(Length::Definite(len))
    }
}

/// Append a DER length field.
fn push_der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Append a complete DER element: identifier, length, contents.
pub(crate) fn push_element(tag: Tag, constructed: bool, contents: &[u8], out: &mut Vec<u8>) {
    tag.encode(constructed, out);
    push_der_length(contents.len(), out);
    out.extend_from_slice(contents);
}

/// Rewrite one complete BER element (and nothing after it) as DER.
pub fn normalize(input: &[u8]) -> Result<Vec<u8>, BerError> {
    // Most CMS we meet (ours, openssl's without -stream) is DER already: then the answer is the
    // input, and rebuilding it level by level would copy a large body once per nesting level.
    let mut reader = Reader::new(input);
    if already_der(&mut reader, 0) == Some(()) && reader.remaining() == 0 {
        return Ok(input.to_vec());
    }
    let mut reader = Reader::new(input);
    let mut out = Vec::with_capacity(input.len());
    normalize_element(&mut reader, 0, &mut out)?;
    match reader.remaining() {
        0 => Ok(out),
        n => Err(BerError::TrailingData(n)),
    }
}

/// `Some(())` when the next element is exactly what [`normalize_element`] would write: every
/// header re-encodes to the same bytes (definite, minimal) and no string is constructed.
/// `None` for anything else, errors included (the full path reports those).
fn already_der(reader: &mut Reader<'_>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let start = reader.pos;
    let tag = reader.tag().ok()?;
    let Length::Definite(len) = reader.length().ok()? else {
        return None;
    };
    let mut header = Vec::with_capacity(8);
    tag.encode(tag.constructed, &mut header);
    push_der_length(len, &mut header);
    if reader.input.get(start..reader.pos)? != header.as_slice() {
        return None;
    }
    if (tag.class == 0 && tag.number == 0) || (tag.constructed && is_string_type(&tag)) {
        return None;
    }
    let contents = reader.take(len).ok()?;
    if tag.constructed {
        let mut inner = Reader::new(contents);
        while inner.remaining() > 0 {
            already_der(&mut inner, depth + 1)?;
        }
    }
    Some(())
}

fn normalize_element(
    reader: &mut Reader<'_>,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::TooDeep);
    }
    let tag = reader.tag()?;
    let length = reader.length()?;
    if tag.class == 0 && tag.number == 0 && !tag.constructed {
        return Err(BerError::UnexpectedEndOfContents);
    }
    if !tag.constructed {
        let Length::Definite(len) = length else {
            return Err(BerError::IndefinitePrimitive);
        };
        push_element(tag, false, reader.take(len)?, out);
        return Ok(());
    }
    let mut contents = Vec::new();
    if is_string_type(&tag) {
        let mut unused_bits = None;
        for_each_child(reader, length, |child| {
            collect_string_chunks(child, tag, depth + 1, &mut contents, &mut unused_bits)
        })?;
        if tag.number == BIT_STRING {
            // Re-insert the single unused-bits octet of the DER form.
            contents.insert(0, unused_bits.unwrap_or(0));
        }
        push_element(tag, false, &contents, out);
    } else {
        for_each_child(reader, length, |child| {
            normalize_element(child, depth + 1, &mut contents)
        })?;
        push_element(tag, true, &contents, out);
    }
    Ok(())
}

/// Call `f` once per child element of a constructed element whose header was just read.
fn for_each_child<'a>(
    reader: &mut Reader<'a>,
    length: Length,
    mut f: impl FnMut(&mut Reader<'a>) -> Result<(), BerError>,
) -> Result<(), BerError> {
    match length {
        Length::Definite(len) => {
            let mut inner = Reader::new(reader.take(len)?);
            while inner.remaining() > 0 {
                f(&mut inner)?;
            }
        }
        Length::Indefinite => loop {
            if reader.remaining() == 0 {
                return Err(BerError::Truncated);
            }
            if reader.at_end_of_contents() {
                reader.pos += 2;
                break;
            }
            f(reader)?;
        },
    }
    Ok(())
}

/// Append the contents of one chunk of a constructed string (which may itself be constructed).
fn collect_string_chunks(
    reader: &mut Reader<'_>,
    outer: Tag,
    depth: usize,
    contents: &mut Vec<u8>,
    unused_bits: &mut Option<u8>,
) -> Result<(), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::TooDeep);
    }
    let tag = reader.tag()?;
    if tag.class != outer.class || tag.number != outer.number {
        return Err(BerError::MixedStringChunks);
    }
    let length = reader.length()?;
    if tag.constructed {
        return for_each_child(reader, length, |child| {
            collect_string_chunks(child, outer, depth + 1, contents, unused_bits)
        });
    }
    let Length::Definite(len) = length else {
        return Err(BerError::IndefinitePrimitive);
    };
    let chunk = reader.take(len)?;
    if outer.number != BIT_STRING {
        contents.extend_from_slice(chunk);
        return Ok(());
    }
    // Only the final BIT STRING chunk may leave bits unused.
    if unused_bits.is_some_and(|u| u != 0) {
        return Err(BerError::BadBitStringChunk);
    }
    let (&unused, bits) = chunk.split_first().ok_or(BerError::BadBitStringChunk)?;
    if unused > 7 {
        return Err(BerError::BadBitStringChunk);
    }
    *unused_bits = Some(unused);
    contents.extend_from_slice(bits);
    Ok(())
}

/// One element of a DER encoding, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub tag: Tag,
    /// The contents octets.
    pub contents: &'a [u8],
    /// The whole element: identifier, length and contents.
    pub raw: &'a [u8],
}

impl<'a> Element<'a> {
    /// The child elements of a constructed element.
    pub fn children(&self) -> Result<Vec<Element<'a>>, BerError> {
        parse_all(self.contents)
    }
}

/// Split DER bytes into a sequence of elements. Indefinite lengths are rejected: normalise first.
pub fn parse_all(input: &[u8]) -> Result<Vec<Element<'_>>, BerError> {
    let mut reader = Reader::new(input);
    let mut elements = Vec::new();
    while reader.remaining() > 0 {
        let start = reader.pos;
        let tag = reader.tag()?;
        let Length::Definite(len) = reader.length()? else {
            return Err(BerError::BadLength);
        };
        let contents = reader.take(len)?;
        elements.push(Element {
            tag,
            contents,
            raw: &input[start..reader.pos],
        });
    }
    Ok(elements)
}

/// Parse exactly one DER element.
pub fn parse_one(input: &[u8]) -> Result<Element<'_>, BerError> {
    let mut all = parse_all(input)?.into_iter();
    let first = all.next().ok_or(BerError::Truncated)?;
    match all.next() {
        None => Ok(first),
        Some(_) => Err(BerError::TrailingData(input.len() - first.raw.len())),
    }
}

/// The contents of an implicitly tagged OCTET STRING that may have been sent constructed
/// (a BER sender splits it into OCTET STRING chunks inside the context tag).
pub fn flatten_implicit_string(element: &Element<'_>) -> Result<Vec<u8>, BerError> {
    if !element.tag.constructed {
        return Ok(element.contents.to_vec());
    }
    let mut out = Vec::with_capacity(element.contents.len());
    for child in element.children()? {
        if !child.tag.is_universal(4) || child.tag.constructed {
            return Err(BerError::MixedStringChunks);
        }
        out.extend_from_slice(child.contents);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_input_is_unchanged() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(normalize(&der).unwrap(), der);
    }

    #[test]
    fn indefinite_sequence_becomes_definite() {
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00];
        assert_eq!(normalize(&ber).unwrap(), [0x30, 0x03, 0x02, 0x01, 0x05]);
    }

    #[test]
    fn constructed_octet_string_is_flattened() {
        // OCTET STRING, indefinite, holding "ab" and a nested constructed chunk with "c".
        let ber = [
            0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x24, 0x03, 0x04, 0x01, b'c', 0x00, 0x00,
        ];
        assert_eq!(normalize(&ber).unwrap(), [0x04, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn explicit_tag_around_streamed_octets() {
        // [0] EXPLICIT { OCTET STRING (constructed, indefinite) }: how `openssl cms -stream`
        // writes eContent.
        let ber = [
            0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, b'x', 0x04, 0x01, b'y', 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(
            normalize(&ber).unwrap(),
            [0xa0, 0x04, 0x04, 0x02, b'x', b'y']
        );
    }

    #[test]
    fn non_minimal_length_is_minimised() {
        let ber = [0x04, 0x82, 0x00, 0x01, 0x7f];
        assert_eq!(normalize(&ber).unwrap(), [0x04, 0x01, 0x7f]);
    }

    #[test]
    fn long_lengths_are_encoded_minimally() {
        let mut ber = vec![0x24, 0x80];
        for _ in 0..3 {
            ber.extend_from_slice(&[0x04, 0x64]);
            ber.extend(std::iter::repeat_n(7u8, 100));
        }
        ber.extend_from_slice(&[0, 0]);
        let der = normalize(&ber).unwrap();
        assert_eq!(&der[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der.len(), 4 + 300);
    }

    #[test]
    fn bit_string_chunks_keep_final_unused_bits() {
        let ber = [
            0x23, 0x80, 0x03, 0x02, 0x00, 0xff, 0x03, 0x02, 0x04, 0xf0, 0x00, 0x00,
        ];
        assert_eq!(normalize(&ber).unwrap(), [0x03, 0x03, 0x04, 0xff, 0xf0]);
    }

    #[test]
    fn bit_string_unused_bits_in_middle_chunk_is_rejected() {
        let ber = [
            0x23, 0x80, 0x03, 0x02, 0x01, 0xfe, 0x03, 0x02, 0x00, 0xf0, 0x00, 0x00,
        ];
        assert_eq!(normalize(&ber), Err(BerError::BadBitStringChunk));
    }

    #[test]
    fn high_tag_numbers_round_trip() {
        let der = [0xbf, 0x81, 0x00, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00];
        assert_eq!(
            normalize(&der).unwrap(),
            [0xbf, 0x81, 0x00, 0x03, 0x02, 0x01, 0x01]
        );
    }

    #[test]
    fn hostile_inputs_are_errors() {
        // Length claims more bytes than exist.
        assert_eq!(
            normalize(&[0x04, 0x84, 0x7f, 0xff, 0xff, 0xff]),
            Err(BerError::Truncated)
        );
        // Length of length too big.
        assert_eq!(
            normalize(&[0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            Err(BerError::BadLength)
        );
        // Indefinite primitive.
        assert_eq!(
            normalize(&[0x04, 0x80, 0x00, 0x00]),
            Err(BerError::IndefinitePrimitive)
        );
        // Missing end-of-contents.
        assert_eq!(
            normalize(&[0x30, 0x80, 0x05, 0x00]),
            Err(BerError::Truncated)
        );
        // A chunk of another type inside a constructed OCTET STRING.
        assert_eq!(
            normalize(&[0x24, 0x03, 0x02, 0x01, 0x00]),
            Err(BerError::MixedStringChunks)
        );
        // Stray end-of-contents.
        assert_eq!(
            normalize(&[0x30, 0x02, 0x00, 0x00]),
            Err(BerError::UnexpectedEndOfContents)
        );
        // Trailing data.
        assert_eq!(
            normalize(&[0x05, 0x00, 0x05]),
            Err(BerError::TrailingData(1))
        );
        assert_eq!(normalize(&[]), Err(BerError::Truncated));
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflowing_the_stack() {
        let mut ber = Vec::new();
        for _ in 0..10_000 {
            ber.extend_from_slice(&[0x30, 0x80]);
        }
        assert_eq!(normalize(&ber), Err(BerError::TooDeep));
        let mut strings = Vec::new();
        for _ in 0..10_000 {
            strings.extend_from_slice(&[0x24, 0x80]);
        }
        assert_eq!(normalize(&strings), Err(BerError::TooDeep));
    }

    #[test]
    fn flatten_implicit_constructed_octets() {
        let der = [0xa0, 0x06, 0x04, 0x01, b'a', 0x04, 0x01, b'b'];
        let el = parse_one(&der).unwrap();
        assert_eq!(flatten_implicit_string(&el).unwrap(), b"ab");
        let prim = [0x80, 0x02, b'a', b'b'];
        assert_eq!(
            flatten_implicit_string(&parse_one(&prim).unwrap()).unwrap(),
            b"ab"
        );
    }

    #[test]
    fn walker_reports_raw_slices() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        let seq = parse_one(&der).unwrap();
        let kids = seq.children().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1].raw, &[0x04, 0x01, 0xaa]);
        assert!(kids[0].tag.is_universal(2));
    }
}
