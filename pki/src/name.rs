//! Distinguished names and general names, compared the RFC 5280 §7.1 way.
//!
//! Names chain by *normalised* comparison: string attribute values are compared case-insensitively
//! with whitespace runs folded and ends trimmed, whatever string type encodes them (PKITS checks
//! capitalisation, extra spaces and a PrintableString → UTF8String rollover). Other values compare
//! byte for byte. Attributes inside one multi-valued RDN compare as a set.

use super::der::{self, DerError, Reader, Tlv};
use super::oid;

/// An attribute value reduced to what comparison needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Value {
    /// A directory string, normalised.
    Text(String),
    /// Anything else: tag and contents as encoded.
    Opaque(u8, Vec<u8>),
}

/// One attribute of an RDN: type OID (contents octets) and normalised value.
type Attr = (Vec<u8>, Value);

/// A parsed distinguished name.
#[derive(Debug, Clone)]
pub struct Name {
    /// DER of the whole Name, kept for display and exact reporting.
    raw: Vec<u8>,
    /// RDNs in order, each sorted so a multi-valued RDN compares as a set.
    rdns: Vec<Vec<Attr>>,
    /// Display form, computed once.
    text: String,
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.rdns == other.rdns
    }
}
impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rdns.hash(state);
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Name {
    /// Reads a Name (a SEQUENCE OF RelativeDistinguishedName).
    pub fn parse(tlv: &Tlv<'_>) -> Result<Self, DerError> {
        let mut seq = tlv.tagged(der::SEQUENCE)?.reader();
        let mut rdns = Vec::new();
        let mut parts = Vec::new();
        while !seq.is_empty() {
            let mut set = seq.tagged(der::SET)?.reader();
            let mut rdn = Vec::new();
            while !set.is_empty() {
                let mut atv = set.tagged(der::SEQUENCE)?.reader();
                let oid = atv.tagged(der::OID)?.value.to_vec();
                let value = atv.any()?;
                atv.finish()?;
                let normalised = match decode_string(&value) {
                    Some(s) => {
                        parts.push(format!("{}={}", attr_label(&oid), s));
                        Value::Text(normalise(&s))
                    }
                    None => {
                        parts.push(format!("{}=#{}", attr_label(&oid), hex(value.value)));
                        Value::Opaque(value.tag, value.value.to_vec())
                    }
                };
                rdn.push((oid, normalised));
            }
            if rdn.is_empty() {
                return Err(DerError::Invalid("empty RDN"));
            }
            rdn.sort();
            rdns.push(rdn);
        }
        Ok(Name {
            raw: tlv.raw.to_vec(),
            rdns,
            text: parts.join(", "),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    pub fn der(&self) -> &[u8] {
        &self.raw
    }

    /// True when `self` lies in the subtree rooted at `base` (base's RDNs are a prefix).
    pub fn is_within(&self, base: &Name) -> bool {
        base.rdns.len() <= self.rdns.len() && self.rdns.iter().zip(&base.rdns).all(|(a, b)| a == b)
    }

    /// This name with one more RDN appended (a distribution point's nameRelativeToCRLIssuer).
    pub fn with_rdn(&self, rdn: &Name) -> Name {
        let mut out = self.clone();
        out.rdns.extend(rdn.rdns.iter().cloned());
        out.text = format!("{}, {}", self.text, rdn.text);
        out
    }

    /// The values of every emailAddress attribute (legacy e-mail in the subject, RFC 8550 §3).
    pub fn email_addresses(&self) -> Vec<String> {
        self.rdns
            .iter()
            .flatten()
            .filter(|(o, _)| oid::is(o, &oid::EMAIL_ADDRESS_ATTR))
            .filter_map(|(_, v)| match v {
                Value::Text(s) => Some(s.clone()),
                Value::Opaque(..) => None,
            })
            .collect()
    }

    /// Parses a relative distinguished name (a SET, as in nameRelativeToCRLIssuer) as a
    /// one-RDN name so it can be appended with [`Name::with_rdn`].
    pub fn parse_rdn_set(value: &[u8]) -> Result<Self, DerError> {
        // Re-wrap the SET contents as SEQUENCE { SET { ... } } and reuse the Name reader.
        let seq = der::element(der::SEQUENCE, &der::element(der::SET, value));
        Name::parse(&Tlv::parse_exact(&seq)?)
    }
}

fn attr_label(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        _ if oid::is(oid, &oid::EMAIL_ADDRESS_ATTR) => "emailAddress".into(),
        _ => const_oid::ObjectIdentifier::from_bytes(oid)
            .map(|o| o.to_string())
            .unwrap_or_else(|_| hex(oid)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes the directory string types; `None` for anything that is not text.
fn decode_string(tlv: &Tlv<'_>) -> Option<String> {
    let v = tlv.value;
    match tlv.tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => String::from_utf8(v.to_vec()).ok(),
        // TeletexString: read as Latin-1, which is what it carries in practice.
        0x14 => Some(v.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16BE.
        0x1e if v.len().is_multiple_of(2) => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE.
        0x1c if v.len().is_multiple_of(4) => v
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 5280 §7.1 (after RFC 4518, simplified): fold case, trim, collapse inner whitespace.
fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A GeneralName (RFC 5280 §4.2.1.6), reduced to the forms this validator compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    Rfc822(String),
    Dns(String),
    Uri(String),
    Directory(Name),
    Ip(Vec<u8>),
    /// otherName, x400Address, ediPartyName, registeredID: kept only by tag.
    Other(u8),
}

impl GeneralName {
    pub fn parse(tlv: &Tlv<'_>) -> Result<Self, DerError> {
        let ia5 = |v: &[u8]| {
            if v.is_ascii() {
                String::from_utf8(v.to_vec()).map_err(|_| DerError::Invalid("IA5String"))
            } else {
                Err(DerError::Invalid("IA5String"))
            }
        };
        Ok(match tlv.tag {
            t if t == der::ctx_prim(1) => GeneralName::Rfc822(ia5(tlv.value)?),
            t if t == der::ctx_prim(2) => GeneralName::Dns(ia5(tlv.value)?),
            t if t == der::ctx_prim(6) => GeneralName::Uri(ia5(tlv.value)?),
            t if t == der::ctx_prim(7) => GeneralName::Ip(tlv.value.to_vec()),
            t if t == der::ctx_cons(4) => {
                // directoryName is EXPLICIT: [4] wraps a whole Name.
                GeneralName::Directory(Name::parse(&Tlv::parse_exact(tlv.value)?)?)
            }
            t => GeneralName::Other(t),
        })
    }

    /// Reads `GeneralNames ::= SEQUENCE OF GeneralName` from its contents.
    pub fn parse_seq(reader: Reader<'_>) -> Result<Vec<Self>, DerError> {
        let mut r = reader;
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(GeneralName::parse(&r.any()?)?);
        }
        Ok(out)
    }

    /// Equality for distribution point names: directory names by normalised comparison,
    /// strings exactly except that host-like names ignore ASCII case.
    pub fn same_as(&self, other: &GeneralName) -> bool {
        match (self, other) {
            (GeneralName::Directory(a), GeneralName::Directory(b)) => a == b,
            (GeneralName::Uri(a), GeneralName::Uri(b)) => a == b,
            (GeneralName::Dns(a), GeneralName::Dns(b)) => a.eq_ignore_ascii_case(b),
            (GeneralName::Rfc822(a), GeneralName::Rfc822(b)) => a.eq_ignore_ascii_case(b),
            (GeneralName::Ip(a), GeneralName::Ip(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(der: &[u8]) -> Name {
        Name::parse(&Tlv::parse_exact(der).unwrap()).unwrap()
    }

    // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, <string> } } }
    fn cn(tag: u8, s: &str) -> Vec<u8> {
        let mut atv = vec![0x06, 0x03, 0x55, 0x04, 0x03, tag, s.len() as u8];
        atv.extend_from_slice(s.as_bytes());
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        let mut out = vec![0x30, set.len() as u8];
        out.extend(set);
        out
    }

    #[test]
    fn compares_case_and_whitespace_insensitively_across_string_types() {
        assert_eq!(name(&cn(0x13, "Good  CA ")), name(&cn(0x0c, "good ca")));
        assert_ne!(name(&cn(0x13, "Good CA")), name(&cn(0x13, "Good CA2")));
    }

    #[test]
    fn subtree_is_prefix() {
        let base = name(&cn(0x13, "a"));
        assert!(base.is_within(&base));
        assert!(name(&[0x30, 0x00]).is_empty());
        assert!(base.is_within(&name(&[0x30, 0x00])));
    }
}
