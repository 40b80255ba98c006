//! Certificate revocation lists (RFC 5280 §5) and the revocation check of §6.3.3.
//!
//! A CRL is parsed once into a hash map from serial number to its entries, so a lookup costs
//! O(1) however long the list is: a 100,000-entry CRL is parsed once and then consulted per
//! message. Delta CRLs, indirect CRLs (cRLIssuer / certificateIssuer), issuing distribution
//! point scopes and reason partitions (onlySomeReasons) are all honoured.
//!
//! This module does no path validation: whoever calls [`status`] supplies a predicate that
//! says whether a CRL's signature comes from an acceptable, validated CRL issuer.

use std::collections::HashMap;

use super::cert::{self, AlgorithmId, Cert, CertError, DistributionPoint, DpName, PublicKey};
use super::der::{self, DerError, Tlv};
use super::name::{GeneralName, Name};
use super::oid;
use super::signature::{self, SignatureError};
use super::time::{self, UnixTime};

/// All reason flags (bits 1–8 of ReasonFlags; bit 0 is "unused").
pub const ALL_REASONS: u32 = 0x1fe;

/// CRLReason removeFromCRL: only meaningful in delta CRLs.
const REMOVE_FROM_CRL: u8 = 8;

/// IssuingDistributionPoint (RFC 5280 §5.2.5).
#[derive(Debug, Clone, Default)]
pub struct Idp {
    pub name: Option<DpName>,
    pub only_user: bool,
    pub only_ca: bool,
    pub only_some_reasons: Option<u32>,
    pub indirect: bool,
    pub only_attribute: bool,
}

/// One revoked-certificate entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// 0: the CRL issuer; k: `issuers[k - 1]` (from a certificateIssuer entry extension).
    issuer: u32,
    reason: Option<u8>,
}

/// A parsed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    /// Digest of the TBSCertList for its signature algorithm, computed at parse time: a large
    /// CRL is hashed once, not once per certificate checked against it.
    tbs_digest: Result<Vec<u8>, SignatureError>,
    pub signature_algorithm: AlgorithmId,
    pub signature: Vec<u8>,
    pub issuer: Name,
    pub this_update: UnixTime,
    pub next_update: Option<UnixTime>,
    /// CRL number, big-endian, leading zeros stripped.
    pub number: Option<Vec<u8>>,
    /// BaseCRLNumber when this is a delta CRL.
    pub delta_base: Option<Vec<u8>>,
    pub idp: Option<Idp>,
    /// DER of the IDP extension value, to compare scopes of a delta and its base exactly.
    idp_raw: Option<Vec<u8>>,
    /// Why the CRL cannot be used (unknown critical extension), if so.
    pub unusable: Option<&'static str>,
    /// certificateIssuer names used by entries of an indirect CRL.
    issuers: Vec<Vec<GeneralName>>,
    revoked: HashMap<Vec<u8>, Vec<Entry>>,
}

/// Bounds for hostile CRLs: entries and distinct certificateIssuer groups.
const MAX_ENTRIES: usize = 5_000_000;
const MAX_ISSUER_GROUPS: usize = 10_000;

fn strip_zeros(v: &[u8]) -> Vec<u8> {
    let skip = v.iter().take_while(|b| **b == 0).count();
    v[skip..].to_vec()
}

/// Compares two unsigned big-endian numbers with no leading zeros.
fn cmp_uint(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Crl {
    /// Parses a DER CRL once, indexing its entries by serial number.
    pub fn from_der(der: &[u8]) -> Result<Self, super::ParseError> {
        Ok(Self::parse(der)?)
    }

    fn parse(input: &[u8]) -> Result<Self, CertError> {
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
        let tbs_digest = signature::prehash(tbs_tlv.raw, &signature_algorithm);

        let mut t = tbs_tlv.reader();
        t.optional(der::INTEGER)?;
        if AlgorithmId::parse(&t.any()?)? != signature_algorithm {
            return Err(CertError::AlgorithmMismatch);
        }
        let issuer = Name::parse(&t.any()?)?;
        let this_update = time::parse(&t.any()?)?;
        let next_update = match t.optional(der::UTC_TIME)? {
            Some(tlv) => Some(time::parse(&tlv)?),
            None => t
                .optional(der::GENERALIZED_TIME)?
                .map(|tlv| time::parse(&tlv))
                .transpose()?,
        };

        let mut crl = Crl {
            der: Vec::new(),
            tbs_digest,
            signature_algorithm,
            signature,
            issuer,
            this_update,
            next_update,
            number: None,
            delta_base: None,
            idp: None,
            idp_raw: None,
            unusable: None,
            issuers: Vec::new(),
            revoked: HashMap::new(),
        };
        if let Some(list) = t.optional(der::SEQUENCE)? {
            crl.parse_entries(list)?;
        }
        if let Some(wrapper) = t.optional(der::ctx_cons(0))? {
            crl.parse_extensions(&Tlv::parse_exact(wrapper.value)?)?;
        }
        t.finish()?;
        crl.der = input.to_vec();
        Ok(crl)
    }

    fn parse_entries(&mut self, list: Tlv<'_>) -> Result<(), CertError> {
        let mut entries = list.reader();
        let mut current_issuer = 0u32;
        let mut count = 0usize;
        while !entries.is_empty() {
            count += 1;
            if count > MAX_ENTRIES {
                return Err(DerError::Invalid("CRL: too many entries").into());
            }
            let mut e = entries.tagged(der::SEQUENCE)?.reader();
            let serial = e.tagged(der::INTEGER)?.value.to_vec();
            time::parse(&e.any()?)?;
            let mut reason = None;
            if let Some(exts) = e.optional(der::SEQUENCE)? {
                cert::for_each_extension(&exts, |id, critical, value| {
                    let v = Tlv::parse_exact(value)?;
                    if oid::is(id, &oid::REASON_CODE) {
                        let code = v.tagged(der::ENUMERATED)?.small_uint()?;
                        reason = Some(u8::try_from(code).map_err(|_| DerError::Invalid("reason"))?);
                    } else if oid::is(id, &oid::CERTIFICATE_ISSUER) {
                        // §5.3.3: the issuer applies to this entry and all that follow it.
                        let names = GeneralName::parse_seq(v.tagged(der::SEQUENCE)?.reader())?;
                        if self.issuers.len() >= MAX_ISSUER_GROUPS {
                            return Err(
                                DerError::Invalid("CRL: too many certificate issuers").into()
                            );
                        }
                        self.issuers.push(names);
                        current_issuer = u32::try_from(self.issuers.len()).unwrap_or(u32::MAX);
                    } else if critical
                        && !oid::is(id, &oid::INVALIDITY_DATE)
                        && !oid::is(id, &oid::HOLD_INSTRUCTION)
                    {
                        // §6.3.3 via §5.3: a critical entry extension we cannot process means
                        // the CRL cannot decide anything.
                        self.unusable = Some("unknown critical CRL entry extension");
                    }
                    Ok(())
                })?;
            }
            e.finish()?;
            self.revoked.entry(serial).or_default().push(Entry {
                issuer: current_issuer,
                reason,
            });
        }
        Ok(())
    }

    fn parse_extensions(&mut self, exts: &Tlv<'_>) -> Result<(), CertError> {
        cert::for_each_extension(exts, |id, critical, value| {
            let v = Tlv::parse_exact(value)?;
            if oid::is(id, &oid::CRL_NUMBER) {
                self.number = Some(strip_zeros(v.tagged(der::INTEGER)?.value));
            } else if oid::is(id, &oid::DELTA_CRL_INDICATOR) {
                self.delta_base = Some(strip_zeros(v.tagged(der::INTEGER)?.value));
            } else if oid::is(id, &oid::ISSUING_DISTRIBUTION_POINT) {
                self.idp = Some(parse_idp(&v)?);
                self.idp_raw = Some(value.to_vec());
            } else if critical
                && !oid::is(id, &oid::AUTHORITY_KEY_ID)
                && !oid::is(id, &oid::ISSUER_ALT_NAME)
                && !oid::is(id, &oid::FRESHEST_CRL)
            {
                self.unusable = Some("unknown critical CRL extension");
            }
            Ok(())
        })
    }

    /// Whether `key` signed this CRL.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        self.tbs_digest.as_ref().is_ok_and(|digest| {
            signature::verify_prehashed(digest, &self.signature_algorithm, &self.signature, key)
                .is_ok()
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn is_delta(&self) -> bool {
        self.delta_base.is_some()
    }

    /// Current at `now`: issued already and not past its next update. A CRL without
    /// nextUpdate (which RFC 5280 forbids issuers to produce) is treated as current.
    pub fn is_current(&self, now: UnixTime) -> bool {
        self.this_update <= now && self.next_update.is_none_or(|next| now <= next)
    }

    pub fn is_indirect(&self) -> bool {
        self.idp.as_ref().is_some_and(|i| i.indirect)
    }

    pub fn len(&self) -> usize {
        self.revoked.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// The reason recorded for `cert` if this CRL lists it (`Some(None)` when no reason code).
    pub fn lookup(&self, cert: &Cert) -> Option<Option<u8>> {
        let entries = self.revoked.get(&cert.serial)?;
        entries
            .iter()
            .find(|e| self.entry_issuer_is(e, &cert.issuer))
            .map(|e| e.reason)
    }

    fn entry_issuer_is(&self, entry: &Entry, issuer: &Name) -> bool {
        // certificateIssuer only has meaning in an indirect CRL.
        if entry.issuer == 0 || !self.is_indirect() {
            return &self.issuer == issuer;
        }
        usize::try_from(entry.issuer - 1)
            .ok()
            .and_then(|i| self.issuers.get(i))
            .is_some_and(|names| {
                names
                    .iter()
                    .any(|n| matches!(n, GeneralName::Directory(d) if d == issuer))
            })
    }

    /// Whether `self` is a usable delta for the complete CRL `base` (§5.2.4, §6.3.3 (c)).
    fn is_delta_for(&self, base: &Crl, now: UnixTime) -> bool {
        let (Some(base_number), Some(delta_base)) = (&base.number, &self.delta_base) else {
            return false;
        };
        self.unusable.is_none()
            && self.issuer == base.issuer
            && self.idp_raw == base.idp_raw
            && self.is_current(now)
            && cmp_uint(base_number, delta_base).is_ge()
            && self
                .number
                .as_ref()
                .is_some_and(|n| cmp_uint(n, base_number).is_gt())
    }
}

fn parse_idp(tlv: &Tlv<'_>) -> Result<Idp, DerError> {
    let mut r = tlv.tagged(der::SEQUENCE)?.reader();
    let mut idp = Idp::default();
    if let Some(w) = r.optional(der::ctx_cons(0))? {
        idp.name = Some(DpName::parse(&Tlv::parse_exact(w.value)?)?);
    }
    let flag = |t: Tlv<'_>| t.boolean();
    idp.only_user = r
        .optional(der::ctx_prim(1))?
        .map(flag)
        .transpose()?
        .unwrap_or(false);
    idp.only_ca = r
        .optional(der::ctx_prim(2))?
        .map(flag)
        .transpose()?
        .unwrap_or(false);
    idp.only_some_reasons = r
        .optional(der::ctx_prim(3))?
        .map(|t| t.bit_flags())
        .transpose()?;
    idp.indirect = r
        .optional(der::ctx_prim(4))?
        .map(flag)
        .transpose()?
        .unwrap_or(false);
    idp.only_attribute = r
        .optional(der::ctx_prim(5))?
        .map(flag)
        .transpose()?
        .unwrap_or(false);
    r.finish()?;
    Ok(idp)
}

/// A CRL that would be needed to decide a certificate's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MissingCrl {
    /// The CRL issuer's name, for display.
    pub issuer: String,
    /// Where the certificate says the CRL is published (empty if it does not say).
    pub urls: Vec<String>,
}

impl std::fmt::Display for MissingCrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.urls.is_empty() {
            write!(f, "a CRL from {}", self.issuer)
        } else {
            write!(f, "{}", self.urls.join(" "))
        }
    }
}

/// The outcome of §6.3.3 for one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked {
        reason: Option<u8>,
    },
    /// No set of current, correctly signed CRLs covers every reason. `missing` lists the
    /// CRLs that would have to be fetched.
    Undetermined {
        missing: Vec<MissingCrl>,
    },
}

/// RFC 5280 §6.3.3 for `cert`, using every supplied CRL; `signer_ok` checks a CRL's signature
/// and the validity of whoever signed it.
pub fn status(
    cert: &Cert,
    crls: &[Crl],
    now: UnixTime,
    signer_ok: &mut dyn FnMut(&Crl) -> bool,
) -> Status {
    // A certificate without CRL distribution points is covered by its issuer's full CRLs.
    let implicit = [DistributionPoint {
        name: None,
        reasons: None,
        crl_issuer: None,
    }];
    let dps: &[DistributionPoint] = cert
        .ext
        .crl_distribution_points
        .as_deref()
        .unwrap_or(&implicit);
    let mut reasons_mask = 0u32;
    let mut missing = Vec::new();

    for dp in dps {
        let before = reasons_mask;
        for crl in crls.iter().filter(|c| !c.is_delta()) {
            if reasons_mask == ALL_REASONS {
                break;
            }
            if crl.unusable.is_some() || !crl.is_current(now) || !in_scope(crl, cert, dp) {
                continue;
            }
            let interim = dp.reasons.unwrap_or(ALL_REASONS)
                & crl
                    .idp
                    .as_ref()
                    .and_then(|i| i.only_some_reasons)
                    .unwrap_or(ALL_REASONS)
                & ALL_REASONS;
            if interim & !reasons_mask == 0 || !signer_ok(crl) {
                continue;
            }
            // (i)/(j): a current delta for this CRL speaks first; removeFromCRL there
            // cancels a hold listed in the complete CRL.
            let delta = crls
                .iter()
                .filter(|d| d.is_delta_for(crl, now))
                .find(|d| signer_ok(d));
            let listed = match delta.and_then(|d| d.lookup(cert)) {
                Some(r) => Some(r),
                None => crl.lookup(cert),
            };
            match listed {
                Some(Some(REMOVE_FROM_CRL)) | None => {}
                Some(reason) => return Status::Revoked { reason },
            }
            reasons_mask |= interim;
        }
        if reasons_mask == before && reasons_mask != ALL_REASONS {
            missing.push(describe(dp, cert));
        }
        if reasons_mask == ALL_REASONS {
            return Status::Good;
        }
    }
    if reasons_mask == ALL_REASONS {
        Status::Good
    } else {
        if missing.is_empty() {
            // Every distribution point gave something, but not every reason: ask for all.
            missing.push(MissingCrl {
                issuer: cert.issuer.to_string(),
                urls: dps.iter().flat_map(dp_urls).collect(),
            });
        }
        Status::Undetermined { missing }
    }
}

/// §6.3.3 (b): is `crl` the right issuer's, and does its scope include `cert` via `dp`?
fn in_scope(crl: &Crl, cert: &Cert, dp: &DistributionPoint) -> bool {
    match &dp.crl_issuer {
        Some(names) => {
            if !crl.is_indirect() || !names_include_dn(names, &crl.issuer) {
                return false;
            }
        }
        None => {
            if crl.issuer != cert.issuer {
                return false;
            }
        }
    }
    let Some(idp) = &crl.idp else {
        return true;
    };
    if let Some(idp_name) = &idp.name {
        let idp_names = idp_name.full_names(&crl.issuer);
        let matched = match &dp.name {
            Some(dp_name) => {
                let base = dp
                    .crl_issuer
                    .as_deref()
                    .and_then(first_dn)
                    .unwrap_or(&cert.issuer);
                dp_name
                    .full_names(base)
                    .iter()
                    .any(|n| idp_names.iter().any(|m| m.same_as(n)))
            }
            None => dp
                .crl_issuer
                .as_deref()
                .is_some_and(|ci| ci.iter().any(|n| idp_names.iter().any(|m| m.same_as(n)))),
        };
        if !matched {
            return false;
        }
    }
    if idp.only_attribute || (idp.only_user && cert.is_ca()) || (idp.only_ca && !cert.is_ca()) {
        return false;
    }
    true
}

fn names_include_dn(names: &[GeneralName], dn: &Name) -> bool {
    names
        .iter()
        .any(|n| matches!(n, GeneralName::Directory(d) if d == dn))
}

fn first_dn(names: &[GeneralName]) -> Option<&Name> {
    names.iter().find_map(|n| match n {
        GeneralName::Directory(d) => Some(d),
        _ => None,
    })
}

fn dp_urls(dp: &DistributionPoint) -> Vec<String> {
    match &dp.name {
        Some(DpName::Full(names)) => names
            .iter()
            .filter_map(|n| match n {
                GeneralName::Uri(u) => Some(u.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What a caller would have to fetch for `dp`.
fn describe(dp: &DistributionPoint, cert: &Cert) -> MissingCrl {
    let issuer = dp
        .crl_issuer
        .as_deref()
        .and_then(first_dn)
        .unwrap_or(&cert.issuer);
    MissingCrl {
        issuer: issuer.to_string(),
        urls: dp_urls(dp),
    }
}
