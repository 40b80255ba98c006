//! Content encryption: AES-CBC and AES-GCM both ways; 3DES and RC2 for reading old mail only.
//!
//! Decryption returns the whole plaintext or an error, never part of it: CBC padding is checked
//! before anything is returned and GCM verifies its tag before releasing plaintext.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyIvInit,
};
use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::algorithms::{ContentEncryption, oid};
use crate::ber;
use crate::error::{Error, Result};

/// Length of the GCM nonce we send and the only one we accept (RFC 5084 recommends 12).
const GCM_NONCE_LEN: usize = 12;
/// Length of the GCM tag we send and accept.
const GCM_TAG_LEN: usize = 16;

/// Bytes of IV (CBC) or nonce (GCM) an algorithm takes.
pub(crate) fn iv_len(algorithm: ContentEncryption) -> usize {
    if algorithm.is_authenticated() {
        GCM_NONCE_LEN
    } else {
        16
    }
}

/// The contentEncryptionAlgorithm identifier: the OID with the IV (CBC) or GCMParameters.
pub(crate) fn identifier(
    algorithm: ContentEncryption,
    iv: &[u8],
) -> Result<AlgorithmIdentifierOwned> {
    let parameters = if algorithm.is_authenticated() {
        Any::from_der(&gcm_parameters(iv)?)?
    } else {
        Any::encode_from(&OctetString::new(iv.to_vec())?)?
    };
    Ok(AlgorithmIdentifierOwned {
        oid: algorithm.oid(),
        parameters: Some(parameters),
    })
}

/// Encrypted content: the ciphertext, and for GCM the tag (AuthEnvelopedData's `mac`).
pub(crate) struct Sealed {
    pub ciphertext: Vec<u8>,
    pub tag: Option<Vec<u8>>,
}

/// Encrypt `content` in software.
pub(crate) fn seal(
    algorithm: ContentEncryption,
    key: &[u8],
    iv: &[u8],
    content: &[u8],
) -> Result<Sealed> {
    let bad_key = || Error::UnsupportedAlgorithm("content key or IV of the wrong length".into());
    match algorithm {
        ContentEncryption::Aes128Cbc => Ok(Sealed {
            ciphertext: cbc_encrypt::<Aes128>(key, iv, content)?,
            tag: None,
        }),
        ContentEncryption::Aes256Cbc => Ok(Sealed {
            ciphertext: cbc_encrypt::<Aes256>(key, iv, content)?,
            tag: None,
        }),
        ContentEncryption::Aes128Gcm | ContentEncryption::Aes256Gcm => {
            let nonce: [u8; GCM_NONCE_LEN] = iv.try_into().map_err(|_| bad_key())?;
            // Room for the tag, which `Bulk::encrypt` appends.
            let mut buffer = Vec::with_capacity(content.len() + GCM_TAG_LEN);
            buffer.extend_from_slice(content);
            let tag = if algorithm == ContentEncryption::Aes128Gcm {
                Aes128Gcm::new_from_slice(key)
                    .map_err(|_| bad_key())?
                    .encrypt_inout_detached(&nonce.into(), &[], buffer.as_mut_slice().into())
            } else {
                Aes256Gcm::new_from_slice(key)
                    .map_err(|_| bad_key())?
                    .encrypt_inout_detached(&nonce.into(), &[], buffer.as_mut_slice().into())
            }
            .map_err(|_| Error::UnsupportedAlgorithm("AES-GCM refused the input".into()))?;
            Ok(Sealed {
                ciphertext: buffer,
                tag: Some(tag.to_vec()),
            })
        }
    }
}

/// Accept ciphertext produced outside the crate (WebCrypto): PKCS#7-padded AES-CBC output, or
/// AES-GCM ciphertext followed by its 16-byte tag. Only the length can be checked here.
pub(crate) fn from_external(
    algorithm: ContentEncryption,
    plaintext_len: usize,
    mut output: Vec<u8>,
) -> Result<Sealed> {
    let wrong = || Error::UnsupportedAlgorithm("external ciphertext has the wrong length".into());
    if algorithm.is_authenticated() {
        if output.len() != plaintext_len + GCM_TAG_LEN {
            return Err(wrong());
        }
        let tag = output.split_off(plaintext_len);
        return Ok(Sealed {
            ciphertext: output,
            tag: Some(tag),
        });
    }
    // PKCS#7 always adds 1..=16 bytes.
    if output.len() != (plaintext_len / 16 + 1) * 16 {
        return Err(wrong());
    }
    Ok(Sealed {
        ciphertext: output,
        tag: None,
    })
}

/// GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }.
/// The ICV length is written because our 16 differs from the default.
fn gcm_parameters(nonce: &[u8]) -> Result<Vec<u8>> {
    let mut fields = OctetString::new(nonce.to_vec())?.to_der()?;
    fields.extend((GCM_TAG_LEN as u8).to_der()?);
    let mut out = Vec::new();
    ber::push_element(
        ber::Tag {
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

fn cbc_encrypt<C: BlockCipherEncrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    content: &[u8],
) -> Result<Vec<u8>> {
    let encryptor = cbc::Encryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| Error::UnsupportedAlgorithm("content key of the wrong length".into()))?;
    Ok(encryptor.encrypt_padded_vec::<Pkcs7>(content))
}

/// The content-encryption algorithm named by an AlgorithmIdentifier, with what decryption needs.
enum Algorithm {
    AesCbc {
        key_len: usize,
        iv: Vec<u8>,
    },
    AesGcm {
        key_len: usize,
        nonce: Vec<u8>,
        tag_len: usize,
    },
    TripleDesCbc {
        iv: Vec<u8>,
    },
    Rc2Cbc {
        effective_bits: usize,
        iv: Vec<u8>,
    },
}

impl Algorithm {
    fn from_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self> {
        let unsupported = || Error::UnsupportedAlgorithm(id.oid.to_string());
        let params = id.parameters.as_ref().ok_or_else(unsupported)?.to_der()?;
        let octets =
            || -> Result<Vec<u8>> { Ok(OctetString::from_der(&params)?.into_bytes().into_vec()) };
        Ok(match id.oid {
            o if o == oid::AES128_CBC => Self::AesCbc {
                key_len: 16,
                iv: octets()?,
            },
            o if o == oid::AES192_CBC => Self::AesCbc {
                key_len: 24,
                iv: octets()?,
            },
            o if o == oid::AES256_CBC => Self::AesCbc {
                key_len: 32,
                iv: octets()?,
            },
            o if o == oid::AES128_GCM || o == oid::AES256_GCM => {
                let key_len = if o == oid::AES128_GCM { 16 } else { 32 };
                let (nonce, tag_len) = parse_gcm_parameters(&params).ok_or_else(unsupported)?;
                Self::AesGcm {
                    key_len,
                    nonce,
                    tag_len,
                }
            }
            o if o == oid::DES_EDE3_CBC => Self::TripleDesCbc { iv: octets()? },
            o if o == oid::RC2_CBC => {
                let (effective_bits, iv) = parse_rc2_parameters(&params).ok_or_else(unsupported)?;
                Self::Rc2Cbc { effective_bits, iv }
            }
            _ => return Err(unsupported()),
        })
    }
}

fn parse_gcm_parameters(der: &[u8]) -> Option<(Vec<u8>, usize)> {
    let fields = ber::parse_one(der).ok()?.children().ok()?;
    let nonce = OctetString::from_der(fields.first()?.raw)
        .ok()?
        .into_bytes()
        .into_vec();
    let tag_len = match fields.get(1) {
        Some(field) => u8::from_der(field.raw).ok()? as usize,
        None => 12,
    };
    Some((nonce, tag_len))
}

/// RC2CBCParameter ::= SEQUENCE { rc2ParameterVersion INTEGER OPTIONAL, iv OCTET STRING }
/// (RFC 3370 §5.2). The version encodes the effective key bits through a fixed table.
fn parse_rc2_parameters(der: &[u8]) -> Option<(usize, Vec<u8>)> {
    let fields = ber::parse_one(der).ok()?.children().ok()?;
    let (version, iv) = match fields.as_slice() {
        [iv] => (None, iv),
        [version, iv] => (Some(u32::from_der(version.raw).ok()?), iv),
        _ => return None,
    };
    let effective_bits = match version {
        None | Some(58) => 128,
        Some(120) => 64,
        Some(160) => 40,
        Some(v) if v >= 256 => v as usize,
        Some(_) => return None,
    };
    Some((
        effective_bits,
        OctetString::from_der(iv.raw).ok()?.into_bytes().into_vec(),
    ))
}

/// The algorithm and IV/nonce of content an external AES (WebCrypto) can decrypt: AES-128/256
/// CBC, or GCM with a 12-byte nonce and 16-byte tag. `None` for everything else.
pub(crate) fn external_parameters(
    id: &AlgorithmIdentifierOwned,
) -> Option<(ContentEncryption, Vec<u8>)> {
    match Algorithm::from_identifier(id).ok()? {
        Algorithm::AesCbc { key_len: 16, iv } if iv.len() == 16 => {
            Some((ContentEncryption::Aes128Cbc, iv))
        }
        Algorithm::AesCbc { key_len: 32, iv } if iv.len() == 16 => {
            Some((ContentEncryption::Aes256Cbc, iv))
        }
        Algorithm::AesGcm {
            key_len,
            nonce,
            tag_len,
        } if nonce.len() == GCM_NONCE_LEN && tag_len == GCM_TAG_LEN => {
            let algorithm = if key_len == 16 {
                ContentEncryption::Aes128Gcm
            } else {
                ContentEncryption::Aes256Gcm
            };
            Some((algorithm, nonce))
        }
        _ => None,
    }
}

/// The content-key length an algorithm requires; `None` where any length is allowed (RC2) or
/// the algorithm is unknown.
pub(crate) fn content_key_len(id: &AlgorithmIdentifierOwned) -> Option<usize> {
    match Algorithm::from_identifier(id).ok()? {
        Algorithm::AesCbc { key_len, .. } | Algorithm::AesGcm { key_len, .. } => Some(key_len),
        Algorithm::TripleDesCbc { .. } => Some(24),
        Algorithm::Rc2Cbc { .. } => None,
    }
}

/// Is this a content-encryption algorithm we only read (3DES, RC2)?
pub(crate) fn is_legacy(id: &AlgorithmIdentifierOwned) -> bool {
    id.oid == oid::DES_EDE3_CBC || id.oid == oid::RC2_CBC
}

/// Decrypt content. `tag` and `aad` are for GCM (AuthEnvelopedData) and must be absent for CBC.
pub(crate) fn open(
    id: &AlgorithmIdentifierOwned,
    key: &[u8],
    ciphertext: &[u8],
    tag: Option<&[u8]>,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let failed = || Error::DecryptionFailed;
    let algorithm = Algorithm::from_identifier(id)?;
    let is_gcm = matches!(algorithm, Algorithm::AesGcm { .. });
    if is_gcm != tag.is_some() {
        // GCM outside AuthEnvelopedData, or CBC inside it: both unauthenticated in disguise.
        return Err(Error::UnsupportedAlgorithm(format!(
            "{} in the wrong envelope",
            id.oid
        )));
    }
    match algorithm {
        Algorithm::AesCbc { key_len, iv } => {
            if key.len() != key_len || iv.len() != 16 {
                return Err(failed());
            }
            match key_len {
                16 => cbc_decrypt::<Aes128>(key, &iv, ciphertext),
                24 => cbc_decrypt::<Aes192>(key, &iv, ciphertext),
                _ => cbc_decrypt::<Aes256>(key, &iv, ciphertext),
            }
        }
        Algorithm::TripleDesCbc { iv } => {
            if key.len() != 24 || iv.len() != 8 {
                return Err(failed());
            }
            cbc_decrypt::<des::TdesEde3>(key, &iv, ciphertext)
        }
        Algorithm::Rc2Cbc { effective_bits, iv } => {
            if key.is_empty() || key.len() > 128 || iv.len() != 8 {
                return Err(failed());
            }
            let cipher = rc2::Rc2::new_with_eff_key_len(key, effective_bits);
            let decryptor = cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, &iv)
                .map_err(|_| failed())?;
            decryptor
                .decrypt_padded_vec::<Pkcs7>(ciphertext)
                .map(Zeroizing::new)
                .map_err(|_| failed())
        }
        Algorithm::AesGcm {
            key_len,
            nonce,
            tag_len,
        } => {
            let tag = tag.unwrap_or_default();
            if key.len() != key_len
                || nonce.len() != GCM_NONCE_LEN
                || tag_len != GCM_TAG_LEN
                || tag.len() != GCM_TAG_LEN
            {
                return Err(Error::UnsupportedAlgorithm(
                    "AES-GCM with non-standard nonce or tag length".into(),
                ));
            }
            let nonce: [u8; GCM_NONCE_LEN] = nonce.as_slice().try_into().map_err(|_| failed())?;
            let tag: [u8; GCM_TAG_LEN] = tag.try_into().map_err(|_| failed())?;
            let mut buffer = Zeroizing::new(ciphertext.to_vec());
            let result = if key_len == 16 {
                Aes128Gcm::new_from_slice(key)
                    .map_err(|_| failed())?
                    .decrypt_inout_detached(
                        &nonce.into(),
                        aad,
                        buffer.as_mut_slice().into(),
                        &tag.into(),
                    )
            } else {
                Aes256Gcm::new_from_slice(key)
                    .map_err(|_| failed())?
                    .decrypt_inout_detached(
                        &nonce.into(),
                        aad,
                        buffer.as_mut_slice().into(),
                        &tag.into(),
                    )
            };
            result.map_err(|_| failed())?;
            Ok(buffer)
        }
    }
}

fn cbc_decrypt<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let decryptor =
        cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::DecryptionFailed)?;
    decryptor
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seal with a fixed IV and return the identifier alongside.
    fn sealed(
        algorithm: ContentEncryption,
        key: &[u8],
        content: &[u8],
    ) -> (AlgorithmIdentifierOwned, Sealed) {
        let iv = vec![9u8; iv_len(algorithm)];
        (
            identifier(algorithm, &iv).unwrap(),
            seal(algorithm, key, &iv, content).unwrap(),
        )
    }

    #[test]
    fn every_writable_algorithm_round_trips() {
        for algorithm in [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::Aes128Gcm,
            ContentEncryption::Aes256Gcm,
        ] {
            let key = vec![7u8; algorithm.key_len()];
            let (id, sealed) = sealed(algorithm, &key, b"attack at dawn");
            let opened = open(&id, &key, &sealed.ciphertext, sealed.tag.as_deref(), &[]).unwrap();
            assert_eq!(opened.as_slice(), b"attack at dawn");
        }
    }

    #[test]
    fn gcm_rejects_any_change() {
        let key = [1u8; 32];
        let (id, sealed) = sealed(ContentEncryption::Aes256Gcm, &key, b"secret");
        let tag = sealed.tag.clone().unwrap();
        let mut ciphertext = sealed.ciphertext.clone();
        ciphertext[0] ^= 1;
        assert!(matches!(
            open(&id, &key, &ciphertext, Some(&tag), &[]),
            Err(Error::DecryptionFailed)
        ));
        let mut bad_tag = tag.clone();
        bad_tag[15] ^= 1;
        assert!(matches!(
            open(&id, &key, &sealed.ciphertext, Some(&bad_tag), &[]),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            open(&id, &key, &sealed.ciphertext, Some(&tag), b"aad"),
            Err(Error::DecryptionFailed)
        ));
        // A GCM identifier without a tag (i.e. inside plain EnvelopedData) is refused.
        assert!(open(&id, &key, &sealed.ciphertext, None, &[]).is_err());
    }

    #[test]
    fn cbc_rejects_bad_lengths() {
        let key = [1u8; 16];
        let (id, sealed) = sealed(ContentEncryption::Aes128Cbc, &key, b"secret");
        let truncated = &sealed.ciphertext[..sealed.ciphertext.len() - 1];
        assert!(matches!(
            open(&id, &key, truncated, None, &[]),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            open(&id, &[1u8; 32], &sealed.ciphertext, None, &[]),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            open(&id, &key, &[], None, &[]),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn external_ciphertext_lengths() {
        assert!(from_external(ContentEncryption::Aes128Cbc, 16, vec![0; 32]).is_ok());
        assert!(from_external(ContentEncryption::Aes128Cbc, 15, vec![0; 32]).is_err());
        let gcm = from_external(
            ContentEncryption::Aes256Gcm,
            5,
            vec![
                1, 2, 3, 4, 5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
            ],
        );
        let gcm = gcm.unwrap();
        assert_eq!(gcm.ciphertext, [1, 2, 3, 4, 5]);
        assert_eq!(gcm.tag, Some(vec![9; 16]));
        assert!(from_external(ContentEncryption::Aes256Gcm, 5, vec![0; 20]).is_err());
    }

    #[test]
    fn rc2_parameter_versions() {
        // SEQUENCE { INTEGER 58, OCTET STRING 8 bytes }
        let der = [
            0x30, 0x0d, 0x02, 0x01, 58, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        assert_eq!(
            parse_rc2_parameters(&der),
            Some((128, vec![1, 2, 3, 4, 5, 6, 7, 8]))
        );
        let der40 = [
            0x30, 0x0e, 0x02, 0x02, 0x00, 160, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        assert_eq!(parse_rc2_parameters(&der40).map(|p| p.0), Some(40));
        let bogus = [
            0x30, 0x0d, 0x02, 0x01, 7, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        assert_eq!(parse_rc2_parameters(&bogus), None);
    }
}
