//! Encryption: EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM, RFC 5083/5084) with RSA
//! key transport (PKCS#1 v1.5 or OAEP) or ECDH P-256/P-384 key agreement (RFC 5753) to every
//! recipient, wrapped as application/pkcs7-mime.

use cms::authenveloped_data::AuthEnvelopedData;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

use crate::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport, oid};
use crate::bulk::{Bulk, Software, run_ready};
use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::headers::{self, Protection};
use crate::keys::PublicKey;
use crate::mime::{self, SmimeType};
use crate::{cipher, ecdh};

/// How recipients are named in RecipientInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecipientIdKind {
    #[default]
    IssuerAndSerial,
    /// subjectKeyIdentifier (falls back to issuer+serial for a certificate without one).
    SubjectKeyIdentifier,
}

/// Options for encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptOptions {
    pub algorithm: ContentEncryption,
    pub key_transport: KeyTransport,
    pub recipient_id: RecipientIdKind,
    /// Move the header fields into the encrypted entity and obscure the outer Subject
    /// (RFC 9788, `hp="cipher"`); see [`crate::headers`].
    pub protect_headers: bool,
}

impl Default for EncryptOptions {
    /// AES-256-CBC with PKCS#1 v1.5: what every deployed client reads. Policy (for example
    /// AES-256-GCM first) belongs to the caller, who knows the recipients' capabilities.
    fn default() -> Self {
        Self {
            algorithm: ContentEncryption::Aes256Cbc,
            key_transport: KeyTransport::RsaPkcs1v15,
            recipient_id: RecipientIdKind::IssuerAndSerial,
            protect_headers: false,
        }
    }
}

/// Encrypt a message (or bare entity): transport fields stay outside, the canonical MIME entity
/// is encrypted to every recipient. Include the sender's own certificate among the recipients to
/// keep the Sent copy readable.
pub fn encrypt(
    message: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    run_ready(encrypt_with(&Software, message, recipients, options, rng))
}

/// [`encrypt`] with the content encrypted by `bulk`.
pub async fn encrypt_with<B: Bulk + ?Sized>(
    bulk: &B,
    message: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let prepared = prepare(message, recipients, options, rng)?;
    prepared.seal_with(bulk).await
}

/// Encrypt an entity that is already canonical, emitting `outer_fields` verbatim.
pub fn encrypt_entity(
    outer_fields: &[u8],
    entity: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    run_ready(encrypt_entity_with(
        &Software,
        outer_fields.to_vec(),
        entity,
        recipients,
        options,
        rng,
    ))
}

/// [`encrypt_entity`] with the content encrypted by `bulk`.
pub async fn encrypt_entity_with<B: Bulk + ?Sized>(
    bulk: &B,
    outer_fields: Vec<u8>,
    entity: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    prepare_entity(outer_fields, entity.to_vec(), recipients, options, rng)?
        .seal_with(bulk)
        .await
}

/// Build the CMS ContentInfo (DER) holding `content` encrypted to `recipients`.
pub fn envelope(
    content: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let prepared = prepare_entity(Vec::new(), content.to_vec(), recipients, options, rng)?;
    let sealed = cipher::seal(
        prepared.algorithm,
        &prepared.content_key,
        &prepared.iv,
        &prepared.content,
    )?;
    prepared.content_info(sealed)
}

/// Phase one of encryption, for callers that encrypt the content themselves (WebCrypto's
/// native AES for large attachments): the content key is generated and delivered to every
/// recipient; the caller encrypts [`Self::plaintext`] with [`Self::content_key`] and
/// [`Self::iv`] and hands the result to [`Self::finish`]. [`Self::seal`] does it in software.
pub struct PreparedEnvelope {
    outer_fields: Vec<u8>,
    content: Vec<u8>,
    algorithm: ContentEncryption,
    content_key: Zeroizing<Vec<u8>>,
    iv: Vec<u8>,
    recipient_infos: Vec<RecipientInfo>,
}

impl core::fmt::Debug for PreparedEnvelope {
    // The content key and plaintext stay out of logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreparedEnvelope")
            .field("algorithm", &self.algorithm)
            .field("recipients", &self.recipient_infos.len())
            .finish_non_exhaustive()
    }
}

/// Phase one for a message: like [`encrypt`], but stopping before content encryption.
pub fn prepare(
    message: &[u8],
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<PreparedEnvelope> {
    let split = if options.protect_headers {
        headers::split_protected(message, Protection::Cipher)?
    } else {
        mime::split_message(message)?
    };
    prepare_entity(split.outer_fields, split.entity, recipients, options, rng)
}

/// Phase one for an entity that is already canonical; `outer_fields` are emitted verbatim.
pub fn prepare_entity(
    outer_fields: Vec<u8>,
    entity: Vec<u8>,
    recipients: &[Certificate],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<PreparedEnvelope> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    let mut content_key = Zeroizing::new(vec![0u8; options.algorithm.key_len()]);
    rng.fill_bytes(&mut content_key);
    let mut iv = vec![0u8; cipher::iv_len(options.algorithm)];
    rng.fill_bytes(&mut iv);
    let recipient_infos = recipients
        .iter()
        .map(|cert| recipient_info(cert, &content_key, options, rng))
        .collect::<Result<Vec<_>>>()?;
    Ok(PreparedEnvelope {
        outer_fields,
        content: entity,
        algorithm: options.algorithm,
        content_key,
        iv,
        recipient_infos,
    })
}

impl PreparedEnvelope {
    pub fn algorithm(&self) -> ContentEncryption {
        self.algorithm
    }

    /// The content-encryption key (16 or 32 bytes). Keep it only as long as the encryption.
    pub fn content_key(&self) -> &[u8] {
        &self.content_key
    }

    /// The CBC IV (16 bytes) or GCM nonce (12 bytes). GCM must use a 128-bit tag and no
    /// additional data.
    pub fn iv(&self) -> &[u8] {
        &self.iv
    }

    /// The canonical entity to encrypt.
    pub fn plaintext(&self) -> &[u8] {
        &self.content
    }

    /// Encrypt in software and build the message.
    pub fn seal(self) -> Result<Vec<u8>> {
        let sealed = cipher::seal(self.algorithm, &self.content_key, &self.iv, &self.content)?;
        self.message(sealed)
    }

    /// Encrypt with `bulk` and build the message.
    pub async fn seal_with<B: Bulk + ?Sized>(self, bulk: &B) -> Result<Vec<u8>> {
        let ciphertext = bulk
            .encrypt(self.algorithm, &self.content_key, &self.iv, &self.content)
            .await?;
        self.finish(ciphertext)
    }

    /// Build the message from ciphertext made elsewhere: PKCS#7-padded AES-CBC output, or
    /// AES-GCM ciphertext followed by the 16-byte tag (both exactly what WebCrypto returns).
    pub fn finish(self, ciphertext: Vec<u8>) -> Result<Vec<u8>> {
        let sealed = cipher::from_external(self.algorithm, self.content.len(), ciphertext)?;
        self.message(sealed)
    }

    fn message(self, sealed: cipher::Sealed) -> Result<Vec<u8>> {
        let smime_type = if self.algorithm.is_authenticated() {
            SmimeType::AuthEnvelopedData
        } else {
            SmimeType::EnvelopedData
        };
        let outer_fields = self.outer_fields.clone();
        let cms = self.content_info(sealed)?;
        Ok(mime::build_pkcs7_mime(&outer_fields, &cms, smime_type))
    }

    /// The CMS ContentInfo (DER).
    fn content_info(self, sealed: cipher::Sealed) -> Result<Vec<u8>> {
        // RFC 5652 §6.1: version 0 only when every RecipientInfo is a version 0 ktri.
        let all_v0 = self
            .recipient_infos
            .iter()
            .all(|ri| matches!(ri, RecipientInfo::Ktri(k) if k.version == CmsVersion::V0));
        let recip_infos = RecipientInfos::try_from(self.recipient_infos)?;
        let encrypted_content = EncryptedContentInfo {
            content_type: oid::DATA,
            content_enc_alg: cipher::identifier(self.algorithm, &self.iv)?,
            encrypted_content: Some(OctetString::new(sealed.ciphertext)?),
        };
        let (content_type, content) = match sealed.tag {
            None => {
                let enveloped = EnvelopedData {
                    version: if all_v0 {
                        CmsVersion::V0
                    } else {
                        CmsVersion::V2
                    },
                    originator_info: None,
                    recip_infos,
                    encrypted_content,
                    unprotected_attrs: None,
                };
                (oid::ENVELOPED_DATA, Any::encode_from(&enveloped)?)
            }
            Some(tag) => {
                let auth_enveloped = AuthEnvelopedData {
                    version: CmsVersion::V0,
                    originator_info: None,
                    recip_infos,
                    auth_encrypted_content_info: encrypted_content,
                    auth_attrs: None,
                    mac: OctetString::new(tag)?,
                    unauth_attrs: None,
                };
                (oid::AUTH_ENVELOPED_DATA, Any::encode_from(&auth_enveloped)?)
            }
        };
        Ok(ContentInfo {
            content_type,
            content,
        }
        .to_der()?)
    }
}

fn recipient_info(
    cert: &Certificate,
    content_key: &[u8],
    options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<RecipientInfo> {
    let public_key = PublicKey::from_spki_der(&cert.public_key_info_der()?)?;
    let ski = match options.recipient_id {
        RecipientIdKind::IssuerAndSerial => None,
        RecipientIdKind::SubjectKeyIdentifier => cert.subject_key_identifier(),
    };
    match &public_key {
        PublicKey::Rsa(_) => {}
        PublicKey::P256(key) => {
            let key = ecdh::RecipientKey::P256(p256::PublicKey::from(key));
            return ecdh::recipient_info(&key, cert.issuer_and_serial(), ski, content_key, rng);
        }
        PublicKey::P384(key) => {
            let key = ecdh::RecipientKey::P384(p384::PublicKey::from(key));
            return ecdh::recipient_info(&key, cert.issuer_and_serial(), ski, content_key, rng);
        }
    }
    let encrypted_key = public_key.encrypt_key(options.key_transport, content_key, rng)?;
    // ktri version 2 goes with a subjectKeyIdentifier, 0 with issuer+serial (RFC 5652 §6.2.1).
    let (version, rid) = match ski {
        Some(ski) => (
            CmsVersion::V2,
            RecipientIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(OctetString::new(ski)?)),
        ),
        None => (
            CmsVersion::V0,
            RecipientIdentifier::IssuerAndSerialNumber(cert.issuer_and_serial()),
        ),
    };
    Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
        version,
        rid,
        key_enc_alg: key_transport_identifier(options.key_transport)?,
        enc_key: OctetString::new(encrypted_key)?,
    }))
}

/// keyEncryptionAlgorithm for RSA key transport.
fn key_transport_identifier(transport: KeyTransport) -> Result<AlgorithmIdentifierOwned> {
    Ok(match transport {
        KeyTransport::RsaPkcs1v15 => AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        KeyTransport::RsaOaep(digest) => AlgorithmIdentifierOwned {
            oid: oid::RSAES_OAEP,
            parameters: Some(Any::from_der(&oaep_parameters(digest)?)?),
        },
    })
}

/// RSAES-OAEP-params (RFC 4055 §4.1): the digest for the label hash and MGF1; empty label.
fn oaep_parameters(digest: DigestAlgorithm) -> Result<Vec<u8>> {
    use crate::ber::{Tag, push_element};
    let hash = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    }
    .to_der()?;
    let mgf = AlgorithmIdentifierOwned {
        oid: oid::MGF1,
        parameters: Some(Any::from_der(&hash)?),
    }
    .to_der()?;
    let mut fields = Vec::new();
    push_element(
        Tag {
            class: 2,
            constructed: true,
            number: 0,
        },
        true,
        &hash,
        &mut fields,
    );
    push_element(
        Tag {
            class: 2,
            constructed: true,
            number: 1,
        },
        true,
        &mgf,
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
