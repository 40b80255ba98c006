//! Layers: sign-then-encrypt, triple wrap (sign, encrypt, sign — RFC 2634 §1.1), and opening a
//! message of any nesting back down to its innermost entity.

use der::asn1::ObjectIdentifier;
use rand_core::CryptoRng;

use crate::algorithms::oid;
use crate::ber;
use crate::bulk::{Bulk, Software, run_ready};
use crate::cert::Certificate;
use crate::content_info;
use crate::decrypt::Envelope;
use crate::envelope::{self, EncryptOptions};
use crate::error::{Error, Result};
use crate::headers::{self, Protection};
use crate::keys::{AsyncDecryptor, AsyncSigner, Decryptor, Signer};
use crate::mime::{self, Entity, SmimeContent, SplitMessage};
use crate::sign::{self, SignOptions, SignedFormat};
use crate::verify::{self, SignerResult, Verification};

/// Most S/MIME layers we unwrap: triple wrap needs three; more is hostile.
pub const MAX_LAYERS: usize = 8;

/// Sign, then encrypt the signed entity. Header protection (either option) puts the fields
/// inside the signature and obscures the outer Subject.
pub fn sign_and_encrypt(
    message: &[u8],
    signer_cert: &Certificate,
    key: &dyn Signer,
    sign_options: &SignOptions,
    recipients: &[Certificate],
    encrypt_options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    run_ready(sign_and_encrypt_with(
        &Software,
        message,
        signer_cert,
        key,
        sign_options,
        recipients,
        encrypt_options,
        rng,
    ))
}

/// [`sign_and_encrypt`] with the bulk hashing and encryption done by `bulk`.
#[allow(clippy::too_many_arguments)]
pub async fn sign_and_encrypt_with<B: Bulk + ?Sized, K: AsyncSigner + ?Sized>(
    bulk: &B,
    message: &[u8],
    signer_cert: &Certificate,
    key: &K,
    sign_options: &SignOptions,
    recipients: &[Certificate],
    encrypt_options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let (outer_fields, signed) = signed_inner(
        bulk,
        message,
        signer_cert,
        key,
        sign_options,
        encrypt_options,
        rng,
    )
    .await?;
    envelope::prepare_entity(outer_fields, signed, recipients, encrypt_options, rng)?
        .seal_with(bulk)
        .await
}

/// Triple wrap: sign, encrypt, and sign the encrypted entity again so the outer signature can
/// be checked (by the server, or a gateway) without decrypting.
pub fn triple_wrap(
    message: &[u8],
    signer_cert: &Certificate,
    key: &dyn Signer,
    sign_options: &SignOptions,
    recipients: &[Certificate],
    encrypt_options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    run_ready(triple_wrap_with(
        &Software,
        message,
        signer_cert,
        key,
        sign_options,
        recipients,
        encrypt_options,
        rng,
    ))
}

/// [`triple_wrap`] with the bulk hashing and encryption done by `bulk`.
#[allow(clippy::too_many_arguments)]
pub async fn triple_wrap_with<B: Bulk + ?Sized, K: AsyncSigner + ?Sized>(
    bulk: &B,
    message: &[u8],
    signer_cert: &Certificate,
    key: &K,
    sign_options: &SignOptions,
    recipients: &[Certificate],
    encrypt_options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let (outer_fields, signed) = signed_inner(
        bulk,
        message,
        signer_cert,
        key,
        sign_options,
        encrypt_options,
        rng,
    )
    .await?;
    let encrypted = envelope::prepare_entity(Vec::new(), signed, recipients, encrypt_options, rng)?
        .seal_with(bulk)
        .await?;
    let prepared =
        sign::prepare_entity_with(bulk, outer_fields, encrypted, signer_cert, sign_options).await?;
    let signature = key
        .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), rng)
        .await?;
    prepared.finish(&signature)
}

/// The innermost signed entity (no transport fields) and the transport fields for the outside.
async fn signed_inner<B: Bulk + ?Sized, K: AsyncSigner + ?Sized>(
    bulk: &B,
    message: &[u8],
    signer_cert: &Certificate,
    key: &K,
    sign_options: &SignOptions,
    encrypt_options: &EncryptOptions,
    rng: &mut dyn CryptoRng,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let SplitMessage {
        outer_fields,
        entity,
    } = if sign_options.protect_headers || encrypt_options.protect_headers {
        headers::split_protected(message, Protection::Cipher)?
    } else {
        mime::split_message(message)?
    };
    let entity = mime::make_7bit_safe(entity)?;
    let prepared =
        sign::prepare_entity_with(bulk, Vec::new(), entity, signer_cert, sign_options).await?;
    let signature = key
        .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), rng)
        .await?;
    Ok((outer_fields, prepared.finish(&signature)?))
}

/// One S/MIME layer that was removed.
#[derive(Debug, Clone)]
pub enum Layer {
    Signed {
        format: SignedFormat,
        signers: Vec<SignerResult>,
        certificates: Vec<Certificate>,
    },
    Encrypted {
        algorithm: ObjectIdentifier,
        authenticated: bool,
        legacy_algorithm: bool,
    },
}

/// A message with every S/MIME layer removed, outermost layer first.
#[derive(Debug, Clone)]
pub struct Opened {
    pub layers: Vec<Layer>,
    /// The innermost entity: what the user reads. With header protection its header fields are
    /// the authentic ones (see [`crate::headers::declared_protection`]).
    pub entity: Vec<u8>,
}

impl Opened {
    /// Every signature layer valid, and at least one present.
    pub fn all_signatures_valid(&self) -> bool {
        let mut signed = self.layers.iter().filter_map(|l| match l {
            Layer::Signed { signers, .. } => Some(signers),
            Layer::Encrypted { .. } => None,
        });
        let mut any = false;
        let all = signed.all(|signers| {
            any = true;
            !signers.is_empty() && signers.iter().all(SignerResult::is_valid)
        });
        any && all
    }

    pub fn is_encrypted(&self) -> bool {
        self.layers
            .iter()
            .any(|l| matches!(l, Layer::Encrypted { .. }))
    }
}

/// Remove every layer: verify signatures, decrypt with the offered keys (none needed if the
/// message is only signed). Inner signers are compared with the outermost From unless the inner
/// entity carries its own (header protection).
pub fn open(
    message: &[u8],
    keys: &[(&Certificate, &dyn Decryptor)],
    rng: &mut dyn CryptoRng,
) -> Result<Opened> {
    run_ready(open_with(&Software, message, keys, rng))
}

/// [`open`], offering `candidates` for signers whose certificate a signed layer does not carry
/// (see [`verify::verify_with_candidates`]).
pub fn open_with_candidates(
    message: &[u8],
    keys: &[(&Certificate, &dyn Decryptor)],
    candidates: &[Certificate],
    rng: &mut dyn CryptoRng,
) -> Result<Opened> {
    run_ready(open_among(&Software, message, keys, candidates, rng))
}

/// [`open`] with the bulk hashing and decryption done by `bulk`.
pub async fn open_with<B: Bulk + ?Sized, K: AsyncDecryptor + ?Sized>(
    bulk: &B,
    message: &[u8],
    keys: &[(&Certificate, &K)],
    rng: &mut dyn CryptoRng,
) -> Result<Opened> {
    open_among(bulk, message, keys, &[], rng).await
}

/// [`open_with_candidates`] with the bulk hashing and decryption done by `bulk`.
pub async fn open_among<B: Bulk + ?Sized, K: AsyncDecryptor + ?Sized>(
    bulk: &B,
    message: &[u8],
    keys: &[(&Certificate, &K)],
    candidates: &[Certificate],
    rng: &mut dyn CryptoRng,
) -> Result<Opened> {
    let outer_from = from_addresses(message)?;
    let mut layers = Vec::new();
    let mut current = message.to_vec();
    for _ in 0..MAX_LAYERS {
        // Each layer is parsed once: the signed layer is verified from the parts found here.
        let next = match mime::parse_smime(&current)? {
            SmimeContent::NotSmime => {
                return Ok(Opened {
                    layers,
                    entity: current,
                });
            }
            SmimeContent::ClearSigned {
                signed_content,
                signature,
            } => {
                let verification = verify::verify_signed_data_among(
                    bulk,
                    &signature,
                    Some(signed_content),
                    candidates,
                )
                .await?;
                signed_layer(verification, &current, &outer_from, &mut layers)?
            }
            SmimeContent::Opaque { cms } => match cms_content_type(&cms)? {
                t if t == oid::SIGNED_DATA => {
                    let verification =
                        verify::verify_signed_data_among(bulk, &cms, None, candidates).await?;
                    signed_layer(verification, &current, &outer_from, &mut layers)?
                }
                t if t == oid::ENVELOPED_DATA || t == oid::AUTH_ENVELOPED_DATA => {
                    let decrypted = Envelope::from_cms(&cms)?
                        .decrypt_with(bulk, keys, rng)
                        .await?;
                    layers.push(Layer::Encrypted {
                        algorithm: decrypted.algorithm,
                        authenticated: decrypted.authenticated,
                        legacy_algorithm: decrypted.legacy_algorithm,
                    });
                    decrypted.content
                }
                other => {
                    return Err(Error::UnexpectedContentType {
                        expected: "S/MIME content",
                        found: other.to_string(),
                    });
                }
            },
        };
        current = next;
    }
    Err(Error::UnexpectedContentType {
        expected: "at most 8 S/MIME layers",
        found: "more".into(),
    })
}

fn from_addresses(entity: &[u8]) -> Result<Option<Vec<String>>> {
    Ok(Entity::parse(entity)?.from_addresses())
}

fn cms_content_type(cms: &[u8]) -> Result<ObjectIdentifier> {
    let der = ber::normalize(cms)?;
    Ok(content_info::split(&der)?.0)
}

/// Record one verified signed layer and return its content. Signers are compared with the
/// layer's own From (a protected header) if it has one, else with the outermost From.
fn signed_layer(
    mut verification: Verification,
    entity: &[u8],
    outer_from: &Option<Vec<String>>,
    layers: &mut Vec<Layer>,
) -> Result<Vec<u8>> {
    if let Some(from) = from_addresses(entity)?.as_ref().or(outer_from.as_ref()) {
        verify::compare_with_from(&mut verification.signers, from);
    }
    layers.push(Layer::Signed {
        format: verification.format,
        signers: verification.signers,
        certificates: verification.certificates,
    });
    Ok(verification.content)
}
