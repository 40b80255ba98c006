//! Object identifiers this module recognises, compared as DER contents octets.
//!
//! Those the S/MIME engine speaks too (algorithms, keys, curves, digests, the e-mail attribute)
//! are const-oid's, named after their RFC module, so the two crates share one definition; the
//! rest are spelled out, each under the RFC section that defines it.

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
pub const EMAIL_ADDRESS_ATTR: Oid = const_oid::db::rfc2985::PKCS_9_AT_EMAIL_ADDRESS;

// Public keys.
pub const RSA_ENCRYPTION: Oid = const_oid::db::rfc5912::RSA_ENCRYPTION;
pub const EC_PUBLIC_KEY: Oid = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
pub const SECP256R1: Oid = const_oid::db::rfc5912::SECP_256_R_1;
pub const SECP384R1: Oid = const_oid::db::rfc5912::SECP_384_R_1;
pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");

// Signature algorithms.
pub const SHA1_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_1_WITH_RSA_ENCRYPTION;
pub const SHA256_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
pub const SHA384_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_384_WITH_RSA_ENCRYPTION;
pub const SHA512_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_512_WITH_RSA_ENCRYPTION;
pub const RSASSA_PSS: Oid = const_oid::db::rfc5912::ID_RSASSA_PSS;
pub const MGF1: Oid = const_oid::db::rfc5912::ID_MGF_1;
pub const ECDSA_SHA256: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
pub const ECDSA_SHA384: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_384;
pub const ECDSA_SHA512: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_512;
pub const DSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
pub const DSA_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.2");

// Digests (inside RSASSA-PSS parameters).
pub const SHA1: Oid = const_oid::db::rfc5912::ID_SHA_1;
pub const SHA256: Oid = const_oid::db::rfc5912::ID_SHA_256;
pub const SHA384: Oid = const_oid::db::rfc5912::ID_SHA_384;
pub const SHA512: Oid = const_oid::db::rfc5912::ID_SHA_512;

/// True when the contents octets `bytes` encode `oid`.
pub fn is(bytes: &[u8], oid: &Oid) -> bool {
    bytes == oid.as_bytes()
}
