//! Writing PKCS#12 files: a digital ID leaves the browser as the `.p12` other programs import.
//!
//! The layout is the one `openssl pkcs12 -export` (OpenSSL 3) writes, because every reader is
//! tested against it: an `encryptedData` holding the certificates in `certBag`s, then a `data`
//! holding the key in a `pkcs8ShroudedKeyBag`, both encrypted with PBES2 (PBKDF2-HMAC-SHA-256,
//! AES-256-CBC, a fresh random salt and IV each), the certificate and key linked by `localKeyId`
//! (SHA-1 of the certificate, as OpenSSL does) and named by `friendlyName`, and a `MacData` with
//! HMAC-SHA-256 under the PKCS#12 key derivation. OpenSSL 3 uses 2,048 iterations everywhere
//! (`PKCS12_DEFAULT_ITER`); callers choose more, see [`WriteOptions`].
//!
//! GnuPG 2.2 (`gpgsm --import`, still Debian 12's) reads PBES2 only as PBKDF2-HMAC-SHA-1 with
//! AES-128-CBC and fails on OpenSSL 3's defaults, so [`Scheme::Aes128Sha1`] writes that instead
//! (measured: GnuPG 2.2.40 imports it, and ignores the MAC's digest). Neither is weak: PBKDF2's
//! strength is its iteration count, and SHA-1's collisions do not matter to an HMAC.

use der::asn1::ObjectIdentifier as Oid;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use super::{Hash, KdfPurpose, MAX_ITERATIONS, Secrets, key_matches, oids, pkcs12_kdf};
use crate::ber::{Tag, push_element};
use crate::cert::Certificate;
use crate::keys::SoftKey;

/// Fewest iterations written: OpenSSL 3's default. Fewer would make a stolen file cheaper to
/// guess than any file OpenSSL writes.
pub const MIN_ITERATIONS: u32 = 2048;

const SALT_LEN: usize = 16;
const AES_BLOCK: usize = 16;

/// The PBES2 parameters of the key and certificate encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// PBKDF2-HMAC-SHA-256 and AES-256-CBC: what OpenSSL 3 writes.
    #[default]
    Aes256Sha256,
    /// PBKDF2-HMAC-SHA-1 and AES-128-CBC: what GnuPG 2.2 reads.
    Aes128Sha1,
}

impl Scheme {
    fn cipher(self) -> Oid {
        match self {
            Self::Aes256Sha256 => oids::AES256_CBC,
            Self::Aes128Sha1 => oids::AES128_CBC,
        }
    }

    /// PBKDF2 over the UTF-8 password, then AES-CBC with PKCS#7 padding.
    fn encrypt(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        iv: &[u8; AES_BLOCK],
        plaintext: &[u8],
    ) -> Vec<u8> {
        use cbc::cipher::block_padding::Pkcs7;
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
        match self {
            Self::Aes256Sha256 => {
                let mut key = Zeroizing::new([0u8; 32]);
                Hash::Sha256.pbkdf2(password, salt, iterations, &mut *key);
                cbc::Encryptor::<aes::Aes256>::new(&(*key).into(), &(*iv).into())
                    .encrypt_padded_vec::<Pkcs7>(plaintext)
            }
            Self::Aes128Sha1 => {
                let mut key = Zeroizing::new([0u8; 16]);
                Hash::Sha1.pbkdf2(password, salt, iterations, &mut *key);
                cbc::Encryptor::<aes::Aes128>::new(&(*key).into(), &(*iv).into())
                    .encrypt_padded_vec::<Pkcs7>(plaintext)
            }
        }
    }
}

/// Why a PKCS#12 file could not be written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    #[error("the private key does not belong to the certificate")]
    KeyDoesNotMatch,
    #[error("the private key cannot be encoded")]
    UnencodableKey,
    #[error("{0} key-derivation iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}")]
    Iterations(u32),
}

/// Choices for [`write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// PBKDF2 and MAC iterations. The file leaves the browser and its password is then the only
    /// protection of the key, so the product uses far more than OpenSSL's 2,048.
    pub iterations: u32,
    /// The `friendlyName` other programs list the digital ID under (the address, usually).
    pub friendly_name: String,
    pub scheme: Scheme,
}

/// Write `key`, its `certificate` and the rest of the `chain` as a PKCS#12 file under `password`.
pub fn write(
    key: &SoftKey,
    certificate: &Certificate,
    chain: &[Certificate],
    password: &str,
    options: &WriteOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>, WriteError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS as u32).contains(&options.iterations) {
        return Err(WriteError::Iterations(options.iterations));
    }
    if !key_matches(key, certificate) {
        return Err(WriteError::KeyDoesNotMatch);
    }
    let secrets = Secrets::new(password);
    let pkcs8 = key.to_pkcs8_der().map_err(|_| WriteError::UnencodableKey)?;
    let local_key_id = Sha1::digest(certificate.der()).to_vec();
    let leaf_attributes = attributes(&options.friendly_name, &local_key_id);

    // SafeContents of the certificates: the leaf with its attributes, then the chain.
    let mut cert_bags = cert_bag(certificate, Some(&leaf_attributes));
    for issuer in chain {
        cert_bags.extend(cert_bag(issuer, None));
    }
    let certificates = encrypted_data(&sequence(&cert_bags), &secrets, options, rng);

    // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }
    let (algorithm, ciphertext) = pbes2_encrypt(&pkcs8, &secrets, options, rng);
    let shrouded = sequence(&[algorithm, octet_string(&ciphertext)].concat());
    let key_bag = safe_bag(oids::SHROUDED_KEY_BAG, &shrouded, Some(&leaf_attributes));
    let key_data = content_info(oids::DATA, &octet_string(&sequence(&key_bag)));

    // AuthenticatedSafe ::= SEQUENCE OF ContentInfo; the MAC covers its encoding.
    let auth_safe = sequence(&[certificates, key_data].concat());
    let mac = mac_data(&auth_safe, &secrets, options, rng);
    let pfx = [
        integer(3),
        content_info(oids::DATA, &octet_string(&auth_safe)),
        mac,
    ]
    .concat();
    Ok(sequence(&pfx))
}

/// bagAttributes: friendlyName and localKeyId, as a DER SET OF (sorted).
fn attributes(friendly_name: &str, local_key_id: &[u8]) -> Vec<u8> {
    let bmp: Vec<u8> = friendly_name
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let mut attributes = [
        attribute(oids::FRIENDLY_NAME, &element(0, false, 30, &bmp)),
        attribute(oids::LOCAL_KEY_ID, &octet_string(local_key_id)),
    ];
    attributes.sort();
    set(&attributes.concat())
}

/// Attribute ::= SEQUENCE { attrId OID, attrValues SET OF ANY } with one value.
fn attribute(id: Oid, value: &[u8]) -> Vec<u8> {
    sequence(&[object_identifier(id), set(value)].concat())
}

/// CertBag ::= SEQUENCE { certId x509Certificate, certValue [0] EXPLICIT OCTET STRING } in a bag.
fn cert_bag(certificate: &Certificate, attributes: Option<&[u8]>) -> Vec<u8> {
    let value = sequence(
        &[
            object_identifier(oids::X509_CERTIFICATE),
            explicit0(&octet_string(certificate.der())),
        ]
        .concat(),
    );
    safe_bag(oids::CERT_BAG, &value, attributes)
}

/// SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OPTIONAL }
fn safe_bag(id: Oid, value: &[u8], attributes: Option<&[u8]>) -> Vec<u8> {
    let mut fields = [object_identifier(id), explicit0(value)].concat();
    if let Some(attributes) = attributes {
        fields.extend_from_slice(attributes);
    }
    sequence(&fields)
}

/// ContentInfo of type encryptedData: EncryptedData ::= SEQUENCE { version 0,
/// EncryptedContentInfo ::= SEQUENCE { contentType data, algorithm, [0] IMPLICIT OCTET STRING } }
fn encrypted_data(
    plaintext: &[u8],
    secrets: &Secrets,
    options: &WriteOptions,
    rng: &mut dyn CryptoRng,
) -> Vec<u8> {
    let (algorithm, ciphertext) = pbes2_encrypt(plaintext, secrets, options, rng);
    let info = sequence(
        &[
            object_identifier(oids::DATA),
            algorithm,
            element(2, false, 0, &ciphertext),
        ]
        .concat(),
    );
    let encrypted = sequence(&[integer(0), info].concat());
    content_info(oids::ENCRYPTED_DATA, &encrypted)
}

/// Encrypt under PBES2 with a fresh salt and IV: the AlgorithmIdentifier and the ciphertext.
fn pbes2_encrypt(
    plaintext: &[u8],
    secrets: &Secrets,
    options: &WriteOptions,
    rng: &mut dyn CryptoRng,
) -> (Vec<u8>, Vec<u8>) {
    let scheme = options.scheme;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut iv = [0u8; AES_BLOCK];
    rng.fill_bytes(&mut iv);
    let ciphertext = scheme.encrypt(&secrets.utf8, &salt, options.iterations, &iv, plaintext);

    // PBKDF2-params ::= SEQUENCE { salt, iterationCount, prf DEFAULT hmacWithSHA1 } (keyLength
    // left out, as OpenSSL does: the cipher fixes it; a default is left out, as DER wants).
    let mut pbkdf2_params = [octet_string(&salt), integer(u64::from(options.iterations))].concat();
    if scheme == Scheme::Aes256Sha256 {
        pbkdf2_params.extend(sequence(
            &[object_identifier(oids::HMAC_SHA256), null()].concat(),
        ));
    }
    let pbkdf2_params = sequence(&pbkdf2_params);
    let kdf = sequence(&[object_identifier(oids::PBKDF2), pbkdf2_params].concat());
    let cipher = sequence(&[object_identifier(scheme.cipher()), octet_string(&iv)].concat());
    let algorithm = sequence(
        &[
            object_identifier(oids::PBES2),
            sequence(&[kdf, cipher].concat()),
        ]
        .concat(),
    );
    (algorithm, ciphertext)
}

/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER }, HMAC-SHA-256
/// keyed by the PKCS#12 key derivation (RFC 7292 appendix B).
fn mac_data(
    auth_safe: &[u8],
    secrets: &Secrets,
    options: &WriteOptions,
    rng: &mut dyn CryptoRng,
) -> Vec<u8> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let iterations = u64::from(options.iterations);
    let key = pkcs12_kdf(
        Hash::Sha256,
        KdfPurpose::Mac,
        &secrets.bmp,
        &salt,
        iterations,
        Hash::Sha256.output_len(),
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(auth_safe);
    let digest = mac.finalize().into_bytes();
    let algorithm = sequence(&[object_identifier(crate::algorithms::oid::SHA256), null()].concat());
    let digest_info = sequence(&[algorithm, octet_string(&digest)].concat());
    sequence(&[digest_info, octet_string(&salt), integer(iterations)].concat())
}

// --- DER writing over the crate's `push_element` ----------------------------------------------

fn element(class: u8, constructed: bool, number: u32, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    let tag = Tag {
        class,
        constructed,
        number,
    };
    push_element(tag, constructed, contents, &mut out);
    out
}

fn sequence(contents: &[u8]) -> Vec<u8> {
    element(0, true, 16, contents)
}

fn set(contents: &[u8]) -> Vec<u8> {
    element(0, true, 17, contents)
}

fn octet_string(contents: &[u8]) -> Vec<u8> {
    element(0, false, 4, contents)
}

fn null() -> Vec<u8> {
    element(0, false, 5, &[])
}

fn explicit0(contents: &[u8]) -> Vec<u8> {
    element(2, true, 0, contents)
}

fn object_identifier(oid: Oid) -> Vec<u8> {
    element(0, false, 6, oid.as_bytes())
}

/// A non-negative INTEGER.
fn integer(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut contents = bytes[skip..].to_vec();
    if contents[0] & 0x80 != 0 {
        contents.insert(0, 0);
    }
    element(0, false, 2, &contents)
}

/// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
fn content_info(content_type: Oid, content: &[u8]) -> Vec<u8> {
    sequence(&[object_identifier(content_type), explicit0(content)].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(0), [2, 1, 0]);
        assert_eq!(integer(3), [2, 1, 3]);
        assert_eq!(integer(2048), [2, 2, 8, 0]);
        assert_eq!(integer(128), [2, 2, 0, 128]);
    }
}
