//! Composing: the message the user wrote becomes a signed and/or encrypted MIME entity. Only
//! the entity comes back (Content-* fields, blank line, body); the server puts the transport
//! fields (From, To, Subject, Date, Message-ID, MIME-Version) in front.

use core::time::Duration;

use serde::Deserialize;
use serde_bytes::ByteBuf;
use smime::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport};
use smime::bulk::{Bulk, Software, run_ready};
use smime::envelope::{self, EncryptOptions, RecipientIdKind};
use smime::mime::{self, Attachment};
use smime::sign::{self, SignOptions, SignedFormat};
use smime::{Certificate, wrap};
use thiserror::Error;
use wasm_bindgen::prelude::*;

use crate::card::{CardChannel, NoCard};
use crate::js::{SecretBytes, from_js, js_error, rng};
use crate::user_key::UserKey;
use crate::webcrypto::WebCrypto;

/// Why a message could not be sealed, in words for the user.
#[derive(Debug, Error)]
pub enum SealError {
    #[error("Choose to sign or to encrypt the message (or both).")]
    NothingToDo,
    #[error("A digital ID that allows you to sign this message is missing.")]
    NoSigningIdentity,
    #[error("There is no one to encrypt this message to.")]
    NoRecipients,
    #[error("A recipient's certificate cannot be read.")]
    BadRecipient,
    #[error("A certificate of your digital ID cannot be read.")]
    BadCertificate,
    #[error("Your digital ID's key is of a kind Sealmail cannot use.")]
    BadKey,
    #[error("The option {0} is not one Sealmail knows.")]
    UnknownOption(String),
    #[error("An address in From, To or Cc cannot be put inside the signature.")]
    BadHeaders,
    #[error("The message could not be sealed: {0}")]
    Engine(#[from] smime::Error),
}

/// One attachment as the page sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentInput {
    pub name: String,
    pub content_type: String,
    pub data: ByteBuf,
}

/// What to seal and how. Field names are the JS object's (camelCase).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SealRequest {
    pub text: String,
    /// Formatted text from the editor, untrusted: it is sanitised here and the plain-text part
    /// is derived from it (`text` is then not used), as the server does for mail it can read.
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInput>,
    pub sign: bool,
    pub encrypt: bool,
    /// Opaque signed-data instead of multipart/signed (sign-only messages).
    pub opaque: bool,
    /// Sign, encrypt, sign again (sign + encrypt only).
    pub triple_wrap: bool,
    /// Unencrypted PKCS#8 DER of the signing key; zeroised when the request is dropped.
    pub pkcs8: Option<SecretBytes>,
    /// Sign with the key in this PIV slot of the connected card instead of `pkcs8`.
    pub card_slot: Option<u8>,
    pub certificate: Option<ByteBuf>,
    /// Carried in the signature besides the signer's own certificate (intermediates).
    pub chain: Vec<ByteBuf>,
    /// DER certificates to encrypt to; the caller includes the sender's own.
    pub recipients: Vec<ByteBuf>,
    /// Unix seconds, for the signingTime attribute (the engine has no clock).
    pub time: f64,
    /// "sha256" (default), "sha384", "sha512".
    pub digest: Option<String>,
    /// "aes256-cbc" (default: what every client reads), "aes128-cbc", "aes256-gcm", "aes128-gcm".
    pub content_encryption: Option<String>,
    /// "rsa-pkcs1" (default), "rsa-oaep".
    pub key_transport: Option<String>,
    /// Leave self-signed certificates (the root) out of `chain` (SecurityFlags 0x001).
    pub chain_without_root: bool,
    /// Advertise SMIMECapabilities in the signature (SecurityFlags 0x100); default on.
    pub capabilities: Option<bool>,
    /// Name recipients by subjectKeyIdentifier (UseKeyIdentifier).
    pub key_identifier: bool,
    /// Copy these header fields inside the signature (SecurityFlags 0x200, RFC 9788).
    pub protected_headers: Option<ProtectedHeaders>,
}

/// The header fields a signature protects: addresses only (the server writes the display
/// names outside), and the subject.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProtectedHeaders {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
}

impl ProtectedHeaders {
    /// The fields, CRLF-terminated, ready to put in front of the entity.
    fn fields(&self) -> Result<Vec<u8>, SealError> {
        let address_ok = |a: &String| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| (0x21..0x7f).contains(&b) && !b"<>,;\"".contains(&b))
        };
        if !address_ok(&self.from) || !self.to.iter().chain(&self.cc).all(address_ok) {
            return Err(SealError::BadHeaders);
        }
        let mut out = format!("From: {}\r\n", self.from);
        if !self.to.is_empty() {
            out.push_str(&format!("To: {}\r\n", self.to.join(",\r\n ")));
        }
        if !self.cc.is_empty() {
            out.push_str(&format!("Cc: {}\r\n", self.cc.join(",\r\n ")));
        }
        out.push_str(&format!(
            "Subject: {}\r\n",
            mime::encode_header_text(&self.subject)
        ));
        Ok(out.into_bytes())
    }
}

fn digest_of(name: Option<&str>) -> Result<DigestAlgorithm, SealError> {
    match name.unwrap_or("sha256") {
        "sha256" => Ok(DigestAlgorithm::Sha256),
        "sha384" => Ok(DigestAlgorithm::Sha384),
        "sha512" => Ok(DigestAlgorithm::Sha512),
        other => Err(SealError::UnknownOption(format!("digest \"{other}\""))),
    }
}

fn encryption_options(request: &SealRequest) -> Result<EncryptOptions, SealError> {
    let algorithm = match request
        .content_encryption
        .as_deref()
        .unwrap_or("aes256-cbc")
    {
        "aes256-cbc" => ContentEncryption::Aes256Cbc,
        "aes128-cbc" => ContentEncryption::Aes128Cbc,
        "aes256-gcm" => ContentEncryption::Aes256Gcm,
        "aes128-gcm" => ContentEncryption::Aes128Gcm,
        other => {
            return Err(SealError::UnknownOption(format!(
                "contentEncryption \"{other}\""
            )));
        }
    };
    let key_transport = match request.key_transport.as_deref().unwrap_or("rsa-pkcs1") {
        "rsa-pkcs1" => KeyTransport::RsaPkcs1v15,
        "rsa-oaep" => KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
        other => {
            return Err(SealError::UnknownOption(format!(
                "keyTransport \"{other}\""
            )));
        }
    };
    Ok(EncryptOptions {
        algorithm,
        key_transport,
        recipient_id: if request.key_identifier {
            RecipientIdKind::SubjectKeyIdentifier
        } else {
            RecipientIdKind::IssuerAndSerial
        },
        ..EncryptOptions::default()
    })
}

fn certificates(list: &[ByteBuf], error: SealError) -> Result<Vec<Certificate>, SealError> {
    let mut out = Vec::with_capacity(list.len());
    for der in list {
        match Certificate::from_der(der) {
            Ok(cert) => out.push(cert),
            Err(_) => return Err(error),
        }
    }
    Ok(out)
}

/// The signing half: key, certificate and options.
struct Signing<'a, C: CardChannel> {
    key: UserKey<'a, C>,
    cert: Certificate,
    options: SignOptions,
}

fn signing<'a, C: CardChannel>(
    request: &SealRequest,
    card: &'a C,
) -> Result<Signing<'a, C>, SealError> {
    let Some(cert) = &request.certificate else {
        return Err(SealError::NoSigningIdentity);
    };
    let key = UserKey::named(request.pkcs8.as_deref(), request.card_slot, card)
        .map_err(|_| SealError::BadKey)?
        .ok_or(SealError::NoSigningIdentity)?;
    let cert = Certificate::from_der(cert).map_err(|_| SealError::BadCertificate)?;
    let signing_time = (request.time.is_finite() && request.time > 0.0)
        .then(|| Duration::from_secs(request.time as u64));
    let options = SignOptions {
        format: if request.opaque {
            SignedFormat::Opaque
        } else {
            SignedFormat::Clear
        },
        digest: Some(digest_of(request.digest.as_deref())?),
        signing_time,
        // The signer's own certificate is always carried; a chain that repeats it would carry it
        // twice.
        extra_certificates: certificates(&request.chain, SealError::BadCertificate)?
            .into_iter()
            .filter(|c| c.der() != cert.der())
            .filter(|c| !(request.chain_without_root && is_self_issued(c)))
            .collect(),
        capabilities: if request.capabilities.unwrap_or(true) {
            ContentEncryption::STRONGEST_FIRST.to_vec()
        } else {
            Vec::new()
        },
        protect_headers: request.protected_headers.is_some(),
        ..SignOptions::default()
    };
    Ok(Signing { key, cert, options })
}

/// A root: issued by itself.
fn is_self_issued(cert: &Certificate) -> bool {
    let tbs = &cert.x509().tbs_certificate();
    tbs.subject() == tbs.issuer()
}

/// Only the MIME entity: drop the transport fields the engine wrote in front (with header
/// protection it copies From/To/Cc/Subject outside) and MIME-Version. The server writes those
/// itself, and a message must not carry them twice.
fn entity_only(mut sealed: Vec<u8>) -> Vec<u8> {
    let mut start = 0;
    while start < sealed.len() {
        let line_end = sealed[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(sealed.len(), |i| start + i + 1);
        let line = &sealed[start..line_end];
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"content-") || line == b"\r\n" {
            break;
        }
        if !folded && !line.contains(&b':') {
            break;
        }
        start = line_end;
    }
    sealed.drain(..start);
    sealed
}

/// Build the entity and sign and/or encrypt it, hashing and encrypting in software.
pub fn seal_message(request: &SealRequest) -> Result<Vec<u8>, SealError> {
    run_ready(seal_message_with(&Software, request, &NoCard))
}

/// Build the entity and sign and/or encrypt it, with `bulk` hashing and encrypting the content
/// and `card` signing when the key is on a smart card.
pub async fn seal_message_with<B: Bulk, C: CardChannel>(
    bulk: &B,
    request: &SealRequest,
    card: &C,
) -> Result<Vec<u8>, SealError> {
    if !request.sign && !request.encrypt {
        return Err(SealError::NothingToDo);
    }
    let attachments: Vec<Attachment<'_>> = request
        .attachments
        .iter()
        .map(|a| Attachment {
            name: &a.name,
            content_type: &a.content_type,
            data: &a.data,
        })
        .collect();
    let formatted = request.html.as_deref().map(rich_text::sanitize);
    let text = match &formatted {
        Some(clean) => rich_text::plain_text(clean),
        None => request.text.clone(),
    };
    let document = formatted.as_deref().map(rich_text::document);
    let mut entity = mime::build_mixed(&text, document.as_deref(), &attachments);
    if let Some(headers) = &request.protected_headers
        && request.sign
    {
        // A message with its header fields: the engine copies them inside the signature and
        // leaves them outside too, where the server's own fields replace them.
        let mut message = headers.fields()?;
        message.append(&mut entity);
        entity = message;
    }
    let signing = if request.sign {
        Some(signing(request, card)?)
    } else {
        None
    };
    let recipients = if request.encrypt {
        if request.recipients.is_empty() {
            return Err(SealError::NoRecipients);
        }
        certificates(&request.recipients, SealError::BadRecipient)?
    } else {
        Vec::new()
    };
    let mut rng = rng();
    let sealed = match signing {
        Some(s) if request.encrypt => {
            let options = encryption_options(request)?;
            if request.triple_wrap {
                wrap::triple_wrap_with(
                    bulk,
                    &entity,
                    &s.cert,
                    &s.key,
                    &s.options,
                    &recipients,
                    &options,
                    &mut rng,
                )
                .await?
            } else {
                wrap::sign_and_encrypt_with(
                    bulk,
                    &entity,
                    &s.cert,
                    &s.key,
                    &s.options,
                    &recipients,
                    &options,
                    &mut rng,
                )
                .await?
            }
        }
        Some(s) => sign::sign_with(bulk, &entity, &s.cert, &s.key, &s.options, &mut rng).await?,
        None => {
            envelope::encrypt_with(
                bulk,
                &entity,
                &recipients,
                &encryption_options(request)?,
                &mut rng,
            )
            .await?
        }
    };
    Ok(entity_only(sealed))
}

/// Sign and/or encrypt a composed message. `request` is `{ text, attachments, sign, encrypt,
/// opaque, tripleWrap, pkcs8?, certificate?, chain, recipients, time, digest?,
/// contentEncryption?, keyTransport? }`; resolves to the MIME entity (no transport fields) as
/// bytes. Hashing and AES run in WebCrypto.
#[wasm_bindgen]
pub async fn seal(request: JsValue) -> Result<js_sys::Uint8Array, JsError> {
    let request: SealRequest = from_js(request, "message to seal")?;
    let sealed = seal_message_with(&WebCrypto::detect(), &request, &crate::card::page())
        .await
        .map_err(js_error)?;
    Ok(js_sys::Uint8Array::from(sealed.as_slice()))
}
