//! Signature verification over certificates and CRLs.
//!
//! RSA PKCS#1 v1.5 (SHA-1/256/384/512), RSASSA-PSS (MGF1 with the same digest), ECDSA on P-256
//! and P-384 with SHA-256/384/512, and DSA with SHA-1/SHA-256 (FIPS 186 sizes only) because
//! PKITS still tests it and old archives still carry it.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::signature::hazmat::PrehashVerifier;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::Digest;

use super::cert::{AlgorithmId, PublicKey};
use super::der::{self, DerError, Tlv};
use super::oid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature does not verify")]
    Invalid,
    #[error("unsupported signature algorithm {0}")]
    Unsupported(String),
    #[error("malformed public key or algorithm parameters")]
    Malformed,
}

impl From<DerError> for SignatureError {
    fn from(_: DerError) -> Self {
        SignatureError::Malformed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn from_oid(o: &[u8]) -> Option<Self> {
        [
            (&oid::SHA1, Hash::Sha1),
            (&oid::SHA256, Hash::Sha256),
            (&oid::SHA384, Hash::Sha384),
            (&oid::SHA512, Hash::Sha512),
        ]
        .into_iter()
        .find(|(id, _)| oid::is(o, id))
        .map(|(_, h)| h)
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }

    /// PSS verification; `Pss` is generic over the digest, hence one arm per hash.
    fn verify_pss(self, pk: &RsaPublicKey, hashed: &[u8], sig: &[u8], salt: usize) -> bool {
        match self {
            Hash::Sha1 => pk.verify(Pss::<sha1::Sha1>::new_with_salt(salt), hashed, sig),
            Hash::Sha256 => pk.verify(Pss::<sha2::Sha256>::new_with_salt(salt), hashed, sig),
            Hash::Sha384 => pk.verify(Pss::<sha2::Sha384>::new_with_salt(salt), hashed, sig),
            Hash::Sha512 => pk.verify(Pss::<sha2::Sha512>::new_with_salt(salt), hashed, sig),
        }
        .is_ok()
    }
}

fn oid_label(o: &[u8]) -> String {
    const_oid::ObjectIdentifier::from_bytes(o)
        .map(|o| o.to_string())
        .unwrap_or_else(|_| "(malformed OID)".into())
}

/// A signature scheme with its digest, read from a signature AlgorithmIdentifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    RsaPkcs1(Hash),
    RsaPss(Hash, usize),
    Ecdsa(Hash),
    Dsa(Hash),
}

impl Scheme {
    fn from_algorithm(algorithm: &AlgorithmId) -> Result<Self, SignatureError> {
        let a = algorithm.oid.as_slice();
        let table = [
            (&oid::SHA1_WITH_RSA, Scheme::RsaPkcs1(Hash::Sha1)),
            (&oid::SHA256_WITH_RSA, Scheme::RsaPkcs1(Hash::Sha256)),
            (&oid::SHA384_WITH_RSA, Scheme::RsaPkcs1(Hash::Sha384)),
            (&oid::SHA512_WITH_RSA, Scheme::RsaPkcs1(Hash::Sha512)),
            (&oid::ECDSA_SHA256, Scheme::Ecdsa(Hash::Sha256)),
            (&oid::ECDSA_SHA384, Scheme::Ecdsa(Hash::Sha384)),
            (&oid::ECDSA_SHA512, Scheme::Ecdsa(Hash::Sha512)),
            (&oid::DSA_SHA1, Scheme::Dsa(Hash::Sha1)),
            (&oid::DSA_SHA256, Scheme::Dsa(Hash::Sha256)),
        ];
        if let Some((_, scheme)) = table.into_iter().find(|(id, _)| oid::is(a, id)) {
            return Ok(scheme);
        }
        if oid::is(a, &oid::RSASSA_PSS) {
            let (hash, salt) = pss_params(algorithm.params.as_deref())?;
            return Ok(Scheme::RsaPss(hash, salt));
        }
        Err(SignatureError::Unsupported(oid_label(a)))
    }

    fn hash(self) -> Hash {
        match self {
            Scheme::RsaPkcs1(h) | Scheme::RsaPss(h, _) | Scheme::Ecdsa(h) | Scheme::Dsa(h) => h,
        }
    }
}

/// The digest `algorithm` signs for `data`. Computed once for a large CRL, so that checking
/// its signature again costs only the public-key operation.
pub fn prehash(data: &[u8], algorithm: &AlgorithmId) -> Result<Vec<u8>, SignatureError> {
    Ok(Scheme::from_algorithm(algorithm)?.hash().digest(data))
}

/// Verifies `signature` over `data` made with `algorithm` by the holder of `key`.
pub fn verify(
    data: &[u8],
    algorithm: &AlgorithmId,
    signature: &[u8],
    key: &PublicKey,
) -> Result<(), SignatureError> {
    verify_prehashed(&prehash(data, algorithm)?, algorithm, signature, key)
}

/// [`verify`] given the digest from [`prehash`].
pub fn verify_prehashed(
    digest: &[u8],
    algorithm: &AlgorithmId,
    signature: &[u8],
    key: &PublicKey,
) -> Result<(), SignatureError> {
    match Scheme::from_algorithm(algorithm)? {
        Scheme::RsaPkcs1(hash) => rsa_key(key)?
            .verify(hash.pkcs1v15(), digest, signature)
            .map_err(|_| SignatureError::Invalid),
        Scheme::RsaPss(hash, salt) => {
            if hash.verify_pss(&rsa_key(key)?, digest, signature, salt) {
                Ok(())
            } else {
                Err(SignatureError::Invalid)
            }
        }
        Scheme::Ecdsa(_) => verify_ecdsa(digest, signature, key),
        Scheme::Dsa(_) => verify_dsa(digest, signature, key),
    }
}

/// DSA: `Dss-Parms ::= SEQUENCE { p, q, g INTEGER }` in the algorithm parameters (inherited
/// ones already filled in by the caller) and `y INTEGER` as the key.
fn verify_dsa(prehash: &[u8], signature: &[u8], key: &PublicKey) -> Result<(), SignatureError> {
    use rsa::BoxedUint;
    if !oid::is(&key.algorithm.oid, &oid::DSA) {
        return Err(SignatureError::Invalid);
    }
    let params = key
        .algorithm
        .params
        .as_deref()
        .ok_or(SignatureError::Malformed)?;
    let mut r = Tlv::parse_exact(params)?.tagged(der::SEQUENCE)?.reader();
    // The key size is judged by the integers' precision, so the sign octet must go.
    let uint = |v: &[u8]| {
        let skip = v.iter().take_while(|b| **b == 0).count();
        BoxedUint::from_be_slice_vartime(&v[skip..])
    };
    let mut int =
        || -> Result<BoxedUint, SignatureError> { Ok(uint(r.tagged(der::INTEGER)?.value)) };
    let (p, q, g) = (int()?, int()?, int()?);
    r.finish()?;
    let y = uint(Tlv::parse_exact(&key.key)?.tagged(der::INTEGER)?.value);
    let components =
        dsa::Components::from_components(p, q, g).map_err(|_| SignatureError::Malformed)?;
    let vk =
        dsa::VerifyingKey::from_components(components, y).map_err(|_| SignatureError::Malformed)?;
    let sig = dsa::Signature::try_from(signature).map_err(|_| SignatureError::Invalid)?;
    vk.verify_prehash(prehash, &sig)
        .map_err(|_| SignatureError::Invalid)
}

fn rsa_key(key: &PublicKey) -> Result<RsaPublicKey, SignatureError> {
    let k = key.algorithm.oid.as_slice();
    if !(oid::is(k, &oid::RSA_ENCRYPTION) || oid::is(k, &oid::RSASSA_PSS)) {
        return Err(SignatureError::Invalid);
    }
    RsaPublicKey::from_pkcs1_der(&key.key).map_err(|_| SignatureError::Malformed)
}

/// RSASSA-PSS-params (RFC 4055 §3.1): hash (default SHA-1), MGF1 with the same hash, salt
/// length (default 20). A different MGF hash is refused rather than half-supported.
fn pss_params(params: Option<&[u8]>) -> Result<(Hash, usize), SignatureError> {
    let mut hash = Hash::Sha1;
    let mut mgf_hash = Hash::Sha1;
    let mut salt = 20usize;
    if let Some(p) = params {
        let mut r = Tlv::parse_exact(p)?.tagged(der::SEQUENCE)?.reader();
        if let Some(h) = r.optional(der::ctx_cons(0))? {
            let alg = AlgorithmId::parse(&Tlv::parse_exact(h.value)?)?;
            hash = Hash::from_oid(&alg.oid)
                .ok_or_else(|| SignatureError::Unsupported(oid_label(&alg.oid)))?;
        }
        if let Some(m) = r.optional(der::ctx_cons(1))? {
            let alg = AlgorithmId::parse(&Tlv::parse_exact(m.value)?)?;
            if !oid::is(&alg.oid, &oid::MGF1) {
                return Err(SignatureError::Unsupported(oid_label(&alg.oid)));
            }
            let inner = alg.params.ok_or(SignatureError::Malformed)?;
            let inner = AlgorithmId::parse(&Tlv::parse_exact(&inner)?)?;
            mgf_hash = Hash::from_oid(&inner.oid)
                .ok_or_else(|| SignatureError::Unsupported(oid_label(&inner.oid)))?;
        }
        if let Some(s) = r.optional(der::ctx_cons(2))? {
            let n = Tlv::parse_exact(s.value)?
                .tagged(der::INTEGER)?
                .small_uint()?;
            salt = usize::try_from(n).map_err(|_| SignatureError::Malformed)?;
        }
        // trailerField must be trailerFieldBC (1).
        if let Some(t) = r.optional(der::ctx_cons(3))?
            && Tlv::parse_exact(t.value)?
                .tagged(der::INTEGER)?
                .small_uint()?
                != 1
        {
            return Err(SignatureError::Malformed);
        }
        r.finish()?;
    }
    if hash != mgf_hash {
        return Err(SignatureError::Unsupported(
            "RSASSA-PSS with a different MGF1 hash".into(),
        ));
    }
    Ok((hash, salt))
}

fn verify_ecdsa(prehash: &[u8], signature: &[u8], key: &PublicKey) -> Result<(), SignatureError> {
    if !oid::is(&key.algorithm.oid, &oid::EC_PUBLIC_KEY) {
        return Err(SignatureError::Invalid);
    }
    let curve = key
        .algorithm
        .params
        .as_deref()
        .ok_or(SignatureError::Malformed)?;
    let curve = Tlv::parse_exact(curve)?.tagged(der::OID)?.value;
    if oid::is(curve, &oid::SECP256R1) {
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.key)
            .map_err(|_| SignatureError::Malformed)?;
        let sig =
            p256::ecdsa::DerSignature::try_from(signature).map_err(|_| SignatureError::Invalid)?;
        vk.verify_prehash(prehash, &sig)
            .map_err(|_| SignatureError::Invalid)
    } else if oid::is(curve, &oid::SECP384R1) {
        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&key.key)
            .map_err(|_| SignatureError::Malformed)?;
        let sig =
            p384::ecdsa::DerSignature::try_from(signature).map_err(|_| SignatureError::Invalid)?;
        vk.verify_prehash(prehash, &sig)
            .map_err(|_| SignatureError::Invalid)
    } else {
        Err(SignatureError::Unsupported(format!(
            "elliptic curve {}",
            oid_label(curve)
        )))
    }
}
