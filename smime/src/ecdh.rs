//! Elliptic-curve key agreement for CMS (RFC 5753): ephemeral-static ECDH on P-256 and P-384,
//! the ANSI X9.63 KDF, and AES key wrap (RFC 3394) of the content-encryption key.
//!
//! We write dhSinglePass-stdDH-sha256kdf-scheme for P-256 and -sha384kdf for P-384, and read
//! the SHA-1 variant openssl sends by default as well as SHA-256/384/512 on either curve.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey,
    OriginatorPublicKey, RecipientEncryptedKey, RecipientInfo, RecipientKeyIdentifier,
};
use der::asn1::{BitString, ObjectIdentifier as Oid, OctetString};
use der::{Any, Decode, Encode};
use p256::elliptic_curve::Generate;
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

use crate::algorithms::DigestAlgorithm;
use crate::ber::{Tag, push_element};
use crate::error::{Error, Result};
use crate::keys::{p256_shared_secret, p384_shared_secret};

/// RFC 5753 §7.1.4 key agreement algorithms (standard, not cofactor, DH).
pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;
    pub const STD_DH_SHA1_KDF: Oid = Oid::new_unwrap("1.3.133.16.840.63.0.2");
    pub const STD_DH_SHA256_KDF: Oid = Oid::new_unwrap("1.3.132.1.11.1");
    pub const STD_DH_SHA384_KDF: Oid = Oid::new_unwrap("1.3.132.1.11.2");
    pub const STD_DH_SHA512_KDF: Oid = Oid::new_unwrap("1.3.132.1.11.3");
    /// RFC 3565 key wrap.
    pub const AES128_WRAP: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.5");
    pub const AES192_WRAP: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.25");
    pub const AES256_WRAP: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.45");
}

/// The KDF digest of a key agreement algorithm.
pub(crate) fn kdf_digest(algorithm: &Oid) -> Option<DigestAlgorithm> {
    match *algorithm {
        a if a == oid::STD_DH_SHA1_KDF => Some(DigestAlgorithm::Sha1),
        a if a == oid::STD_DH_SHA256_KDF => Some(DigestAlgorithm::Sha256),
        a if a == oid::STD_DH_SHA384_KDF => Some(DigestAlgorithm::Sha384),
        a if a == oid::STD_DH_SHA512_KDF => Some(DigestAlgorithm::Sha512),
        _ => None,
    }
}

/// The KEK length of a key wrap algorithm.
pub(crate) fn wrap_key_len(algorithm: &Oid) -> Option<usize> {
    match *algorithm {
        a if a == oid::AES128_WRAP => Some(16),
        a if a == oid::AES192_WRAP => Some(24),
        a if a == oid::AES256_WRAP => Some(32),
        _ => None,
    }
}

fn wrap_oid(key_len: usize) -> Option<Oid> {
    match key_len {
        16 => Some(oid::AES128_WRAP),
        24 => Some(oid::AES192_WRAP),
        32 => Some(oid::AES256_WRAP),
        _ => None,
    }
}

/// ECC-CMS-SharedInfo (RFC 5753 §7.2): key wrap algorithm, optional UKM, KEK length in bits.
fn shared_info(wrap: &Oid, ukm: Option<&[u8]>, kek_len: usize) -> Result<Vec<u8>> {
    let mut fields = AlgorithmIdentifierOwned {
        oid: *wrap,
        parameters: None,
    }
    .to_der()?;
    if let Some(ukm) = ukm {
        let ukm = OctetString::new(ukm)?.to_der()?;
        push_element(
            Tag {
                class: 2,
                constructed: true,
                number: 0,
            },
            true,
            &ukm,
            &mut fields,
        );
    }
    let bits = OctetString::new(((kek_len * 8) as u32).to_be_bytes().to_vec())?.to_der()?;
    push_element(
        Tag {
            class: 2,
            constructed: true,
            number: 2,
        },
        true,
        &bits,
        &mut fields,
    );
    let mut out = Vec::new();
    push_element(
        Tag {
            class: 0,
            constructed: true,
            number: 16,
        },
        true,
        &fields,
        &mut out,
    );
    Ok(out)
}

/// ANSI X9.63 KDF: Hash(Z || counter || SharedInfo) for counter = 1, 2, … until enough bytes.
fn x963_kdf(
    digest: DigestAlgorithm,
    z: &[u8],
    shared_info: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut input = Zeroizing::new(Vec::with_capacity(z.len() + 4 + shared_info.len()));
        input.extend_from_slice(z);
        input.extend_from_slice(&counter.to_be_bytes());
        input.extend_from_slice(shared_info);
        out.extend_from_slice(&digest.digest(&input));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Derive the key-encryption key from the shared secret Z.
pub(crate) fn derive_kek(
    digest: DigestAlgorithm,
    wrap: &Oid,
    ukm: Option<&[u8]>,
    z: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let kek_len =
        wrap_key_len(wrap).ok_or_else(|| Error::UnsupportedAlgorithm(wrap.to_string()))?;
    Ok(x963_kdf(
        digest,
        z,
        &shared_info(wrap, ukm, kek_len)?,
        kek_len,
    ))
}

/// AES key wrap (RFC 3394) of a content key.
fn wrap_key(kek: &[u8], key: &[u8]) -> Result<Vec<u8>> {
    use aes_kw::cipher::KeyInit;
    let mut out = vec![0u8; key.len() + 8];
    let fail = |_| Error::UnsupportedAlgorithm("AES key wrap".into());
    let wrapped_len = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .wrap_key(key, &mut out)
            .map_err(fail)?
            .len(),
        24 => aes_kw::KwAes192::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .wrap_key(key, &mut out)
            .map_err(fail)?
            .len(),
        _ => aes_kw::KwAes256::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .wrap_key(key, &mut out)
            .map_err(fail)?
            .len(),
    };
    out.truncate(wrapped_len);
    Ok(out)
}

/// AES key unwrap; the integrity check failing is a decryption failure like any other.
pub(crate) fn unwrap_key(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    use aes_kw::cipher::KeyInit;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let fail = |_| Error::DecryptionFailed;
    let len = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .unwrap_key(wrapped, &mut out)
            .map_err(fail)?
            .len(),
        24 => aes_kw::KwAes192::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .unwrap_key(wrapped, &mut out)
            .map_err(fail)?
            .len(),
        32 => aes_kw::KwAes256::new_from_slice(kek)
            .map_err(|_| Error::DecryptionFailed)?
            .unwrap_key(wrapped, &mut out)
            .map_err(fail)?
            .len(),
        _ => return Err(Error::DecryptionFailed),
    };
    out.truncate(len);
    Ok(out)
}

/// The sender's side of one ephemeral-static agreement.
struct EphemeralAgreement {
    /// The ephemeral public point (SEC1, uncompressed) sent as originatorKey.
    public: Box<[u8]>,
    shared_secret: Zeroizing<Vec<u8>>,
}

/// A recipient's static EC public key.
pub(crate) enum RecipientKey {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
}

impl RecipientKey {
    /// A fresh ephemeral key pair: its public point and the shared secret with the recipient.
    fn agree_ephemeral(&self, rng: &mut dyn CryptoRng) -> Result<EphemeralAgreement> {
        match self {
            Self::P256(recipient) => {
                let ephemeral = p256::NonZeroScalar::generate_from_rng(rng);
                let public = p256::PublicKey::from_secret_scalar(&ephemeral).to_sec1_bytes();
                let shared_secret = p256_shared_secret(&ephemeral, &recipient.to_sec1_bytes())
                    .map_err(|_| Error::DecryptionFailed)?;
                Ok(EphemeralAgreement {
                    public,
                    shared_secret,
                })
            }
            Self::P384(recipient) => {
                let ephemeral = p384::NonZeroScalar::generate_from_rng(rng);
                let public = p384::PublicKey::from_secret_scalar(&ephemeral).to_sec1_bytes();
                let shared_secret = p384_shared_secret(&ephemeral, &recipient.to_sec1_bytes())
                    .map_err(|_| Error::DecryptionFailed)?;
                Ok(EphemeralAgreement {
                    public,
                    shared_secret,
                })
            }
        }
    }

    /// KDF digest matched to the curve's strength (as in RFC 6318's Suite B profile).
    fn kdf(&self) -> (DigestAlgorithm, Oid) {
        match self {
            Self::P256(_) => (DigestAlgorithm::Sha256, oid::STD_DH_SHA256_KDF),
            Self::P384(_) => (DigestAlgorithm::Sha384, oid::STD_DH_SHA384_KDF),
        }
    }
}

/// A KeyAgreeRecipientInfo delivering `content_key` to an EC recipient, with a fresh
/// ephemeral key (one per recipient, so no originator key is ever reused).
pub(crate) fn recipient_info(
    recipient: &RecipientKey,
    issuer_and_serial: IssuerAndSerialNumber,
    ski: Option<Vec<u8>>,
    content_key: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<RecipientInfo> {
    let EphemeralAgreement {
        public: ephemeral_public,
        shared_secret: z,
    } = recipient.agree_ephemeral(rng)?;
    let (kdf_digest, key_agreement_oid) = recipient.kdf();
    let wrap = wrap_oid(content_key.len())
        .ok_or_else(|| Error::UnsupportedAlgorithm("content key length".into()))?;
    let kek = derive_kek(kdf_digest, &wrap, None, &z)?;
    let encrypted_key = wrap_key(&kek, content_key)?;
    let rid = match ski {
        Some(ski) => KeyAgreeRecipientIdentifier::RKeyId(RecipientKeyIdentifier {
            subject_key_identifier: SubjectKeyIdentifier(OctetString::new(ski)?),
            date: None,
            other: None,
        }),
        None => KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial),
    };
    let wrap_id = AlgorithmIdentifierOwned {
        oid: wrap,
        parameters: None,
    };
    Ok(RecipientInfo::Kari(KeyAgreeRecipientInfo {
        version: CmsVersion::V3,
        originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
            // RFC 5753 §7.1.1: id-ecPublicKey with parameters absent.
            algorithm: AlgorithmIdentifierOwned {
                oid: crate::algorithms::oid::EC_PUBLIC_KEY,
                parameters: None,
            },
            public_key: BitString::from_bytes(&ephemeral_public)?,
        }),
        ukm: None,
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: key_agreement_oid,
            parameters: Some(Any::from_der(&wrap_id.to_der()?)?),
        },
        recipient_enc_keys: vec![RecipientEncryptedKey {
            rid,
            enc_key: OctetString::new(encrypted_key)?,
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_wrap_round_trip_and_integrity() {
        let kek = [3u8; 16];
        let wrapped = wrap_key(&kek, &[9u8; 32]).unwrap();
        assert_eq!(wrapped.len(), 40);
        assert_eq!(unwrap_key(&kek, &wrapped).unwrap().as_slice(), &[9u8; 32]);
        let mut bad = wrapped.clone();
        bad[0] ^= 1;
        assert!(matches!(
            unwrap_key(&kek, &bad),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn rfc3394_test_vector() {
        // RFC 3394 §4.1: 128-bit key data wrapped with a 128-bit KEK.
        let kek: Vec<u8> = (0u8..16).collect();
        let data = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        let expected = [
            0x1f, 0xa6, 0x8b, 0x0a, 0x81, 0x12, 0xb4, 0x47, 0xae, 0xf3, 0x4b, 0xd8, 0xfb, 0x5a,
            0x7b, 0x82, 0x9d, 0x3e, 0x86, 0x23, 0x71, 0xd2, 0xcf, 0xe5,
        ];
        assert_eq!(wrap_key(&kek, &data).unwrap(), expected);
    }

    #[test]
    fn kdf_counter_starts_at_one_and_truncates() {
        let out = x963_kdf(DigestAlgorithm::Sha256, b"z", b"info", 40);
        let first = DigestAlgorithm::Sha256.digest(b"z\x00\x00\x00\x01info");
        let second = DigestAlgorithm::Sha256.digest(b"z\x00\x00\x00\x02info");
        assert_eq!(&out[..32], &first[..]);
        assert_eq!(&out[32..], &second[..8]);
    }

    #[test]
    fn shared_info_encoding() {
        let info = shared_info(&oid::AES128_WRAP, None, 16).unwrap();
        // SEQUENCE { SEQUENCE { OID aes128-wrap }, [2] { OCTET STRING 00 00 00 80 } }
        assert_eq!(info[0], 0x30);
        assert!(info.ends_with(&[0xa2, 0x06, 0x04, 0x04, 0x00, 0x00, 0x00, 0x80]));
    }
}
