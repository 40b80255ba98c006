//! A minimal, strict DER reader (and the one small writer, [`element`]).
//!
//! Certificates and CRLs are hostile input, and PKITS contains encodings that the general
//! `x509-cert` decoders reject (UTCTime years before 1970, unsorted multi-valued RDNs, negative
//! and 21-octet serial numbers). Reading the few structures we need by hand keeps every such
//! case in our control and makes every failure an `Err`, never a panic.

/// Universal tags used by X.509.
pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const ENUMERATED: u8 = 0x0a;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Context-specific tag `[n]`, constructed.
pub const fn ctx_cons(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific tag `[n]`, primitive.
pub const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// One DER element: `tag`, the definite length, `value`. The only writer in this crate; the
/// few structures built here (a PKCS#7 bundle, a re-wrapped name) are small and definite.
pub fn element(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Why a DER structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    #[error("DER input ends early")]
    Truncated,
    #[error("unsupported or non-DER length encoding")]
    BadLength,
    #[error("multi-byte tags are not used by X.509 and are refused")]
    HighTag,
    #[error("expected tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("trailing data after a DER value")]
    Trailing,
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole element, header included (what signatures and equality are computed over).
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads exactly one element that fills `input`.
    pub fn parse_exact(input: &'a [u8]) -> Result<Self, DerError> {
        let (tlv, rest) = read_tlv(input)?;
        if !rest.is_empty() {
            return Err(DerError::Trailing);
        }
        Ok(tlv)
    }

    /// Checks the tag, so callers can write `tlv.tagged(SEQUENCE)?.reader()`.
    pub fn tagged(self, tag: u8) -> Result<Self, DerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(DerError::UnexpectedTag {
                expected: tag,
                found: self.tag,
            })
        }
    }

    /// A reader over the contents of a constructed element.
    pub fn reader(&self) -> Reader<'a> {
        Reader { rest: self.value }
    }

    /// BOOLEAN contents (DER: 0x00 or 0xff; BER's other non-zero values are accepted as true).
    pub fn boolean(&self) -> Result<bool, DerError> {
        match self.value {
            [b] => Ok(*b != 0),
            _ => Err(DerError::Invalid("BOOLEAN")),
        }
    }

    /// A small non-negative INTEGER or ENUMERATED (lengths, skip counts, reason codes).
    pub fn small_uint(&self) -> Result<u32, DerError> {
        let v = self.value;
        if v.is_empty() || v.len() > 5 || v[0] & 0x80 != 0 {
            return Err(DerError::Invalid("small unsigned integer"));
        }
        let mut n: u64 = 0;
        for b in v {
            n = (n << 8) | u64::from(*b);
        }
        u32::try_from(n).map_err(|_| DerError::Invalid("small unsigned integer"))
    }

    /// BIT STRING contents without the unused-bits octet; refuses non-zero unused bits where a
    /// whole-octet value (signature, key) is expected.
    pub fn bit_string_octets(&self) -> Result<&'a [u8], DerError> {
        match self.value.split_first() {
            Some((0, rest)) => Ok(rest),
            _ => Err(DerError::Invalid("BIT STRING")),
        }
    }

    /// BIT STRING as flags, bit 0 being the most significant bit of the first octet (how
    /// KeyUsage and ReasonFlags are numbered).
    pub fn bit_flags(&self) -> Result<u32, DerError> {
        let (unused, bytes) = self
            .value
            .split_first()
            .ok_or(DerError::Invalid("BIT STRING"))?;
        if *unused > 7 || bytes.len() > 4 || (bytes.is_empty() && *unused != 0) {
            return Err(DerError::Invalid("BIT STRING"));
        }
        let mut flags = 0u32;
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    flags |= 1 << (i * 8 + bit);
                }
            }
        }
        Ok(flags)
    }
}

/// Reads consecutive elements from a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let (tlv, rest) = read_tlv(self.rest)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next element, which must carry `tag`.
    pub fn tagged(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        self.any()?.tagged(tag)
    }

    /// The next element if it carries `tag` (for OPTIONAL and DEFAULT fields).
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        match self.rest.first() {
            Some(t) if *t == tag => self.any().map(Some),
            _ => Ok(None),
        }
    }

    /// Fails unless everything was consumed: DER has no room for trailing junk.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError::Trailing)
        }
    }
}

fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, after_tag) = input.split_first().ok_or(DerError::Truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(DerError::HighTag);
    }
    let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Truncated)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        // 0x80 is BER's indefinite length; more than 4 length octets is never needed here.
        if count == 0 || count > 4 || after_len.len() < count {
            return Err(DerError::BadLength);
        }
        let mut len = 0usize;
        for b in &after_len[..count] {
            len = (len << 8) | usize::from(*b);
        }
        // DER wants the shortest form.
        if len < 0x80 || after_len[0] == 0 {
            return Err(DerError::BadLength);
        }
        after_len = &after_len[count..];
        len
    };
    if after_len.len() < len {
        return Err(DerError::Truncated);
    }
    let header_len = input.len() - after_len.len();
    let raw = &input[..header_len + len];
    let value = &after_len[..len];
    Ok((Tlv { tag, value, raw }, &after_len[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let tlv = Tlv::parse_exact(&long).unwrap();
        assert_eq!(tlv.value.len(), 0x80);
        let short = [0x02, 0x01, 0x05];
        assert_eq!(Tlv::parse_exact(&short).unwrap().small_uint().unwrap(), 5);
    }

    #[test]
    fn refuses_truncation_indefinite_and_trailing() {
        assert_eq!(
            Tlv::parse_exact(&[0x30, 0x05, 0x01]).unwrap_err(),
            DerError::Truncated
        );
        assert_eq!(
            Tlv::parse_exact(&[0x30, 0x80, 0, 0]).unwrap_err(),
            DerError::BadLength
        );
        assert_eq!(
            Tlv::parse_exact(&[0x05, 0x00, 0x00]).unwrap_err(),
            DerError::Trailing
        );
        assert_eq!(
            Tlv::parse_exact(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).unwrap_err(),
            DerError::BadLength
        );
    }

    #[test]
    fn bit_flags_number_from_the_top_bit() {
        // keyCertSign (5) and cRLSign (6): 0000 0110 with one unused bit.
        let tlv = Tlv::parse_exact(&[0x03, 0x02, 0x01, 0x06]).unwrap();
        assert_eq!(tlv.bit_flags().unwrap(), (1 << 5) | (1 << 6));
    }
}
