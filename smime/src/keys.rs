//! Keys. Private-key operations go through the [`Signer`] trait so soft keys, WebCrypto and smart
//! cards plug in alike; callers whose keys are asynchronous use the two-phase API instead
//! ([`crate::sign::prepare`] → sign the digest however they like → `finish`), which needs no
//! trait at all.
//!
//! Public-key operations (verification, key transport to recipients) are plain functions on
//! [`PublicKey`], decoded from a certificate's subjectPublicKeyInfo.

use der::Decode;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rand_core::CryptoRng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoOwned;
use thiserror::Error;

use crate::algorithms::{DigestAlgorithm, KeyTransport, SignatureAlgorithm, SignatureScheme, oid};
use rsa::{Oaep, Pkcs1v15Encrypt};
use zeroize::Zeroizing;

/// Why a key operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the key cannot do {0:?}")]
    WrongScheme(SignatureScheme),
    #[error("unsupported key type")]
    UnsupportedKey,
    #[error("malformed key")]
    Malformed,
    #[error("the operation failed: {0}")]
    Failed(String),
}

/// Something that signs a digest with a private key.
///
/// `digest` is the hash (with `algorithm.digest`) of the DER-encoded signed attributes. The
/// returned value is what goes into SignerInfo.signature: the RSA signature block, or the DER
/// `Ecdsa-Sig-Value` for ECDSA (raw `r || s` is accepted too and converted).
pub trait Signer {
    fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError>;
}

/// Something that decrypts a content-encryption key sent to it by RSA key transport.
///
/// Callers whose keys are asynchronous use [`crate::decrypt::Envelope`] instead: it lists the
/// encrypted keys meant for a certificate and takes the unwrapped key back.
pub trait Decryptor {
    fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// The ECDH shared secret (the x coordinate) with an originator's public key (a SEC1 point),
    /// for key agreement recipients (RFC 5753). Keys that cannot agree keep this default.
    fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let _ = originator_public_key;
        Err(KeyError::UnsupportedKey)
    }
}

/// A [`Signer`] whose operation may wait: a smart card over USB answers with a promise. Every
/// [`Signer`] is one, its future ready at once, so the engine has one code path for both.
// Single-threaded callers (the browser); the futures need not be Send.
#[allow(async_fn_in_trait)]
pub trait AsyncSigner {
    async fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError>;
}

impl<T: Signer + ?Sized> AsyncSigner for T {
    async fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError> {
        Signer::sign_digest(self, algorithm, digest, rng)
    }
}

/// A [`Decryptor`] whose operations may wait (a smart card); every [`Decryptor`] is one.
#[allow(async_fn_in_trait)]
pub trait AsyncDecryptor {
    async fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    async fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError>;
}

impl<T: Decryptor + ?Sized> AsyncDecryptor for T {
    async fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Decryptor::decrypt_key(self, transport, encrypted_key, rng)
    }

    async fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Decryptor::agree(self, originator_public_key)
    }
}

/// A private key held in memory (imported from PKCS#8).
pub enum SoftKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl core::fmt::Debug for SoftKey {
    // Never print key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "P-256",
            Self::P384(_) => "P-384",
        };
        write!(f, "SoftKey({kind})")
    }
}

impl SoftKey {
    /// Decode an unencrypted PKCS#8 PrivateKeyInfo (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(key) = RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(Self::Rsa(Box::new(key)));
        }
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P384(key));
        }
        Err(KeyError::UnsupportedKey)
    }

    /// Decode a `PRIVATE KEY` PEM block (unencrypted PKCS#8).
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(pem).map_err(|_| KeyError::Malformed)?;
        if label != "PRIVATE KEY" {
            return Err(KeyError::Malformed);
        }
        Self::from_pkcs8_der(&der)
    }

    /// Encode as an unencrypted PKCS#8 PrivateKeyInfo (DER), for callers that keep the key
    /// elsewhere (the browser stores it as a non-extractable WebCrypto key or wraps it itself).
    /// Zeroised on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use rsa::pkcs8::EncodePrivateKey;
        let document = match self {
            Self::Rsa(key) => key.to_pkcs8_der(),
            Self::P256(key) => key.to_pkcs8_der(),
            Self::P384(key) => key.to_pkcs8_der(),
        }
        .map_err(|_| KeyError::Malformed)?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// The public half as a SubjectPublicKeyInfo (DER), as a certificate or a certification
    /// request carries it.
    pub fn public_key_info_der(&self) -> Result<Vec<u8>, KeyError> {
        use rsa::pkcs8::EncodePublicKey;
        let document = match self {
            Self::Rsa(key) => key.to_public_key().to_public_key_der(),
            Self::P256(key) => key.verifying_key().to_public_key_der(),
            Self::P384(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(|_| KeyError::Malformed)?;
        Ok(document.as_bytes().to_vec())
    }

    /// How this key signs what it certifies of itself: PKCS#1 v1.5 or ECDSA, with SHA-256
    /// (SHA-384 for a P-384 key).
    pub fn default_signature_algorithm(&self) -> SignatureAlgorithm {
        match self {
            Self::Rsa(_) => SignatureAlgorithm {
                scheme: SignatureScheme::RsaPkcs1v15,
                digest: DigestAlgorithm::Sha256,
            },
            Self::P256(_) => SignatureAlgorithm {
                scheme: SignatureScheme::Ecdsa,
                digest: DigestAlgorithm::Sha256,
            },
            Self::P384(_) => SignatureAlgorithm {
                scheme: SignatureScheme::Ecdsa,
                digest: DigestAlgorithm::Sha384,
            },
        }
    }

    /// The RSA key, for key transport decryption.
    pub fn rsa(&self) -> Option<&RsaPrivateKey> {
        match self {
            Self::Rsa(key) => Some(key),
            _ => None,
        }
    }
}

impl Signer for SoftKey {
    fn sign_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError> {
        let failed = |e: &dyn core::fmt::Display| KeyError::Failed(e.to_string());
        match (self, algorithm.scheme) {
            (Self::Rsa(key), SignatureScheme::RsaPkcs1v15) => key
                .sign(pkcs1v15_padding(algorithm.digest), digest)
                .map_err(|e| failed(&e)),
            (Self::Rsa(key), SignatureScheme::RsaPss) => {
                let salt_len = algorithm.digest.output_len();
                match algorithm.digest {
                    DigestAlgorithm::Sha1 => {
                        key.sign_with_rng(rng, Pss::<Sha1>::new_with_salt(salt_len), digest)
                    }
                    DigestAlgorithm::Sha256 => {
                        key.sign_with_rng(rng, Pss::<Sha256>::new_with_salt(salt_len), digest)
                    }
                    DigestAlgorithm::Sha384 => {
                        key.sign_with_rng(rng, Pss::<Sha384>::new_with_salt(salt_len), digest)
                    }
                    DigestAlgorithm::Sha512 => {
                        key.sign_with_rng(rng, Pss::<Sha512>::new_with_salt(salt_len), digest)
                    }
                }
                .map_err(|e| failed(&e))
            }
            (Self::P256(key), SignatureScheme::Ecdsa) => {
                let sig: p256::ecdsa::Signature =
                    key.sign_prehash(digest).map_err(|e| failed(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Self::P384(key), SignatureScheme::Ecdsa) => {
                let sig: p384::ecdsa::Signature =
                    key.sign_prehash(digest).map_err(|e| failed(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (_, scheme) => Err(KeyError::WrongScheme(scheme)),
        }
    }
}

impl Decryptor for SoftKey {
    fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let Self::Rsa(key) = self else {
            return Err(KeyError::UnsupportedKey);
        };
        // Blinded: the RSA private operation must not leak timing (Marvin, Bleichenbacher).
        let result = match transport {
            KeyTransport::RsaPkcs1v15 => key.decrypt_blinded(rng, Pkcs1v15Encrypt, encrypted_key),
            KeyTransport::RsaOaep(DigestAlgorithm::Sha1) => {
                key.decrypt_blinded(rng, Oaep::<Sha1>::new(), encrypted_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha256) => {
                key.decrypt_blinded(rng, Oaep::<Sha256>::new(), encrypted_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha384) => {
                key.decrypt_blinded(rng, Oaep::<Sha384>::new(), encrypted_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha512) => {
                key.decrypt_blinded(rng, Oaep::<Sha512>::new(), encrypted_key)
            }
        };
        result
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Failed("key unwrap failed".into()))
    }

    fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let shared = match self {
            Self::P256(key) => p256_shared_secret(key.as_nonzero_scalar(), originator_public_key),
            Self::P384(key) => p384_shared_secret(key.as_nonzero_scalar(), originator_public_key),
            Self::Rsa(_) => return Err(KeyError::UnsupportedKey),
        };
        shared.map_err(|_| KeyError::Failed("key agreement failed".into()))
    }
}

/// The ECDH shared secret Z (the x coordinate) between a P-256 secret and a SEC1 public point:
/// the primitive of key agreement, for the recipient's key here and the sender's ephemeral one in
/// [`crate::ecdh`].
pub(crate) fn p256_shared_secret(
    secret: &p256::NonZeroScalar,
    public_point: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let public = p256::PublicKey::from_sec1_bytes(public_point).map_err(|_| KeyError::Malformed)?;
    let shared = p256::ecdh::diffie_hellman(secret, public.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

/// The same for P-384.
pub(crate) fn p384_shared_secret(
    secret: &p384::NonZeroScalar,
    public_point: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let public = p384::PublicKey::from_sec1_bytes(public_point).map_err(|_| KeyError::Malformed)?;
    let shared = p384::ecdh::diffie_hellman(secret, public.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

fn pkcs1v15_padding(digest: DigestAlgorithm) -> Pkcs1v15Sign {
    match digest {
        DigestAlgorithm::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
        DigestAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        DigestAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        DigestAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

/// A public key taken from a certificate.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Decode a DER subjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der).map_err(|_| KeyError::Malformed)?;
        let algorithm = spki.algorithm.oid;
        if algorithm == oid::RSA_ENCRYPTION {
            return RsaPublicKey::from_public_key_der(der)
                .map(Self::Rsa)
                .map_err(|_| KeyError::Malformed);
        }
        if algorithm != oid::EC_PUBLIC_KEY {
            return Err(KeyError::UnsupportedKey);
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
            .ok_or(KeyError::Malformed)?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::Malformed)?;
        if curve == oid::SECP256R1 {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Self::P256)
                .map_err(|_| KeyError::Malformed)
        } else if curve == oid::SECP384R1 {
            p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Self::P384)
                .map_err(|_| KeyError::Malformed)
        } else {
            Err(KeyError::UnsupportedKey)
        }
    }

    /// A short name for people: "RSA-2048", "P-256", "P-384".
    pub fn name(&self) -> String {
        use rsa::traits::PublicKeyParts;
        match self {
            Self::Rsa(key) => format!("RSA-{}", key.size() * 8),
            Self::P256(_) => "P-256".into(),
            Self::P384(_) => "P-384".into(),
        }
    }

    /// The signature scheme this key uses unless told otherwise.
    pub fn default_scheme(&self) -> SignatureScheme {
        match self {
            Self::Rsa(_) => SignatureScheme::RsaPkcs1v15,
            Self::P256(_) | Self::P384(_) => SignatureScheme::Ecdsa,
        }
    }

    /// Check a signature over a digest. For PSS, `pss_salt_len` is the salt length the signer
    /// announced.
    pub fn verify_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
        pss_salt_len: usize,
    ) -> Result<(), KeyError> {
        let bad = |_| KeyError::Failed("signature does not verify".into());
        match (self, algorithm.scheme) {
            (Self::Rsa(key), SignatureScheme::RsaPkcs1v15) => key
                .verify(pkcs1v15_padding(algorithm.digest), digest, signature)
                .map_err(bad),
            (Self::Rsa(key), SignatureScheme::RsaPss) => match algorithm.digest {
                DigestAlgorithm::Sha1 => {
                    key.verify(Pss::<Sha1>::new_with_salt(pss_salt_len), digest, signature)
                }
                DigestAlgorithm::Sha256 => key.verify(
                    Pss::<Sha256>::new_with_salt(pss_salt_len),
                    digest,
                    signature,
                ),
                DigestAlgorithm::Sha384 => key.verify(
                    Pss::<Sha384>::new_with_salt(pss_salt_len),
                    digest,
                    signature,
                ),
                DigestAlgorithm::Sha512 => key.verify(
                    Pss::<Sha512>::new_with_salt(pss_salt_len),
                    digest,
                    signature,
                ),
            }
            .map_err(bad),
            (Self::P256(key), SignatureScheme::Ecdsa) => {
                let sig =
                    p256::ecdsa::Signature::from_der(signature).map_err(|_| KeyError::Malformed)?;
                key.verify_prehash(digest, &sig)
                    .map_err(|_| KeyError::Failed("signature does not verify".into()))
            }
            (Self::P384(key), SignatureScheme::Ecdsa) => {
                let sig =
                    p384::ecdsa::Signature::from_der(signature).map_err(|_| KeyError::Malformed)?;
                key.verify_prehash(digest, &sig)
                    .map_err(|_| KeyError::Failed("signature does not verify".into()))
            }
            (_, scheme) => Err(KeyError::WrongScheme(scheme)),
        }
    }

    /// Encrypt a content-encryption key to this (RSA) key.
    pub fn encrypt_key(
        &self,
        transport: KeyTransport,
        content_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, KeyError> {
        let Self::Rsa(key) = self else {
            return Err(KeyError::UnsupportedKey);
        };
        let result = match transport {
            KeyTransport::RsaPkcs1v15 => key.encrypt(rng, Pkcs1v15Encrypt, content_key),
            KeyTransport::RsaOaep(DigestAlgorithm::Sha1) => {
                key.encrypt(rng, Oaep::<Sha1>::new(), content_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha256) => {
                key.encrypt(rng, Oaep::<Sha256>::new(), content_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha384) => {
                key.encrypt(rng, Oaep::<Sha384>::new(), content_key)
            }
            KeyTransport::RsaOaep(DigestAlgorithm::Sha512) => {
                key.encrypt(rng, Oaep::<Sha512>::new(), content_key)
            }
        };
        result.map_err(|e| KeyError::Failed(e.to_string()))
    }

    /// Bytes in one ECDSA scalar for this key, if it is an EC key.
    fn ec_scalar_len(&self) -> Option<usize> {
        match self {
            Self::Rsa(_) => None,
            Self::P256(_) => Some(32),
            Self::P384(_) => Some(48),
        }
    }

    /// The ways to read a signature made elsewhere, as DER: as given, and for an EC key whose
    /// scalars it fits, as WebCrypto's fixed-size `r || s` too. Both are offered because the
    /// bytes alone cannot tell: `r` begins with 0x30 (a DER SEQUENCE's tag) once in 256
    /// signatures. The caller keeps the reading that verifies.
    pub fn signature_readings(&self, signature: &[u8]) -> Vec<Vec<u8>> {
        let mut readings = vec![signature.to_vec()];
        if let Some(n) = self.ec_scalar_len()
            && signature.len() == 2 * n
        {
            readings.push(ecdsa_raw_to_der(signature));
        }
        readings
    }
}

/// Convert a fixed-size `r || s` ECDSA signature (WebCrypto, PKCS#11) into DER `Ecdsa-Sig-Value`.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut contents = Vec::with_capacity(raw.len() + 6);
    for scalar in [r, s] {
        contents.extend_from_slice(&der_unsigned_integer(scalar));
    }
    let mut out = Vec::with_capacity(contents.len() + 3);
    let seq = crate::ber::Tag {
        class: 0,
        constructed: true,
        number: 16,
    };
    crate::ber::push_element(seq, true, &contents, &mut out);
    out
}

/// A big-endian unsigned number as a DER INTEGER (leading zeros dropped, sign octet added).
fn der_unsigned_integer(bytes: &[u8]) -> Vec<u8> {
    let first_nonzero = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let magnitude = bytes.get(first_nonzero..).unwrap_or_default();
    let mut contents = Vec::with_capacity(magnitude.len() + 1);
    // Zero needs one octet, and a set top bit would read as negative: both get a 0x00 prefix.
    if magnitude.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(magnitude);
    let mut out = Vec::with_capacity(contents.len() + 2);
    let int = crate::ber::Tag {
        class: 0,
        constructed: false,
        number: 2,
    };
    crate::ber::push_element(int, false, &contents, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_signature_becomes_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a sign byte
        raw[63] = 1; // s is 1
        let der = ecdsa_raw_to_der(&raw);
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert_eq!(der_unsigned_integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(der_unsigned_integer(&[0, 0x7f]), [0x02, 0x01, 0x7f]);
    }
}
