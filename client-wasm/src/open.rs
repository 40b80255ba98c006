//! Reading: remove every S/MIME layer of a message with the user's keys, report each layer, and
//! parse the innermost entity for display.

use core::cell::{Cell, RefCell};

use mail_parser::{MessageParser, MimeHeaders, PartType};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use smime::Certificate;
use smime::algorithms::{KeyTransport, content_encryption_name};
use smime::bulk::{Bulk, Software, run_ready};
use smime::keys::{AsyncDecryptor, KeyError};
use smime::sign::SignedFormat;
use smime::verify::SignerResult;
use smime::wrap::{self, Layer};
use thiserror::Error;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::card::{CardChannel, NoCard};
use crate::identity::{CertInfo, describe};
use crate::js::{SecretBytes, from_js, js_error, rng, to_js, unix_seconds};
use crate::user_key::UserKey;
use crate::webcrypto::WebCrypto;

/// Why a message could not be opened, in words for the user.
#[derive(Debug, Error)]
pub enum OpenError {
    /// None of the user's certificates is among the message's recipients.
    #[error(
        "This message can't be decrypted. If you have a smart card-based digital ID, insert the card and try to open the message again."
    )]
    NoMatchingKey,
    #[error("This message is damaged and cannot be opened: {0}")]
    Damaged(smime::Error),
    #[error("One of your digital IDs cannot be read.")]
    BadKey,
    /// The card could not do its part (removed, PIN blocked, …); the sentence is the card's.
    #[error("The smart card could not decrypt this message: {0}")]
    Card(String),
}

impl From<smime::Error> for OpenError {
    fn from(error: smime::Error) -> Self {
        Self::Damaged(error)
    }
}

/// One of the user's digital IDs, as the page passes it: a soft key, or a key on the card.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInput {
    /// Unencrypted PKCS#8 DER of a soft key; zeroised when dropped.
    #[serde(default)]
    pub pkcs8: Option<SecretBytes>,
    pub certificate: ByteBuf,
    /// The PIV key reference of a key on the smart card (0x9D, 0x82…), instead of `pkcs8`.
    #[serde(default)]
    pub card_slot: Option<u8>,
}

/// One signer of a signed layer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ByteBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<CertInfo>,
    pub digest_ok: bool,
    pub signature_ok: bool,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    pub weak: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_from: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The SMIMECapabilities the signer announced (dotted OIDs), for the server to learn from.
    pub capabilities: Vec<String>,
}

/// One S/MIME layer that was removed, outermost first.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LayerOutput {
    #[serde(rename_all = "camelCase")]
    Signed {
        /// "clear" (multipart/signed) or "opaque".
        format: String,
        certificates: Vec<ByteBuf>,
        signers: Vec<SignerOutput>,
    },
    #[serde(rename_all = "camelCase")]
    Encrypted {
        /// "AES-256-GCM", "AES-128-CBC", "3DES-CBC", … or the OID.
        algorithm: String,
        authenticated: bool,
        legacy: bool,
    },
}

/// An attachment of the opened message, decoded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentOutput {
    pub name: String,
    pub content_type: String,
    pub data: ByteBuf,
}

/// The readable message.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The first text/plain part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The first text/html part, as sent: the page renders it in a sandboxed iframe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    pub attachments: Vec<AttachmentOutput>,
}

/// Everything `open` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedOutput {
    pub layers: Vec<LayerOutput>,
    pub encrypted: bool,
    /// At least one signed layer, and every signer of every signed layer valid.
    pub signatures_valid: bool,
    pub message: MessageOutput,
}

/// A key that remembers whether the engine tried it: the engine says only "cannot be
/// decrypted" (which step failed must not leak), but whether any of the user's certificates
/// was a recipient at all is public and tells "not for these keys" from "damaged". A card's own
/// failure (removed, PIN blocked) is kept to tell the user.
struct TrackedKey<'a, C: CardChannel> {
    key: UserKey<'a, C>,
    tried: Cell<bool>,
    card_failure: RefCell<Option<String>>,
}

impl<C: CardChannel> TrackedKey<'_, C> {
    fn note(&self, result: &Result<Zeroizing<Vec<u8>>, KeyError>) {
        if let (true, Err(KeyError::Failed(why))) = (self.key.is_on_card(), result) {
            *self.card_failure.borrow_mut() = Some(why.clone());
        }
    }
}

impl<C: CardChannel> AsyncDecryptor for TrackedKey<'_, C> {
    async fn decrypt_key(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.tried.set(true);
        let result = self.key.decrypt_key(transport, encrypted_key, rng).await;
        self.note(&result);
        result
    }

    async fn agree(&self, originator_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.tried.set(true);
        let result = self.key.agree(originator_public_key).await;
        self.note(&result);
        result
    }
}

fn signer_output(signer: &SignerResult) -> SignerOutput {
    // Only what the engine could not check; altered content and a bad signature are told by
    // digestOk / signatureOk, which the server words (mail::secure::report).
    let problem = signer.problem.as_ref().map(ToString::to_string);
    SignerOutput {
        certificate: signer
            .certificate
            .as_ref()
            .map(|c| ByteBuf::from(c.der().to_vec())),
        info: signer.certificate.as_ref().map(describe),
        digest_ok: signer.digest_ok,
        signature_ok: signer.signature_ok,
        valid: signer.is_valid(),
        signing_time: signer.signing_time.map(unix_seconds),
        digest_algorithm: signer.digest_algorithm.map(|d| d.name().to_string()),
        signature_algorithm: signer.signature_algorithm.map(|a| a.name()),
        weak: signer.weak_algorithm,
        matches_from: signer.matches_from,
        problem,
        capabilities: signer
            .capabilities
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

fn layer_output(layer: &Layer) -> LayerOutput {
    match layer {
        Layer::Signed {
            format,
            signers,
            certificates,
        } => LayerOutput::Signed {
            format: match format {
                SignedFormat::Clear => "clear",
                SignedFormat::Opaque => "opaque",
            }
            .into(),
            certificates: certificates
                .iter()
                .map(|c| ByteBuf::from(c.der().to_vec()))
                .collect(),
            signers: signers.iter().map(signer_output).collect(),
        },
        Layer::Encrypted {
            algorithm,
            authenticated,
            legacy_algorithm,
        } => LayerOutput::Encrypted {
            algorithm: content_encryption_name(algorithm),
            authenticated: *authenticated,
            legacy: *legacy_algorithm,
        },
    }
}

/// Parse the innermost entity for display.
pub fn parse_message(entity: &[u8]) -> MessageOutput {
    let Some(message) = MessageParser::default().parse(entity) else {
        return MessageOutput::default();
    };
    let text = message.text_bodies().find_map(|p| match &p.body {
        PartType::Text(t) => Some(t.to_string()),
        _ => None,
    });
    let html = message.html_bodies().find_map(|p| match &p.body {
        PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    let attachments = message
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            AttachmentOutput {
                name: part.attachment_name().unwrap_or("attachment").to_string(),
                content_type,
                data: ByteBuf::from(part.contents().to_vec()),
            }
        })
        .collect();
    let from =
        message
            .from()
            .and_then(|a| a.first())
            .map(|addr| match (addr.name(), addr.address()) {
                (Some(name), Some(address)) => format!("{name} <{address}>"),
                (None, Some(address)) => address.to_string(),
                (Some(name), None) => name.to_string(),
                (None, None) => String::new(),
            });
    MessageOutput {
        subject: message.subject().map(str::to_string),
        from,
        text,
        html,
        attachments,
    }
}

/// Remove every layer with the offered soft keys and parse what is inside, hashing and
/// decrypting in software.
pub fn open_message(raw: &[u8], keys: &[KeyInput]) -> Result<OpenedOutput, OpenError> {
    run_ready(open_message_with(&Software, raw, keys, &NoCard))
}

/// Remove every layer with the offered keys (card keys through `card`), `bulk` hashing and
/// decrypting the content, and parse what is inside.
pub async fn open_message_with<B: Bulk, C: CardChannel>(
    bulk: &B,
    raw: &[u8],
    keys: &[KeyInput],
    card: &C,
) -> Result<OpenedOutput, OpenError> {
    let mut tracked = Vec::with_capacity(keys.len());
    for input in keys {
        let key = UserKey::named(input.pkcs8.as_deref(), input.card_slot, card)
            .map_err(|_| OpenError::BadKey)?
            .ok_or(OpenError::BadKey)?;
        let cert = Certificate::from_der(&input.certificate).map_err(|_| OpenError::BadKey)?;
        tracked.push((
            cert,
            TrackedKey {
                key,
                tried: Cell::new(false),
                card_failure: RefCell::new(None),
            },
        ));
    }
    let offered: Vec<(&Certificate, &TrackedKey<'_, C>)> =
        tracked.iter().map(|(cert, key)| (cert, key)).collect();
    let opened = match wrap::open_with(bulk, raw, &offered, &mut rng()).await {
        Ok(opened) => opened,
        Err(smime::Error::DecryptionFailed) if !tracked.iter().any(|(_, k)| k.tried.get()) => {
            return Err(OpenError::NoMatchingKey);
        }
        Err(smime::Error::DecryptionFailed) => {
            match tracked.iter().find_map(|(_, k)| k.card_failure.take()) {
                Some(why) => return Err(OpenError::Card(why)),
                None => return Err(OpenError::Damaged(smime::Error::DecryptionFailed)),
            }
        }
        Err(e) => return Err(OpenError::Damaged(e)),
    };
    Ok(OpenedOutput {
        layers: opened.layers.iter().map(layer_output).collect(),
        encrypted: opened.is_encrypted(),
        signatures_valid: opened.all_signatures_valid(),
        message: parse_message(&opened.entity),
    })
}

/// Open a message: `keys` is `[{ pkcs8, certificate }]` for soft keys and
/// `[{ cardSlot, certificate }]` for keys on the connected card (may be empty for signed-only
/// mail). Resolves to `{ layers, encrypted, signaturesValid, message }`. Hashing and AES run
/// in WebCrypto; card operations go to the page.
#[wasm_bindgen]
pub async fn open(raw: Vec<u8>, keys: JsValue) -> Result<JsValue, JsError> {
    let keys: Vec<KeyInput> = if keys.is_undefined() || keys.is_null() {
        Vec::new()
    } else {
        from_js(keys, "list of digital IDs")?
    };
    let opened = open_message_with(&WebCrypto::detect(), &raw, &keys, &crate::card::page())
        .await
        .map_err(js_error)?;
    to_js(&opened)
}
