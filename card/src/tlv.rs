//! The BER-TLV subset smart-card applications use (ISO/IEC 7816-4 §5.2): tags of one to three
//! bytes and definite lengths of up to three bytes.

use alloc::vec::Vec;

use crate::Error;

/// One data object: its tag (the tag bytes as a number, 0x5FC105 for `5F C1 05`) and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u32,
    pub value: &'a [u8],
}

/// Every data object at the top level of `bytes`, in order.
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Tlv<'_>>, Error> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (tlv, rest) = parse_one(bytes)?;
        out.push(tlv);
        bytes = rest;
    }
    Ok(out)
}

/// The value of the first object tagged `tag` at the top level of `bytes`.
pub fn find(bytes: &[u8], tag: u32) -> Result<Option<&[u8]>, Error> {
    Ok(parse(bytes)?
        .into_iter()
        .find(|t| t.tag == tag)
        .map(|t| t.value))
}

fn parse_one(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), Error> {
    const MALFORMED: Error = Error::Protocol("a malformed data object from the card");
    let mut at = 0;
    let first = *bytes.first().ok_or(MALFORMED)?;
    let mut tag = u32::from(first);
    at += 1;
    if first & 0x1F == 0x1F {
        // Subsequent tag bytes continue while bit 8 is set; three bytes is the most 7816 uses.
        loop {
            let next = *bytes.get(at).ok_or(MALFORMED)?;
            tag = (tag << 8) | u32::from(next);
            at += 1;
            if next & 0x80 == 0 {
                break;
            }
            if at >= 3 {
                return Err(MALFORMED);
            }
        }
    }
    let first_len = *bytes.get(at).ok_or(MALFORMED)?;
    at += 1;
    let len = match first_len {
        0..=0x7F => usize::from(first_len),
        0x81..=0x83 => {
            let count = usize::from(first_len & 0x7F);
            let len_bytes = bytes.get(at..at + count).ok_or(MALFORMED)?;
            at += count;
            len_bytes
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b))
        }
        _ => return Err(MALFORMED),
    };
    let value = bytes.get(at..at + len).ok_or(MALFORMED)?;
    Ok((Tlv { tag, value }, &bytes[at + len..]))
}

/// Encode one data object (`tag` given as its bytes).
pub fn encode(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 4 + value.len());
    out.extend_from_slice(tag);
    match value.len() {
        len @ 0..=0x7F => out.push(len as u8),
        len @ 0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        len @ 0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x83);
            out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lengths_and_tags() {
        for len in [0usize, 5, 127, 128, 255, 256, 70_000] {
            let value = alloc::vec![7u8; len];
            let encoded = encode(&[0x5F, 0xC1, 0x05], &value);
            let parsed = parse(&encoded).unwrap();
            assert_eq!(
                parsed,
                [Tlv {
                    tag: 0x5FC105,
                    value: &value
                }]
            );
        }
    }

    #[test]
    fn truncated_objects_are_errors() {
        assert!(parse(&[0x53, 0x05, 0x01]).is_err());
        assert!(parse(&[0x53, 0x82, 0x01]).is_err());
        assert!(parse(&[0x5F]).is_err());
        assert!(parse(&[0x53, 0x84, 0, 0, 0, 1, 0]).is_err());
    }
}
