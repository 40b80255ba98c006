//! X.509 certificates parsed once into the fields path validation reads (RFC 5280 §4).

use super::der::{self, DerError, Tlv};
use super::name::{GeneralName, Name};
use super::oid;
use super::time::{self, UnixTime};

/// Key usage bits (RFC 5280 §4.2.1.3), numbered as in the BIT STRING.
pub mod key_usage {
    pub const DIGITAL_SIGNATURE: u32 = 1 << 0;
    pub const NON_REPUDIATION: u32 = 1 << 1;
    pub const KEY_ENCIPHERMENT: u32 = 1 << 2;
    pub const KEY_AGREEMENT: u32 = 1 << 4;
    pub const KEY_CERT_SIGN: u32 = 1 << 5;
    pub const CRL_SIGN: u32 = 1 << 6;
}

/// An AlgorithmIdentifier: OID contents and the raw parameters element, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmId {
    pub oid: Vec<u8>,
    pub params: Option<Vec<u8>>,
}

impl AlgorithmId {
    pub fn parse(tlv: &Tlv<'_>) -> Result<Self, DerError> {
        let mut r = tlv.tagged(der::SEQUENCE)?.reader();
        let oid = r.tagged(der::OID)?.value.to_vec();
        let params = if r.is_empty() {
            None
        } else {
            Some(r.any()?.raw.to_vec())
        };
        r.finish()?;
        Ok(AlgorithmId { oid, params })
    }
}

/// SubjectPublicKeyInfo: algorithm and the key bits.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub algorithm: AlgorithmId,
    pub key: Vec<u8>,
}

impl PublicKey {
    /// A DSA key without domain parameters, which inherits them from its issuer's key
    /// (RFC 5280 §6.1.4 (f), RFC 3279 §2.3.2).
    pub fn lacks_dsa_parameters(&self) -> bool {
        oid::is(&self.algorithm.oid, &oid::DSA)
            && self
                .algorithm
                .params
                .as_deref()
                .is_none_or(|p| p == [0x05, 0x00])
    }

    /// This key with parameters inherited from `issuer` where it has none of its own.
    pub fn inheriting_from(&self, issuer: &PublicKey) -> PublicKey {
        if self.lacks_dsa_parameters() && oid::is(&issuer.algorithm.oid, &oid::DSA) {
            PublicKey {
                algorithm: issuer.algorithm.clone(),
                key: self.key.clone(),
            }
        } else {
            self.clone()
        }
    }
}

/// Where a CRL for a certificate lives and what it covers (RFC 5280 §4.2.1.13).
#[derive(Debug, Clone)]
pub struct DistributionPoint {
    pub name: Option<DpName>,
    /// Reason flags (bit 1 keyCompromise … bit 8 aACompromise); `None` means all reasons.
    pub reasons: Option<u32>,
    pub crl_issuer: Option<Vec<GeneralName>>,
}

/// DistributionPointName.
#[derive(Debug, Clone)]
pub enum DpName {
    Full(Vec<GeneralName>),
    /// One RDN to append to the CRL issuer's name.
    Relative(Name),
}

impl DpName {
    /// `[0] DistributionPointName` contents: a CHOICE of `[0] fullName` / `[1] relative`.
    pub fn parse(inner: &Tlv<'_>) -> Result<Self, DerError> {
        match inner.tag {
            t if t == der::ctx_cons(0) => Ok(DpName::Full(GeneralName::parse_seq(inner.reader())?)),
            t if t == der::ctx_cons(1) => Ok(DpName::Relative(Name::parse_rdn_set(inner.value)?)),
            _ => Err(DerError::Invalid("DistributionPointName")),
        }
    }

    /// The full names, resolving a relative name against `issuer`.
    pub fn full_names(&self, issuer: &Name) -> Vec<GeneralName> {
        match self {
            DpName::Full(names) => names.clone(),
            DpName::Relative(rdn) => vec![GeneralName::Directory(issuer.with_rdn(rdn))],
        }
    }
}

/// One GeneralSubtree of a name constraint (minimum/maximum are unused by RFC 5280 profiles).
#[derive(Debug, Clone)]
pub struct Subtree {
    pub base: GeneralName,
}

/// NameConstraints (RFC 5280 §4.2.1.10).
#[derive(Debug, Clone, Default)]
pub struct NameConstraints {
    pub permitted: Option<Vec<Subtree>>,
    pub excluded: Vec<Subtree>,
}

/// The extensions validation cares about.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// `Some((ca, path_len))` when basicConstraints is present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    pub key_usage: Option<u32>,
    pub ext_key_usage: Option<Vec<Vec<u8>>>,
    pub subject_alt_names: Vec<GeneralName>,
    pub name_constraints: Option<NameConstraints>,
    /// Policy OIDs (contents octets); `None` when the extension is absent.
    pub policies: Option<Vec<Vec<u8>>>,
    /// (issuerDomainPolicy, subjectDomainPolicy) pairs.
    pub policy_mappings: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// (requireExplicitPolicy, inhibitPolicyMapping).
    pub policy_constraints: Option<(Option<u32>, Option<u32>)>,
    pub inhibit_any_policy: Option<u32>,
    pub crl_distribution_points: Option<Vec<DistributionPoint>>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// A critical extension we do not process: the certificate must be rejected (§6.1.3).
    pub unknown_critical: bool,
}

/// A parsed certificate.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    /// Byte range of the TBSCertificate inside `der` (what the signature covers).
    tbs: std::ops::Range<usize>,
    pub signature_algorithm: AlgorithmId,
    pub signature: Vec<u8>,
    pub version: u32,
    /// Serial number INTEGER contents octets, as encoded (CRLs list them the same way).
    pub serial: Vec<u8>,
    pub issuer: Name,
    pub subject: Name,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub public_key: PublicKey,
    pub ext: Extensions,
}

/// Why a certificate could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("malformed certificate: {0}")]
    Der(#[from] DerError),
    #[error("certificate has the extension {0} twice")]
    DuplicateExtension(String),
    #[error("inner and outer signature algorithms differ")]
    AlgorithmMismatch,
}

/// Upper bound on a serial number's length: RFC 5280 allows 20 octets; we accept a little more
/// (PKITS' long-serial tests and real-world encoders) but not unbounded data.
const MAX_SERIAL_LEN: usize = 32;

impl Cert {
    pub fn parse(input: &[u8]) -> Result<Self, CertError> {
        let outer = Tlv::parse_exact(input)?.tagged(der::SEQUENCE)?;
        let mut r = outer.reader();
        let tbs_tlv = r.tagged(der::SEQUENCE)?;
        let signature_algorithm = AlgorithmId::parse(&r.any()?)?;
        // A signature with unused bits cannot be valid; keep it empty so verification fails
        // (and the reason is "bad signature", not "unreadable").
        let signature = r
            .tagged(der::BIT_STRING)?
            .bit_string_octets()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        r.finish()?;

        let start = tbs_tlv.raw.as_ptr() as usize - input.as_ptr() as usize;
        let tbs = start..start + tbs_tlv.raw.len();

        let mut t = tbs_tlv.reader();
        let version = match t.optional(der::ctx_cons(0))? {
            Some(v) => Tlv::parse_exact(v.value)?
                .tagged(der::INTEGER)?
                .small_uint()?,
            None => 0,
        };
        let serial_tlv = t.tagged(der::INTEGER)?;
        if serial_tlv.value.is_empty() || serial_tlv.value.len() > MAX_SERIAL_LEN {
            return Err(DerError::Invalid("serial number").into());
        }
        let serial = serial_tlv.value.to_vec();
        let inner_alg = AlgorithmId::parse(&t.any()?)?;
        // §4.1.1.2: the two algorithm fields MUST match; a mismatch is a forgery vector.
        if inner_alg != signature_algorithm {
            return Err(CertError::AlgorithmMismatch);
        }
        let issuer = Name::parse(&t.any()?)?;
        let mut validity = t.tagged(der::SEQUENCE)?.reader();
        let not_before = time::parse(&validity.any()?)?;
        let not_after = time::parse(&validity.any()?)?;
        validity.finish()?;
        let subject = Name::parse(&t.any()?)?;
        let public_key = parse_spki(&t.tagged(der::SEQUENCE)?)?;
        t.optional(der::ctx_prim(1))?;
        t.optional(der::ctx_prim(2))?;
        let ext = match t.optional(der::ctx_cons(3))? {
            Some(wrapper) => parse_extensions(&Tlv::parse_exact(wrapper.value)?)?,
            None => Extensions::default(),
        };
        t.finish()?;

        Ok(Cert {
            der: input.to_vec(),
            tbs,
            signature_algorithm,
            signature,
            version,
            serial,
            issuer,
            subject,
            not_before,
            not_after,
            public_key,
            ext,
        })
    }

    /// The signed bytes.
    pub fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// Self-issued: subject and issuer are the same name (RFC 5280 §6.1).
    pub fn is_self_issued(&self) -> bool {
        self.issuer == self.subject
    }

    /// basicConstraints cA = TRUE.
    pub fn is_ca(&self) -> bool {
        matches!(self.ext.basic_constraints, Some((true, _)))
    }

    /// Whether the keyUsage extension, if present, asserts `bit`.
    pub fn key_usage_allows(&self, bit: u32) -> bool {
        self.ext.key_usage.is_none_or(|ku| ku & bit != 0)
    }

    /// Every e-mail address the certificate is for: rfc822Name SANs, then legacy emailAddress.
    pub fn email_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .ext
            .subject_alt_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::Rfc822(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        // A certificate often names its address twice (subjectAltName and the subject's
        // emailAddress); list each once.
        for address in self.subject.email_addresses() {
            if !out.iter().any(|seen| seen.eq_ignore_ascii_case(&address)) {
                out.push(address);
            }
        }
        out
    }
}

fn parse_spki(tlv: &Tlv<'_>) -> Result<PublicKey, DerError> {
    let mut r = tlv.reader();
    let algorithm = AlgorithmId::parse(&r.any()?)?;
    let key = r.tagged(der::BIT_STRING)?.bit_string_octets()?.to_vec();
    r.finish()?;
    Ok(PublicKey { algorithm, key })
}

/// Extensions that validation understands, or that are harmless to accept when critical.
fn is_known(id: &[u8]) -> bool {
    [
        &oid::SUBJECT_KEY_ID,
        &oid::KEY_USAGE,
        &oid::SUBJECT_ALT_NAME,
        &oid::ISSUER_ALT_NAME,
        &oid::BASIC_CONSTRAINTS,
        &oid::NAME_CONSTRAINTS,
        &oid::CRL_DISTRIBUTION_POINTS,
        &oid::CERTIFICATE_POLICIES,
        &oid::POLICY_MAPPINGS,
        &oid::AUTHORITY_KEY_ID,
        &oid::POLICY_CONSTRAINTS,
        &oid::EXT_KEY_USAGE,
        &oid::FRESHEST_CRL,
        &oid::INHIBIT_ANY_POLICY,
        &oid::AUTHORITY_INFO_ACCESS,
        &oid::SUBJECT_INFO_ACCESS,
    ]
    .iter()
    .any(|o| oid::is(id, o))
}

/// Iterates `Extensions ::= SEQUENCE OF Extension`, yielding (oid, critical, extnValue
/// contents). Shared with CRLs.
pub fn for_each_extension<'a>(
    tlv: &Tlv<'a>,
    mut f: impl FnMut(&'a [u8], bool, &'a [u8]) -> Result<(), CertError>,
) -> Result<(), CertError> {
    let mut seq = tlv.tagged(der::SEQUENCE)?.reader();
    let mut seen: Vec<&[u8]> = Vec::new();
    while !seq.is_empty() {
        let mut e = seq.tagged(der::SEQUENCE)?.reader();
        let id = e.tagged(der::OID)?.value;
        let critical = match e.optional(der::BOOLEAN)? {
            Some(b) => b.boolean()?,
            None => false,
        };
        let value = e.tagged(der::OCTET_STRING)?.value;
        e.finish()?;
        // §4.2: an extension MUST NOT appear more than once.
        if seen.contains(&id) {
            let label = const_oid::ObjectIdentifier::from_bytes(id)
                .map(|o| o.to_string())
                .unwrap_or_default();
            return Err(CertError::DuplicateExtension(label));
        }
        seen.push(id);
        f(id, critical, value)?;
    }
    Ok(())
}

fn parse_extensions(tlv: &Tlv<'_>) -> Result<Extensions, CertError> {
    let mut ext = Extensions::default();
    for_each_extension(tlv, |id, critical, value| {
        let v = Tlv::parse_exact(value)?;
        if oid::is(id, &oid::BASIC_CONSTRAINTS) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let ca = match r.optional(der::BOOLEAN)? {
                Some(b) => b.boolean()?,
                None => false,
            };
            let len = r
                .optional(der::INTEGER)?
                .map(|i| i.small_uint())
                .transpose()?;
            r.finish()?;
            ext.basic_constraints = Some((ca, len));
        } else if oid::is(id, &oid::KEY_USAGE) {
            ext.key_usage = Some(v.tagged(der::BIT_STRING)?.bit_flags()?);
        } else if oid::is(id, &oid::EXT_KEY_USAGE) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let mut list = Vec::new();
            while !r.is_empty() {
                list.push(r.tagged(der::OID)?.value.to_vec());
            }
            ext.ext_key_usage = Some(list);
        } else if oid::is(id, &oid::SUBJECT_ALT_NAME) {
            ext.subject_alt_names = GeneralName::parse_seq(v.tagged(der::SEQUENCE)?.reader())?;
        } else if oid::is(id, &oid::NAME_CONSTRAINTS) {
            ext.name_constraints = Some(parse_name_constraints(&v)?);
        } else if oid::is(id, &oid::CERTIFICATE_POLICIES) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let mut list = Vec::new();
            while !r.is_empty() {
                let mut info = r.tagged(der::SEQUENCE)?.reader();
                list.push(info.tagged(der::OID)?.value.to_vec());
                // Qualifiers are informational; S/MIME clients do not act on them.
            }
            ext.policies = Some(list);
        } else if oid::is(id, &oid::POLICY_MAPPINGS) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let mut list = Vec::new();
            while !r.is_empty() {
                let mut m = r.tagged(der::SEQUENCE)?.reader();
                let from = m.tagged(der::OID)?.value.to_vec();
                let to = m.tagged(der::OID)?.value.to_vec();
                m.finish()?;
                list.push((from, to));
            }
            ext.policy_mappings = Some(list);
        } else if oid::is(id, &oid::POLICY_CONSTRAINTS) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let require = r
                .optional(der::ctx_prim(0))?
                .map(|i| i.small_uint())
                .transpose()?;
            let inhibit = r
                .optional(der::ctx_prim(1))?
                .map(|i| i.small_uint())
                .transpose()?;
            r.finish()?;
            ext.policy_constraints = Some((require, inhibit));
        } else if oid::is(id, &oid::INHIBIT_ANY_POLICY) {
            ext.inhibit_any_policy = Some(v.tagged(der::INTEGER)?.small_uint()?);
        } else if oid::is(id, &oid::CRL_DISTRIBUTION_POINTS) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            let mut list = Vec::new();
            while !r.is_empty() {
                list.push(parse_distribution_point(&r.tagged(der::SEQUENCE)?)?);
            }
            ext.crl_distribution_points = Some(list);
        } else if oid::is(id, &oid::SUBJECT_KEY_ID) {
            ext.subject_key_id = Some(v.tagged(der::OCTET_STRING)?.value.to_vec());
        } else if oid::is(id, &oid::AUTHORITY_KEY_ID) {
            let mut r = v.tagged(der::SEQUENCE)?.reader();
            ext.authority_key_id = r.optional(der::ctx_prim(0))?.map(|k| k.value.to_vec());
        } else if critical && !is_known(id) {
            ext.unknown_critical = true;
        }
        Ok(())
    })?;
    Ok(ext)
}

fn parse_name_constraints(tlv: &Tlv<'_>) -> Result<NameConstraints, DerError> {
    let mut r = tlv.tagged(der::SEQUENCE)?.reader();
    let subtrees = |t: Tlv<'_>| -> Result<Vec<Subtree>, DerError> {
        let mut s = t.reader();
        let mut out = Vec::new();
        while !s.is_empty() {
            let mut st = s.tagged(der::SEQUENCE)?.reader();
            let base = GeneralName::parse(&st.any()?)?;
            // minimum/maximum: RFC 5280 profiles fix them at 0/absent; ignore.
            out.push(Subtree { base });
        }
        Ok(out)
    };
    let permitted = r.optional(der::ctx_cons(0))?.map(subtrees).transpose()?;
    let excluded = r
        .optional(der::ctx_cons(1))?
        .map(subtrees)
        .transpose()?
        .unwrap_or_default();
    r.finish()?;
    Ok(NameConstraints {
        permitted,
        excluded,
    })
}

/// `DistributionPoint ::= SEQUENCE { [0] name, [1] reasons, [2] cRLIssuer }`.
pub fn parse_distribution_point(tlv: &Tlv<'_>) -> Result<DistributionPoint, DerError> {
    let mut r = tlv.reader();
    let name = match r.optional(der::ctx_cons(0))? {
        Some(w) => Some(DpName::parse(&Tlv::parse_exact(w.value)?)?),
        None => None,
    };
    let reasons = r
        .optional(der::ctx_prim(1))?
        .map(|t| t.bit_flags())
        .transpose()?;
    let crl_issuer = r
        .optional(der::ctx_cons(2))?
        .map(|t| GeneralName::parse_seq(t.reader()))
        .transpose()?;
    r.finish()?;
    Ok(DistributionPoint {
        name,
        reasons,
        crl_issuer,
    })
}
