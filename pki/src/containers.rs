//! The containers certificates come in: DER, PEM (RFC 7468) and PKCS#7 "certs-only" bundles
//! (`.p7b`/`.p7c` files, `userSMIMECertificate` values, AIA caIssuers answers). Reading only:
//! nothing here opens a file or a connection.

use crate::cert::CertError;
use crate::der::{self, Tlv};
use crate::{Certificate, oid};

/// Every PEM block labelled `label` in `text` (other blocks and text around them are ignored).
pub fn pem_blocks(text: &[u8], label: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let Ok(text) = std::str::from_utf8(text) else {
        return Vec::new();
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else {
            break;
        };
        // RFC 7468 allows headers (old OpenSSL "Proc-Type:" style): skip lines with a colon.
        let b64: String = after[..stop]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(bytes);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// True when `bytes` looks like PEM text rather than DER.
pub fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

const SIGNED_DATA: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const DATA: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

/// The certificates inside a PKCS#7 / CMS SignedData (a `.p7b`/`.p7c` "certs-only" bundle, or
/// a `userSMIMECertificate` value). Each is returned as DER, unparsed.
pub fn pkcs7_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, crate::ParseError> {
    Ok(read_pkcs7(input)?)
}

fn read_pkcs7(input: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let mut ci = Tlv::parse_exact(input)?.tagged(der::SEQUENCE)?.reader();
    if !oid::is(ci.tagged(der::OID)?.value, &SIGNED_DATA) {
        return Err(der::DerError::Invalid("PKCS#7: not SignedData").into());
    }
    let explicit = ci.tagged(der::ctx_cons(0))?;
    ci.finish()?;
    let mut sd = Tlv::parse_exact(explicit.value)?
        .tagged(der::SEQUENCE)?
        .reader();
    sd.tagged(der::INTEGER)?;
    sd.tagged(der::SET)?;
    sd.tagged(der::SEQUENCE)?;
    let mut out = Vec::new();
    if let Some(certs) = sd.optional(der::ctx_cons(0))? {
        let mut r = certs.reader();
        while !r.is_empty() {
            let item = r.any()?;
            // CertificateChoices: only plain certificates (SEQUENCE) are of use here.
            if item.tag == der::SEQUENCE {
                out.push(item.raw.to_vec());
            }
        }
    }
    Ok(out)
}

/// A degenerate (certs-only, unsigned) PKCS#7 SignedData holding `certs` — the form
/// `userSMIMECertificate` and `.p7b` files use.
pub fn pkcs7_certs_only(certs: &[&[u8]]) -> Vec<u8> {
    // DER SET OF is sorted by encoding; sort so equal sets give equal bytes.
    let mut sorted: Vec<&[u8]> = certs.to_vec();
    sorted.sort();
    sorted.dedup();
    let cert_set = der::element(der::ctx_cons(0), &sorted.concat());
    let signed_data = der::element(
        der::SEQUENCE,
        &[
            der::element(der::INTEGER, &[1]),
            der::element(der::SET, &[]),
            der::element(der::SEQUENCE, &der::element(der::OID, DATA.as_bytes())),
            cert_set,
            der::element(der::SET, &[]),
        ]
        .concat(),
    );
    der::element(
        der::SEQUENCE,
        &[
            der::element(der::OID, SIGNED_DATA.as_bytes()),
            der::element(der::ctx_cons(0), &signed_data),
        ]
        .concat(),
    )
}

/// Every certificate in a file's bytes: PEM (CERTIFICATE or PKCS7 blocks), a PKCS#7 bundle,
/// or a single DER certificate. Unreadable input gives an error, never a panic.
pub fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, crate::ParseError> {
    if is_pem(bytes) {
        let mut out = pem_blocks(bytes, "CERTIFICATE");
        for p7 in pem_blocks(bytes, "PKCS7") {
            out.extend(pkcs7_certificates(&p7)?);
        }
        return Ok(out);
    }
    if let Ok(certs) = read_pkcs7(bytes) {
        return Ok(certs);
    }
    Certificate::from_der(bytes)?;
    Ok(vec![bytes.to_vec()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &[u8] = include_bytes!("testdata/alice.der");
    const INTER: &[u8] = include_bytes!("testdata/inter.der");

    #[test]
    fn pkcs7_round_trip_keeps_the_set() {
        let p7 = pkcs7_certs_only(&[ALICE, INTER, ALICE]);
        let mut back = pkcs7_certificates(&p7).unwrap();
        back.sort();
        let mut want = vec![ALICE.to_vec(), INTER.to_vec()];
        want.sort();
        assert_eq!(back, want);
        assert_eq!(
            p7,
            pkcs7_certs_only(&[INTER, ALICE]),
            "same set, same bytes"
        );
    }

    #[test]
    fn hostile_containers_are_errors() {
        assert!(pkcs7_certificates(b"").is_err());
        assert!(pkcs7_certificates(&[0x30, 0x84, 0xff, 0xff]).is_err());
        let p7 = pkcs7_certs_only(&[ALICE]);
        for cut in 0..p7.len() {
            assert!(pkcs7_certificates(&p7[..cut]).is_err());
        }
        assert!(certificates_in(b"not a certificate").is_err());
    }

    #[test]
    fn pem_blocks_are_found_among_text() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(ALICE);
        let text = format!("junk\n-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        assert_eq!(
            certificates_in(text.as_bytes()).unwrap(),
            vec![ALICE.to_vec()]
        );
    }
}
