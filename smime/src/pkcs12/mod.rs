//! PKCS#12 (PFX, RFC 7292) files. `read.rs` reads them: the `.p12` a user exports from a browser,
//! a mail client, `openssl pkcs12 -export` or `gpgsm --export-secret-key-p12`. [`write`](mod@write)
//! writes them, for a digital ID leaving the browser. This file holds what both share: the
//! limits, the errors, the password's encodings, the key derivations and the hashes.
//!
//! Pure and bounded like the rest of the crate: the browser imports `.p12` files with it. What is
//! read:
//!
//! * password integrity: the HMAC in `MacData` (SHA-1, SHA-256, SHA-384, SHA-512) with its key
//!   from the PKCS#12 key derivation (RFC 7292 appendix B, written here: no maintained crate has
//!   it at our `digest` version);
//! * privacy: `pkcs8ShroudedKeyBag`s and `encryptedData` with PBES2 (PBKDF2 with HMAC-SHA-1/-256/
//!   -384/-512, AES-128/192/256-CBC: OpenSSL 3's default) and the legacy PKCS#12 PBEs
//!   (SHA-1 with 3-key 3DES, 40- and 128-bit RC2: `openssl -legacy`, gpgsm, old Windows);
//! * plain `keyBag`s and `certBag`s, and nested `safeContentsBag`s.
//!
//! * PBMAC1 integrity (RFC 9579, OpenSSL 3.4+ `-pbmac1_pbkdf2`), checked with the RFC's vectors.
//!
//! Not read: public-key integrity and privacy modes (never seen in the wild), scrypt (refused:
//! its cost parameters would let a file exhaust memory).
//!
//! A wrong password and a damaged file are told apart: when the MAC does not match we try the
//! password on the encrypted parts; if one of them decrypts to well-formed content the password
//! was right and the file was altered.

use der::Decode;
use der::asn1::{ObjectIdentifier as Oid, OctetString};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::ber::{self, Element};
use crate::cert::Certificate;
use crate::keys::{PublicKey, SoftKey};

/// Most key-derivation iterations accepted. Real files use 2,048 (OpenSSL) to 600,000; ten
/// million already costs seconds in the browser, and more is a denial of service.
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// Most key-derivation iterations spent on one file, all derivations together: a file with
/// hundreds of bags at the per-derivation maximum must not cost hundreds of times as much. Room
/// for a MAC, a key and a certificate bag each at [`MAX_ITERATIONS`] (key and IV count twice for
/// the legacy PBEs), plus the retry that tells a wrong password from damage.
pub const MAX_TOTAL_ITERATIONS: u64 = 8 * MAX_ITERATIONS;
/// Most bags read from one file: a personal `.p12` holds a key and a handful of certificates.
pub const MAX_BAGS: usize = 256;
/// Deepest nesting of `safeContentsBag`s followed.
const MAX_NESTING: usize = 4;

mod read;
pub mod write;

pub use read::parse;
pub use write::{Scheme, WriteError, WriteOptions, write};

mod oids {
    use der::asn1::ObjectIdentifier as Oid;

    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");

    // RFC 7292 §4.2 bag types.
    pub const KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.1");
    pub const SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
    pub const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
    pub const SAFE_CONTENTS_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.6");
    pub const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
    pub const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
    pub const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");

    // RFC 7292 appendix C: PKCS#12 password-based encryption.
    pub const PBE_SHA1_RC2_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.5");
    pub const PBE_SHA1_3DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.3");
    pub const PBE_SHA1_RC2_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.6");

    // RFC 8018.
    pub const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
    pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
    /// RFC 9579 (OpenSSL 3.4+ `-pbmac1_pbkdf2`).
    pub const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
    pub const SCRYPT: Oid = Oid::new_unwrap("1.3.6.1.4.1.11591.4.11");
    pub const HMAC_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
    pub const HMAC_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
    pub const HMAC_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
    pub const HMAC_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");
    pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
    pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
    pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
    pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
}

/// Why a PKCS#12 file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Pkcs12Error {
    #[error("the password is wrong")]
    WrongPassword,
    /// Structurally broken, or the password is right but the integrity check failed.
    #[error("the PKCS#12 file is damaged: {0}")]
    Corrupt(&'static str),
    #[error("the PKCS#12 file uses {0}, which is not supported")]
    Unsupported(String),
    #[error("the PKCS#12 file asks for {0} key-derivation iterations (at most {MAX_ITERATIONS})")]
    TooManyIterations(u64),
    #[error("the PKCS#12 file asks for more key-derivation work than allowed")]
    TooMuchWork,
    #[error("the PKCS#12 file holds no private key")]
    NoKey,
    #[error("the PKCS#12 file holds no certificate for its private key")]
    NoCertificateForKey,
}

type Result<T, E = Pkcs12Error> = core::result::Result<T, E>;

/// The contents of a PKCS#12 file.
#[derive(Debug)]
pub struct Pkcs12 {
    pub key: SoftKey,
    /// The certificate of [`Self::key`].
    pub certificate: Certificate,
    /// Every other certificate, issuers of the leaf first (in issuing order where they chain),
    /// then the rest in file order.
    pub chain: Vec<Certificate>,
}

/// The password in the two encodings PKCS#12 uses, and the key-derivation work this file may
/// still cost (every derivation goes through here, so this is where it is counted).
struct Secrets {
    /// UTF-8, for PBES2 (what OpenSSL passes to PBKDF2).
    utf8: Zeroizing<Vec<u8>>,
    /// BMPString (UTF-16 big-endian) with a two-byte terminator, for the PKCS#12 KDF
    /// (RFC 7292 appendix B.1).
    bmp: Zeroizing<Vec<u8>>,
    /// Iterations left of [`MAX_TOTAL_ITERATIONS`].
    budget: core::cell::Cell<u64>,
}

impl Secrets {
    fn new(password: &str) -> Self {
        let mut bmp = Vec::with_capacity(password.len() * 2 + 2);
        for unit in password.encode_utf16() {
            bmp.extend_from_slice(&unit.to_be_bytes());
        }
        bmp.extend_from_slice(&[0, 0]);
        Self {
            utf8: Zeroizing::new(password.as_bytes().to_vec()),
            bmp: Zeroizing::new(bmp),
            budget: core::cell::Cell::new(MAX_TOTAL_ITERATIONS),
        }
    }

    /// Account for a derivation of `iterations` (already checked against [`MAX_ITERATIONS`]).
    fn spend(&self, iterations: u64) -> Result<()> {
        let left = self
            .budget
            .get()
            .checked_sub(iterations)
            .ok_or(Pkcs12Error::TooMuchWork)?;
        self.budget.set(left);
        Ok(())
    }
}

/// The PKCS#12 hash functions: SHA-1 (nearly every file) and the SHA-2s (OpenSSL 3 MACs).
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_digest_oid(oid: &Oid) -> Option<Self> {
        use crate::algorithms::oid as alg;
        match *oid {
            o if o == alg::SHA1 => Some(Self::Sha1),
            o if o == alg::SHA256 => Some(Self::Sha256),
            o if o == alg::SHA384 => Some(Self::Sha384),
            o if o == alg::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn from_hmac_oid(oid: &Oid) -> Option<Self> {
        match *oid {
            o if o == oids::HMAC_SHA1 => Some(Self::Sha1),
            o if o == oids::HMAC_SHA256 => Some(Self::Sha256),
            o if o == oids::HMAC_SHA384 => Some(Self::Sha384),
            o if o == oids::HMAC_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The hash's input block size: `v` in RFC 7292 appendix B.
    fn block_len(self) -> usize {
        match self {
            Self::Sha1 | Self::Sha256 => 64,
            Self::Sha384 | Self::Sha512 => 128,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Constant-time comparison of HMAC(key, data) with `expected`.
    fn hmac_matches(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        fn check<M: Mac + KeyInit>(key: &[u8], data: &[u8], expected: &[u8]) -> bool {
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.verify_slice(expected).is_ok()
                }
                Err(_) => false,
            }
        }
        match self {
            Self::Sha1 => check::<Hmac<Sha1>>(key, data, expected),
            Self::Sha256 => check::<Hmac<Sha256>>(key, data, expected),
            Self::Sha384 => check::<Hmac<Sha384>>(key, data, expected),
            Self::Sha512 => check::<Hmac<Sha512>>(key, data, expected),
        }
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        match self {
            Self::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, out),
            Self::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out),
            Self::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, iterations, out),
            Self::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, out),
        }
    }
}

/// The "ID" byte of RFC 7292 appendix B.3: what the derived bytes are for.
#[derive(Debug, Clone, Copy)]
enum KdfPurpose {
    Key = 1,
    Iv = 2,
    Mac = 3,
}

/// The PKCS#12 key derivation (RFC 7292 appendix B.2). `password` is already the BMPString with
/// its terminator. Iterations must have been bounded by the caller.
fn pkcs12_kdf(
    hash: Hash,
    purpose: KdfPurpose,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let v = hash.block_len();
    // Step 1: D is the ID byte repeated to one block.
    let diversifier = vec![purpose as u8; v];
    // Steps 2–4: I = S || P, each repeated to a whole number of blocks (empty stays empty).
    let stretch = |input: &[u8]| -> Vec<u8> {
        let blocks = input.len().div_ceil(v);
        input.iter().copied().cycle().take(blocks * v).collect()
    };
    let mut i_block = Zeroizing::new(stretch(salt));
    i_block.extend_from_slice(&stretch(password));

    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.output_len()));
    while out.len() < len {
        // Step 6a: A = H^r(D || I).
        let mut input = Zeroizing::new(diversifier.clone());
        input.extend_from_slice(&i_block);
        let mut a = Zeroizing::new(hash.digest(&input));
        for _ in 1..iterations {
            a = Zeroizing::new(hash.digest(&a));
        }
        out.extend_from_slice(&a);
        if out.len() >= len {
            break;
        }
        // Steps 6b–c: B = A repeated to v bytes; every v-byte block of I becomes (I_j + B + 1)
        // mod 2^(8v), big-endian.
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for chunk in i_block.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in chunk.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = (sum & 0xff) as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(len);
    out
}

/// Is `cert` the certificate of `key`?
fn key_matches(key: &SoftKey, cert: &Certificate) -> bool {
    let Ok(spki) = cert.public_key_info_der() else {
        return false;
    };
    match (key, PublicKey::from_spki_der(&spki)) {
        (SoftKey::Rsa(private), Ok(PublicKey::Rsa(public))) => private.to_public_key() == public,
        (SoftKey::P256(private), Ok(PublicKey::P256(public))) => *private.verifying_key() == public,
        (SoftKey::P384(private), Ok(PublicKey::P384(public))) => *private.verifying_key() == public,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::read::check_iterations;
    use super::*;

    /// RFC 7292 has no test vectors; these come from the PKCS#12 KDF as implemented by OpenSSL
    /// (`PKCS12_key_gen_uni`), for password "smeg", salt 0A58CF64530D823F, 1 iteration (the
    /// widely republished vectors from the original PKCS#12 test suite).
    #[test]
    fn kdf_known_answers() {
        let secrets = Secrets::new("smeg");
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = pkcs12_kdf(Hash::Sha1, KdfPurpose::Key, &secrets.bmp, &salt, 1, 24);
        assert_eq!(
            key.as_slice(),
            [
                0x8a, 0xaa, 0xe6, 0x29, 0x7b, 0x6c, 0xb0, 0x46, 0x42, 0xab, 0x5b, 0x07, 0x78, 0x51,
                0x28, 0x4e, 0xb7, 0x12, 0x8f, 0x1a, 0x2a, 0x7f, 0xbc, 0xa3
            ]
        );
        let iv = pkcs12_kdf(Hash::Sha1, KdfPurpose::Iv, &secrets.bmp, &salt, 1, 8);
        assert_eq!(
            iv.as_slice(),
            [0x79, 0x99, 0x3d, 0xfe, 0x04, 0x8d, 0x3b, 0x76]
        );
    }

    #[test]
    fn password_is_bmp_with_terminator() {
        assert_eq!(Secrets::new("ab").bmp.as_slice(), [0, b'a', 0, b'b', 0, 0]);
        assert_eq!(Secrets::new("").bmp.as_slice(), [0, 0]);
    }

    #[test]
    fn total_work_is_bounded() {
        let secrets = Secrets::new("pw");
        for _ in 0..8 {
            assert!(secrets.spend(MAX_ITERATIONS).is_ok());
        }
        assert_eq!(secrets.spend(1), Err(Pkcs12Error::TooMuchWork));
    }

    #[test]
    fn absurd_iterations_are_refused() {
        assert_eq!(
            check_iterations(MAX_ITERATIONS + 1),
            Err(Pkcs12Error::TooManyIterations(MAX_ITERATIONS + 1))
        );
        assert!(check_iterations(2048).is_ok());
        assert!(check_iterations(0).is_err());
    }
}
