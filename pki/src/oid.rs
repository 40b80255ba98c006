//! Object identifiers this module recognises, compared as DER contents octets.

use const_oid::ObjectIdentifier as Oid;

// Certificate extensions (RFC 5280 §4.2).
pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
pub const ISSUER_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.18");
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub const NAME_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.30");
pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
pub const ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.32.0");
pub const POLICY_MAPPINGS: Oid = Oid::new_unwrap("2.5.29.33");
pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
pub const POLICY_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.36");
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub const FRESHEST_CRL: Oid = Oid::new_unwrap("2.5.29.46");
pub const INHIBIT_ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.54");
pub const AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
pub const SUBJECT_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.11");

// Extended key usages (RFC 5280 §4.2.1.12, RFC 8550 §4.4.4).
pub const ANY_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37.0");
pub const EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");

// CRL and CRL entry extensions (RFC 5280 §5.2, §5.3).
pub const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
pub const REASON_CODE: Oid = Oid::new_unwrap("2.5.29.21");
pub const HOLD_INSTRUCTION: Oid = Oid::new_unwrap("2.5.29.23");
pub const INVALIDITY_DATE: Oid = Oid::new_unwrap("2.5.29.24");
pub const DELTA_CRL_INDICATOR: Oid = Oid::new_unwrap("2.5.29.27");
pub const ISSUING_DISTRIBUTION_POINT: Oid = Oid::new_unwrap("2.5.29.28");
pub const CERTIFICATE_ISSUER: Oid = Oid::new_unwrap("2.5.29.29");

// Name attributes.
pub const EMAIL_ADDRESS_ATTR: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");

// Public keys.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");

// Signature algorithms.
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
pub const DSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
pub const DSA_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.2");

// Digests (inside RSASSA-PSS parameters).
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

/// True when the contents octets `bytes` encode `oid`.
pub fn is(bytes: &[u8], oid: &Oid) -> bool {
    bytes == oid.as_bytes()
}
