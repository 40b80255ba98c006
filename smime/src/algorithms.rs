//! Algorithm identifiers: the OIDs this crate speaks, and what each may be used for.
//!
//! Object identifiers are spelled out here, grouped by the RFC that defines them, except those the
//! `pki` crate speaks too (digests, signature and key algorithms, curves, the e-mail attribute):
//! those are const-oid's, named after their RFC module (`db::rfc5912`), one definition for both.

pub use der::asn1::ObjectIdentifier as Oid;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Object identifiers, grouped by where they are defined.
pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    // RFC 5652 content types and attributes.
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
    /// RFC 5083.
    pub const AUTH_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.23");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    /// RFC 8551 §2.5.2.
    pub const SMIME_CAPABILITIES: Oid = Oid::new_unwrap("1.2.840.113549.1.9.15");
    /// RFC 8551 §2.5.3 (id-aa-encrypKeyPref).
    pub const ENCRYPTION_KEY_PREFERENCE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.11");
    /// PKCS #9 emailAddress, still found in certificate subjects.
    pub const EMAIL_ADDRESS: Oid = const_oid::db::rfc2985::PKCS_9_AT_EMAIL_ADDRESS;

    // Digests (RFC 3370, RFC 5754).
    pub const SHA1: Oid = const_oid::db::rfc5912::ID_SHA_1;
    pub const SHA256: Oid = const_oid::db::rfc5912::ID_SHA_256;
    pub const SHA384: Oid = const_oid::db::rfc5912::ID_SHA_384;
    pub const SHA512: Oid = const_oid::db::rfc5912::ID_SHA_512;

    // RSA (RFC 8017, RFC 4055).
    pub const RSA_ENCRYPTION: Oid = const_oid::db::rfc5912::RSA_ENCRYPTION;
    pub const SHA1_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_1_WITH_RSA_ENCRYPTION;
    pub const SHA256_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    pub const SHA384_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_384_WITH_RSA_ENCRYPTION;
    pub const SHA512_WITH_RSA: Oid = const_oid::db::rfc5912::SHA_512_WITH_RSA_ENCRYPTION;
    pub const RSASSA_PSS: Oid = const_oid::db::rfc5912::ID_RSASSA_PSS;
    pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
    pub const MGF1: Oid = const_oid::db::rfc5912::ID_MGF_1;
    pub const P_SPECIFIED: Oid = Oid::new_unwrap("1.2.840.113549.1.1.9");

    // Elliptic curves (RFC 5480, RFC 5758).
    pub const EC_PUBLIC_KEY: Oid = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
    pub const SECP256R1: Oid = const_oid::db::rfc5912::SECP_256_R_1;
    pub const SECP384R1: Oid = const_oid::db::rfc5912::SECP_384_R_1;
    pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_WITH_SHA256: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
    pub const ECDSA_WITH_SHA384: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_384;
    pub const ECDSA_WITH_SHA512: Oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_512;

    // Content encryption (RFC 3565, RFC 5084, RFC 3370).
    pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
    pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
    pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
    pub const AES128_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.6");
    pub const AES256_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.46");
    pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
    pub const RC2_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.2");
}

/// A message digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// Accepted when verifying old mail only; results flag it as weak.
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The name people write: "SHA-256".
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    pub fn oid(self) -> Oid {
        match self {
            Self::Sha1 => oid::SHA1,
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    pub fn from_oid(oid: &Oid) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|d| d.oid() == *oid)
    }

    /// The `micalg` parameter of multipart/signed (RFC 8551 §3.5.3.2).
    pub fn micalg(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// SHA-1 is collision-broken; signatures made with it are reported, not trusted.
    pub fn is_weak(self) -> bool {
        self == Self::Sha1
    }

    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// How a signature value is computed from a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15,
    /// RSASSA-PSS with MGF1 on the same digest and a salt as long as the digest (RFC 4056).
    RsaPss,
    /// ECDSA; the value is a DER `Ecdsa-Sig-Value` (see [`crate::keys::ecdsa_raw_to_der`] for
    /// WebCrypto's `r || s` form).
    Ecdsa,
}

/// A signature algorithm as it appears in a SignerInfo: scheme plus digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureAlgorithm {
    pub scheme: SignatureScheme,
    pub digest: DigestAlgorithm,
}

impl SignatureAlgorithm {
    /// The name people write: "RSA PKCS#1 v1.5 with SHA-256".
    pub fn name(self) -> String {
        let scheme = match self.scheme {
            SignatureScheme::RsaPkcs1v15 => "RSA PKCS#1 v1.5",
            SignatureScheme::RsaPss => "RSA-PSS",
            SignatureScheme::Ecdsa => "ECDSA",
        };
        format!("{scheme} with {}", self.digest.name())
    }

    /// The one OID naming scheme and digest together ("ecdsa-with-SHA256",
    /// "sha256WithRSAEncryption"), as X.509 and CMS write them; RSA-PSS has none (its digest goes
    /// in the parameters).
    pub fn combined_oid(self) -> Option<Oid> {
        Some(match (self.scheme, self.digest) {
            (SignatureScheme::Ecdsa, DigestAlgorithm::Sha1) => oid::ECDSA_WITH_SHA1,
            (SignatureScheme::Ecdsa, DigestAlgorithm::Sha256) => oid::ECDSA_WITH_SHA256,
            (SignatureScheme::Ecdsa, DigestAlgorithm::Sha384) => oid::ECDSA_WITH_SHA384,
            (SignatureScheme::Ecdsa, DigestAlgorithm::Sha512) => oid::ECDSA_WITH_SHA512,
            (SignatureScheme::RsaPkcs1v15, DigestAlgorithm::Sha1) => oid::SHA1_WITH_RSA,
            (SignatureScheme::RsaPkcs1v15, DigestAlgorithm::Sha256) => oid::SHA256_WITH_RSA,
            (SignatureScheme::RsaPkcs1v15, DigestAlgorithm::Sha384) => oid::SHA384_WITH_RSA,
            (SignatureScheme::RsaPkcs1v15, DigestAlgorithm::Sha512) => oid::SHA512_WITH_RSA,
            (SignatureScheme::RsaPss, _) => return None,
        })
    }
}

/// A content-encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncryption {
    Aes128Cbc,
    Aes256Cbc,
    /// AuthEnvelopedData (RFC 5083/5084).
    Aes128Gcm,
    /// AuthEnvelopedData (RFC 5083/5084).
    Aes256Gcm,
}

impl ContentEncryption {
    /// Everything the engine can encrypt with, strongest first: what a signer announces in
    /// SMIMECapabilities so replies can use it.
    pub const STRONGEST_FIRST: [ContentEncryption; 4] = [
        Self::Aes256Gcm,
        Self::Aes128Gcm,
        Self::Aes256Cbc,
        Self::Aes128Cbc,
    ];

    pub fn oid(self) -> Oid {
        match self {
            Self::Aes128Cbc => oid::AES128_CBC,
            Self::Aes256Cbc => oid::AES256_CBC,
            Self::Aes128Gcm => oid::AES128_GCM,
            Self::Aes256Gcm => oid::AES256_GCM,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes128Gcm => 16,
            Self::Aes256Cbc | Self::Aes256Gcm => 32,
        }
    }

    /// True for the AEAD modes, which are sent as AuthEnvelopedData.
    pub fn is_authenticated(self) -> bool {
        matches!(self, Self::Aes128Gcm | Self::Aes256Gcm)
    }
}

/// A content-encryption algorithm's name for people ("AES-256-GCM", "3DES-CBC", …), for the
/// ones read as well as the ones written; the OID for anything else.
pub fn content_encryption_name(algorithm: &Oid) -> String {
    match *algorithm {
        a if a == oid::AES128_CBC => "AES-128-CBC".into(),
        a if a == oid::AES192_CBC => "AES-192-CBC".into(),
        a if a == oid::AES256_CBC => "AES-256-CBC".into(),
        a if a == oid::AES128_GCM => "AES-128-GCM".into(),
        a if a == oid::AES256_GCM => "AES-256-GCM".into(),
        a if a == oid::DES_EDE3_CBC => "3DES-CBC".into(),
        a if a == oid::RC2_CBC => "RC2-CBC".into(),
        a => a.to_string(),
    }
}

/// How the content-encryption key is delivered to an RSA recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyTransport {
    /// RSAES-PKCS1-v1_5: what every S/MIME client reads (gpgsm, Outlook, Thunderbird).
    #[default]
    RsaPkcs1v15,
    /// RSAES-OAEP with this digest for both the label hash and MGF1 (RFC 8017, RFC 4055). We
    /// write SHA-256; SHA-1 (openssl's default) and the others are read.
    RsaOaep(DigestAlgorithm),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_oids_round_trip() {
        for d in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(DigestAlgorithm::from_oid(&d.oid()), Some(d));
            assert_eq!(d.digest(b"abc").len(), d.output_len());
        }
        assert_eq!(DigestAlgorithm::from_oid(&oid::DATA), None);
    }

    #[test]
    fn sha256_known_answer() {
        let d = DigestAlgorithm::Sha256.digest(b"abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
