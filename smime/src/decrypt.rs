//! Decryption of EnvelopedData and AuthEnvelopedData (RFC 5652 §6, RFC 5083).
//!
//! [`decrypt`] tries every key the caller offers against every RecipientInfo that names that
//! key's certificate (by issuer+serial or subjectKeyIdentifier), by RSA key transport or ECDH
//! key agreement. Asynchronous keys use the two-phase form: [`Envelope::from_message`], then
//! [`Envelope::recipients_for`] to get the encrypted keys, unwrap one elsewhere, then
//! [`Envelope::open`] (or [`Envelope::open_agreed`] with an ECDH shared secret).
//!
//! Once the (public) structure has parsed, every failure — unwrap, key wrap integrity, padding,
//! tag — is the same [`Error::DecryptionFailed`] and yields no plaintext, so the engine is no
//! oracle for chosen-ciphertext attacks.

use cms::enveloped_data::{
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey,
    RecipientIdentifier, RecipientInfo,
};
use der::Decode;
use der::asn1::ObjectIdentifier;
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::algorithms::{DigestAlgorithm, KeyTransport, oid};
use crate::ber::{self, Element};
use crate::bulk::{Bulk, Software, run_ready};
use crate::cert::Certificate;
use crate::content_info;
use crate::error::{Error, Result};
use crate::keys::{AsyncDecryptor, Decryptor};
use crate::mime::{self, SmimeContent};
use crate::{cipher, ecdh};

/// RecipientInfos tried per offered key.
pub const MAX_ATTEMPTS_PER_KEY: usize = 4;

pub use crate::cert::RecipientId;

/// How the content-encryption key reaches one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientKey {
    /// RSA key transport: decrypt `encrypted_key` with the private key. `transport` is `None`
    /// when the algorithm is one we do not support.
    Transport {
        transport: Option<KeyTransport>,
        encrypted_key: Vec<u8>,
    },
    /// ECDH key agreement (RFC 5753): compute the shared secret with `originator_public_key`
    /// (a SEC1 point) and pass it to [`Envelope::open_agreed`].
    Agreement {
        originator_public_key: Vec<u8>,
        ukm: Option<Vec<u8>>,
        key_agreement_algorithm: ObjectIdentifier,
        key_wrap_algorithm: ObjectIdentifier,
        encrypted_key: Vec<u8>,
    },
}

/// One RecipientInfo (for key agreement: one of its recipientEncryptedKeys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: RecipientId,
    pub key: RecipientKey,
}

/// A parsed EnvelopedData or AuthEnvelopedData, ready to open once a content key is known.
#[derive(Debug, Clone)]
pub struct Envelope {
    recipients: Vec<Recipient>,
    content_type: ObjectIdentifier,
    algorithm: AlgorithmIdentifierOwned,
    ciphertext: Vec<u8>,
    /// The `mac` of AuthEnvelopedData; `None` for EnvelopedData.
    tag: Option<Vec<u8>>,
    /// DER of authAttrs (tagged SET OF): GCM's additional authenticated data.
    aad: Vec<u8>,
}

pub use crate::bulk::ContentParameters;

/// What decryption produced.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The decrypted content: for S/MIME a MIME entity, possibly itself signed.
    pub content: Vec<u8>,
    /// The content type inside (id-data for S/MIME).
    pub content_type: ObjectIdentifier,
    /// The content-encryption algorithm.
    pub algorithm: ObjectIdentifier,
    /// AuthEnvelopedData: the content was integrity-protected. CBC content is not, which is why
    /// mail should be signed inside the encryption.
    pub authenticated: bool,
    /// 3DES or RC2: readable, but the sender should be told to upgrade.
    pub legacy_algorithm: bool,
}

impl Envelope {
    /// Parse an application/pkcs7-mime message (or entity).
    pub fn from_message(message: &[u8]) -> Result<Self> {
        match mime::parse_smime(message)? {
            SmimeContent::Opaque { cms } => Self::from_cms(&cms),
            SmimeContent::ClearSigned { .. } => Err(Error::UnexpectedContentType {
                expected: "EnvelopedData",
                found: "multipart/signed".into(),
            }),
            SmimeContent::NotSmime => Err(Error::NotSmime),
        }
    }

    /// Parse a CMS ContentInfo holding EnvelopedData or AuthEnvelopedData (BER or DER).
    pub fn from_cms(cms: &[u8]) -> Result<Self> {
        let der = ber::normalize(cms)?;
        let (content_type, body) = content_info::split(&der)?;
        let authenticated = content_type == oid::AUTH_ENVELOPED_DATA;
        if content_type != oid::ENVELOPED_DATA && !authenticated {
            return Err(Error::UnexpectedContentType {
                expected: "EnvelopedData",
                found: content_type.to_string(),
            });
        }
        let mut recipients = Vec::new();
        let mut encrypted_content_info = None;
        let mut aad = Vec::new();
        let mut tag = None;
        // version, [0] originatorInfo, recipientInfos SET, encryptedContentInfo SEQUENCE, then
        // [1] unprotectedAttrs (EnvelopedData) or [1] authAttrs, mac, [2] unauthAttrs.
        for field in body.children()?.iter().skip(1) {
            let tag_of = field.tag;
            if tag_of.is_universal(17) {
                recipients = field
                    .children()?
                    .iter()
                    .flat_map(|ri| recipients_of(ri.raw))
                    .collect();
            } else if tag_of.is_universal(16) {
                encrypted_content_info = Some(*field);
            } else if authenticated && tag_of.is_context(1) {
                aad = retag_as_set(field.raw);
            } else if authenticated && tag_of.is_universal(4) {
                tag = Some(field.contents.to_vec());
            }
        }
        let eci = encrypted_content_info.ok_or(Error::DecryptionFailed)?;
        let (eci_type, algorithm, ciphertext) = encrypted_content(&eci)?;
        if authenticated && tag.is_none() {
            return Err(Error::DecryptionFailed);
        }
        Ok(Self {
            recipients,
            content_type: eci_type,
            algorithm,
            ciphertext,
            tag,
            aad,
        })
    }

    /// The content-encryption algorithm (readable without any key).
    pub fn algorithm(&self) -> ObjectIdentifier {
        self.algorithm.oid
    }

    /// Every key-transport recipient.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// The recipients meant for this certificate.
    pub fn recipients_for<'a>(
        &'a self,
        cert: &'a Certificate,
    ) -> impl Iterator<Item = &'a Recipient> + 'a {
        self.recipients.iter().filter(move |r| r.id.matches(cert))
    }

    /// The content encryption, for decrypting with an external AES (WebCrypto): `None` when
    /// only this crate can decrypt it (3DES, RC2, AES-192, unusual GCM parameters); use
    /// [`Self::open`] then. An external decryption must, like ours, release nothing unless it
    /// succeeds completely (WebCrypto's `decrypt` does so).
    pub fn content_parameters(&self) -> Option<ContentParameters<'_>> {
        let (algorithm, iv) = cipher::external_parameters(&self.algorithm)?;
        Some(ContentParameters {
            algorithm,
            iv,
            ciphertext: &self.ciphertext,
            tag: self.tag.as_deref(),
            additional_data: &self.aad,
        })
    }

    /// Decrypt the content with an unwrapped content-encryption key.
    pub fn open(&self, content_key: &[u8]) -> Result<Decrypted> {
        run_ready(self.open_with(&Software, content_key))
    }

    /// [`Self::open`] with `bulk` decrypting what it can (AES); the engine decrypts the rest.
    pub async fn open_with<B: Bulk + ?Sized>(
        &self,
        bulk: &B,
        content_key: &[u8],
    ) -> Result<Decrypted> {
        let mut plaintext = match self.content_parameters() {
            // GCM outside AuthEnvelopedData or CBC inside it is refused by `cipher::open`.
            Some(content) if content.algorithm.is_authenticated() == self.tag.is_some() => {
                bulk.decrypt(&content, content_key).await?
            }
            _ => cipher::open(
                &self.algorithm,
                content_key,
                &self.ciphertext,
                self.tag.as_deref(),
                &self.aad,
            )?,
        };
        Ok(Decrypted {
            content: core::mem::take(&mut *plaintext),
            content_type: self.content_type,
            algorithm: self.algorithm.oid,
            authenticated: self.tag.is_some(),
            legacy_algorithm: cipher::is_legacy(&self.algorithm),
        })
    }

    /// Decrypt with the ECDH shared secret computed for a key agreement recipient.
    pub fn open_agreed(&self, recipient: &Recipient, shared_secret: &[u8]) -> Result<Decrypted> {
        run_ready(self.open_agreed_with(&Software, recipient, shared_secret))
    }

    /// [`Self::open_agreed`] with `bulk` decrypting the content.
    pub async fn open_agreed_with<B: Bulk + ?Sized>(
        &self,
        bulk: &B,
        recipient: &Recipient,
        shared_secret: &[u8],
    ) -> Result<Decrypted> {
        let RecipientKey::Agreement {
            ukm,
            key_agreement_algorithm,
            key_wrap_algorithm,
            encrypted_key,
            ..
        } = &recipient.key
        else {
            return Err(Error::DecryptionFailed);
        };
        let digest = ecdh::kdf_digest(key_agreement_algorithm)
            .ok_or_else(|| Error::UnsupportedAlgorithm(key_agreement_algorithm.to_string()))?;
        let kek = ecdh::derive_kek(digest, key_wrap_algorithm, ukm.as_deref(), shared_secret)?;
        let content_key = ecdh::unwrap_key(&kek, encrypted_key)?;
        self.open_with(bulk, &content_key).await
    }

    /// Try every offered key on every RecipientInfo naming its certificate.
    pub fn decrypt(
        &self,
        keys: &[(&Certificate, &dyn Decryptor)],
        rng: &mut dyn CryptoRng,
    ) -> Result<Decrypted> {
        run_ready(self.decrypt_with(&Software, keys, rng))
    }

    /// [`Self::decrypt`] with `bulk` decrypting the content.
    pub async fn decrypt_with<B: Bulk + ?Sized, K: AsyncDecryptor + ?Sized>(
        &self,
        bulk: &B,
        keys: &[(&Certificate, &K)],
        rng: &mut dyn CryptoRng,
    ) -> Result<Decrypted> {
        for (cert, key) in keys {
            // A hostile message could name our certificate thousands of times, each costing a
            // private-key operation (slow in the browser, a PIN prompt on a card).
            for recipient in self.recipients_for(cert).take(MAX_ATTEMPTS_PER_KEY) {
                if let Ok(decrypted) = self.decrypt_one(bulk, recipient, *key, rng).await {
                    return Ok(decrypted);
                }
            }
        }
        Err(Error::DecryptionFailed)
    }

    async fn decrypt_one<B: Bulk + ?Sized, K: AsyncDecryptor + ?Sized>(
        &self,
        bulk: &B,
        recipient: &Recipient,
        key: &K,
        rng: &mut dyn CryptoRng,
    ) -> Result<Decrypted> {
        match &recipient.key {
            RecipientKey::Transport {
                transport: Some(transport),
                encrypted_key,
            } => {
                // RFC 3218 §2.3: on a failed unwrap carry on with a random key of the right
                // length, so a PKCS#1 v1.5 padding failure and a content failure take alike (no
                // Bleichenbacher oracle through timing). The result of that decryption is then
                // thrown away: CBC padding is valid by chance once in 256 tries, and garbage
                // must never be shown as the message.
                let expected_len = cipher::content_key_len(&self.algorithm);
                let (content_key, unwrapped) =
                    match key.decrypt_key(*transport, encrypted_key, rng).await {
                        Ok(k) if expected_len.is_none_or(|len| k.len() == len) => (k, true),
                        _ => {
                            let mut random = Zeroizing::new(vec![0u8; expected_len.unwrap_or(16)]);
                            rng.fill_bytes(&mut random);
                            (random, false)
                        }
                    };
                let opened = self.open_with(bulk, &content_key).await;
                if !unwrapped {
                    return Err(Error::DecryptionFailed);
                }
                opened
            }
            RecipientKey::Transport {
                transport: None, ..
            } => Err(Error::DecryptionFailed),
            RecipientKey::Agreement {
                originator_public_key,
                ..
            } => {
                let shared_secret = key.agree(originator_public_key).await?;
                self.open_agreed_with(bulk, recipient, &shared_secret).await
            }
        }
    }
}

/// Decrypt an application/pkcs7-mime message with any of the offered keys.
pub fn decrypt(
    message: &[u8],
    keys: &[(&Certificate, &dyn Decryptor)],
    rng: &mut dyn CryptoRng,
) -> Result<Decrypted> {
    Envelope::from_message(message)?.decrypt(keys, rng)
}

/// The recipients of one RecipientInfo: one for key transport, one per encrypted key for key
/// agreement, none for kinds we do not read (and ones we cannot decode): those are for other
/// recipients' software and must not stop ours.
fn recipients_of(raw: &[u8]) -> Vec<Recipient> {
    match RecipientInfo::from_der(raw) {
        Ok(RecipientInfo::Ktri(ktri)) => {
            let id = match ktri.rid {
                RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                    RecipientId::IssuerAndSerial(ias)
                }
                RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                    RecipientId::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
                }
            };
            let key = RecipientKey::Transport {
                transport: key_transport(&ktri.key_enc_alg),
                encrypted_key: ktri.enc_key.as_bytes().to_vec(),
            };
            vec![Recipient { id, key }]
        }
        Ok(RecipientInfo::Kari(kari)) => key_agreement_recipients(&kari).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn key_agreement_recipients(kari: &KeyAgreeRecipientInfo) -> Option<Vec<Recipient>> {
    // Only an ephemeral originator key is used by S/MIME (RFC 5753 §3.1.1).
    let OriginatorIdentifierOrKey::OriginatorKey(originator) = &kari.originator else {
        return None;
    };
    let originator_public_key = originator.public_key.as_bytes()?.to_vec();
    let wrap = AlgorithmIdentifierOwned::from_der(
        &der::Encode::to_der(kari.key_enc_alg.parameters.as_ref()?).ok()?,
    )
    .ok()?;
    let ukm = kari.ukm.as_ref().map(|u| u.as_bytes().to_vec());
    let recipients = kari
        .recipient_enc_keys
        .iter()
        .map(|rek| Recipient {
            id: match &rek.rid {
                KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(ias) => {
                    RecipientId::IssuerAndSerial(ias.clone())
                }
                KeyAgreeRecipientIdentifier::RKeyId(rkey) => RecipientId::SubjectKeyIdentifier(
                    rkey.subject_key_identifier.0.as_bytes().to_vec(),
                ),
            },
            key: RecipientKey::Agreement {
                originator_public_key: originator_public_key.clone(),
                ukm: ukm.clone(),
                key_agreement_algorithm: kari.key_enc_alg.oid,
                key_wrap_algorithm: wrap.oid,
                encrypted_key: rek.enc_key.as_bytes().to_vec(),
            },
        })
        .collect();
    Some(recipients)
}

/// The RSA key transport named by a keyEncryptionAlgorithm.
fn key_transport(algorithm: &AlgorithmIdentifierOwned) -> Option<KeyTransport> {
    if algorithm.oid == oid::RSA_ENCRYPTION {
        return Some(KeyTransport::RsaPkcs1v15);
    }
    if algorithm.oid != oid::RSAES_OAEP {
        return None;
    }
    // RSAES-OAEP-params: [0] hash, [1] MGF, [2] pSource; each defaults to its SHA-1 form.
    let params = match &algorithm.parameters {
        Some(p) => der::Encode::to_der(p).ok()?,
        None => return Some(KeyTransport::RsaOaep(DigestAlgorithm::Sha1)),
    };
    let mut hash = DigestAlgorithm::Sha1;
    let mut mgf_hash = DigestAlgorithm::Sha1;
    for field in ber::parse_one(&params).ok()?.children().ok()? {
        match field.tag.number {
            0 => {
                hash = DigestAlgorithm::from_oid(
                    &AlgorithmIdentifierOwned::from_der(field.contents).ok()?.oid,
                )?
            }
            1 => {
                let mgf = AlgorithmIdentifierOwned::from_der(field.contents).ok()?;
                let inner = der::Encode::to_der(&mgf.parameters?).ok()?;
                if mgf.oid != oid::MGF1 {
                    return None;
                }
                mgf_hash = DigestAlgorithm::from_oid(
                    &AlgorithmIdentifierOwned::from_der(&inner).ok()?.oid,
                )?;
            }
            // A non-empty label is never used by S/MIME; decline anything but the default.
            _ => return None,
        }
    }
    (hash == mgf_hash).then_some(KeyTransport::RsaOaep(hash))
}

/// EncryptedContentInfo: content type, algorithm, and the ciphertext (which a BER sender may
/// have split into chunks inside the implicit `[0]`).
fn encrypted_content(
    eci: &Element<'_>,
) -> Result<(ObjectIdentifier, AlgorithmIdentifierOwned, Vec<u8>)> {
    let fields = eci.children()?;
    let [content_type, algorithm, rest @ ..] = fields.as_slice() else {
        return Err(Error::DecryptionFailed);
    };
    let content_type = ObjectIdentifier::from_der(content_type.raw)?;
    let algorithm = AlgorithmIdentifierOwned::from_der(algorithm.raw)?;
    // Detached ciphertext (no [0]) is not used by S/MIME.
    let encrypted = rest
        .iter()
        .find(|f| f.tag.is_context(0))
        .ok_or(Error::MissingContent)?;
    Ok((
        content_type,
        algorithm,
        ber::flatten_implicit_string(encrypted)?,
    ))
}

/// `[1] IMPLICIT` attributes re-tagged as the SET OF that was authenticated.
fn retag_as_set(raw: &[u8]) -> Vec<u8> {
    let mut der = raw.to_vec();
    if let Some(first) = der.first_mut() {
        *first = 0x31;
    }
    der
}
