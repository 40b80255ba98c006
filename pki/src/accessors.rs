//! What certificate lookup and fetching need from a certificate beyond what validation exposes:
//! its addresses, what its key may be used for, and where its issuer can be fetched.

use crate::cert;
use crate::der::{self, Tlv};
use crate::{Certificate, oid};

const CA_ISSUERS: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-ad-ocsp: where the certificate's OCSP responder is.
pub(crate) const OCSP: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");

impl Certificate {
    /// Addresses in the subject's emailAddress attributes (matched before subjectAltName).
    pub fn subject_email_addresses(&self) -> Vec<String> {
        self.inner.subject.email_addresses()
    }

    /// rfc822Name entries of subjectAltName.
    pub fn san_email_addresses(&self) -> Vec<String> {
        self.inner
            .ext
            .subject_alt_names
            .iter()
            .filter_map(|n| match n {
                crate::name::GeneralName::Rfc822(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// True when the certificate may be used for `usage` and for nothing else, e.g. an
    /// encryption-only key (keyEncipherment without digitalSignature). Such a certificate is
    /// preferred for that operation.
    pub fn key_usage_fits_alone(&self, usage: crate::Usage) -> bool {
        use cert::key_usage as ku;
        let Some(bits) = self.inner.ext.key_usage else {
            return false;
        };
        let sign = ku::DIGITAL_SIGNATURE | ku::NON_REPUDIATION;
        let encrypt = ku::KEY_ENCIPHERMENT | ku::KEY_AGREEMENT | (1 << 3);
        match usage {
            crate::Usage::Sign => bits & sign != 0 && bits & encrypt == 0,
            crate::Usage::Encrypt => bits & encrypt != 0 && bits & sign == 0,
            crate::Usage::Any => false,
        }
    }

    pub fn is_ca(&self) -> bool {
        self.inner.is_ca()
    }

    /// Whether this certificate is an end entity's that may be used now for `usage` (keyUsage and
    /// extendedKeyUsage as RFC 8550 reads them) and, when given, for `email`: the same rule path
    /// validation applies to the end of a path, without the path. The browser picks the user's
    /// own digital IDs with it; the server then validates the whole path with the same rule.
    pub fn suits(&self, usage: crate::Usage, email: Option<&str>, time: crate::UnixTime) -> bool {
        !self.is_ca()
            && (self.not_before()..=self.not_after()).contains(&time)
            && crate::path::check_purpose(
                &self.inner,
                crate::path::Purpose::EndEntity { usage, email },
            )
            .is_ok()
    }

    /// Whether mail may be encrypted to this certificate's key: an end entity whose keyUsage,
    /// if any, allows key transport or key agreement. Such a key is what key recovery keeps a
    /// copy of; a key that may only sign never is.
    pub fn may_receive_encrypted(&self) -> bool {
        !self.is_ca() && crate::path::key_usage_fits(&self.inner, crate::Usage::Encrypt)
    }

    /// Whether this certificate's public key verifies `crl`'s signature and this certificate
    /// is the CRL's issuer by name.
    pub fn signed_crl(&self, crl: &crate::crl::Crl) -> bool {
        self.inner.subject == crl.issuer && crl.signed_by(&self.inner.public_key)
    }

    /// Authority Information Access caIssuers URIs (where the issuer's certificate is).
    pub fn ca_issuer_urls(&self) -> Vec<String> {
        access_urls(self, &CA_ISSUERS)
    }
}

/// The URIs Authority Information Access gives for `method` (id-ad-caIssuers, id-ad-ocsp).
pub(crate) fn access_urls(cert: &Certificate, method: &const_oid::ObjectIdentifier) -> Vec<String> {
    let Some(value) = extension_value(&cert.inner.der, &oid::AUTHORITY_INFO_ACCESS) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(seq) = Tlv::parse_exact(value).and_then(|t| t.tagged(der::SEQUENCE)) else {
        return out;
    };
    let mut r = seq.reader();
    while let Ok(ad) = r.tagged(der::SEQUENCE) {
        let mut a = ad.reader();
        let (Ok(found), Ok(location)) = (a.tagged(der::OID), a.any()) else {
            break;
        };
        // accessLocation uniformResourceIdentifier is [6] IA5String.
        if oid::is(found.value, method)
            && location.tag == der::ctx_prim(6)
            && let Ok(s) = std::str::from_utf8(location.value)
        {
            out.push(s.to_string());
        }
    }
    out
}

/// The extnValue contents of extension `want` in a DER certificate.
fn extension_value<'a>(
    certificate: &'a [u8],
    want: &const_oid::ObjectIdentifier,
) -> Option<&'a [u8]> {
    let outer = Tlv::parse_exact(certificate)
        .ok()?
        .tagged(der::SEQUENCE)
        .ok()?;
    let mut r = outer.reader();
    let tbs = r.tagged(der::SEQUENCE).ok()?;
    let mut t = tbs.reader();
    t.optional(der::ctx_cons(0)).ok()?;
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    for _ in 0..6 {
        t.any().ok()?;
    }
    t.optional(der::ctx_prim(1)).ok()?;
    t.optional(der::ctx_prim(2)).ok()?;
    let wrapper = t.optional(der::ctx_cons(3)).ok()??;
    let list = Tlv::parse_exact(wrapper.value).ok()?;
    let mut found = None;
    cert::for_each_extension(&list, |id, _critical, value| {
        if oid::is(id, want) {
            found = Some(value);
        }
        Ok(())
    })
    .ok()?;
    found
}
