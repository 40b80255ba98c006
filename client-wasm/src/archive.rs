//! Key archival: a copy of the user's encryption key for the organisation's key recovery
//! agents, made in the browser so the server only ever holds it encrypted.
//!
//! The copy is a PKCS#12 file with an empty password (the envelope is its protection), inside a
//! CMS EnvelopedData to every agent: an agent opens it offline with `openssl cms -decrypt` and
//! gets a `.p12` that imports anywhere. Which keys are archived and which agents may receive
//! them are the shared rules of `send_rules::recovery`.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use smime::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport};
use smime::envelope::{EncryptOptions, RecipientIdKind, envelope};
use smime::{Certificate, SoftKey, pkcs12};
use thiserror::Error;
use wasm_bindgen::prelude::*;

use crate::identity::describe;
use crate::js::{SecretBytes, from_js, js_error, rng, to_js};

/// Why no copy was made, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Agents(#[from] send_rules::recovery::AgentError),
    #[error("This digital ID's key only signs: signing keys are never archived.")]
    SigningKey,
    #[error("The key could not be copied for recovery: {0}.")]
    Failed(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveAsk {
    /// The unlocked private key (PKCS#8 DER), zeroised when dropped.
    pub pkcs8: SecretBytes,
    pub certificate: ByteBuf,
    #[serde(default)]
    pub chain: Vec<ByteBuf>,
    /// The recovery agents the server names (base64 DER).
    pub agents: Vec<String>,
    /// The user's digital IDs in this browser: their issuers are the trust anchors.
    pub own: Vec<send_rules::plan::Own>,
    /// Seconds since 1970.
    pub time: i64,
}

/// A recovery agent, as the page tells the user whom the copy is for.
#[derive(Debug, Serialize)]
pub struct Agent {
    pub subject: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize)]
pub struct Archived {
    /// CMS ContentInfo (DER) holding the `.p12`, encrypted to every agent.
    pub archive: ByteBuf,
    pub agents: Vec<Agent>,
}

/// Make the recovery copy of an encryption key.
pub fn archive(ask: &ArchiveAsk) -> Result<Archived, ArchiveError> {
    if !send_rules::recovery::needs_archival(&ask.certificate) {
        return Err(ArchiveError::SigningKey);
    }
    let failed = |e: &dyn core::fmt::Display| ArchiveError::Failed(e.to_string());
    let agents = send_rules::recovery::check_agents(&ask.agents, &ask.own, ask.time)?
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(&e))?;
    let key = SoftKey::from_pkcs8_der(&ask.pkcs8).map_err(|e| failed(&e))?;
    let certificate = Certificate::from_der(&ask.certificate).map_err(|e| failed(&e))?;
    let chain = ask
        .chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(&e))?;
    let options = pkcs12::WriteOptions {
        // The empty password protects nothing; the envelope does.
        iterations: pkcs12::write::MIN_ITERATIONS,
        friendly_name: certificate
            .email_addresses()
            .first()
            .cloned()
            .unwrap_or_default(),
        scheme: pkcs12::Scheme::Aes256Sha256,
    };
    let mut rng = rng();
    let file = zeroize::Zeroizing::new(
        pkcs12::write(&key, &certificate, &chain, "", &options, &mut rng)
            .map_err(|e| failed(&e))?,
    );
    let sealed = envelope(
        &file,
        &agents,
        &EncryptOptions {
            algorithm: ContentEncryption::Aes256Cbc,
            key_transport: KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
            recipient_id: RecipientIdKind::IssuerAndSerial,
            protect_headers: false,
        },
        &mut rng,
    )
    .map_err(|e| failed(&e))?;
    Ok(Archived {
        archive: ByteBuf::from(sealed),
        agents: agents
            .iter()
            .map(|a| {
                let info = describe(a);
                Agent {
                    subject: info.subject,
                    fingerprint: info.fingerprint,
                }
            })
            .collect(),
    })
}

/// `{ pkcs8, certificate, chain, agents, own, time }` → `{ archive, agents }`.
#[wasm_bindgen]
pub fn archive_key(ask: JsValue) -> Result<JsValue, JsError> {
    let ask: ArchiveAsk = from_js(ask, "key to archive")?;
    to_js(&archive(&ask).map_err(js_error)?)
}

/// Whether a digital ID with this certificate (DER) gets a recovery copy.
#[wasm_bindgen]
pub fn needs_archival(certificate: &[u8]) -> bool {
    send_rules::recovery::needs_archival(certificate)
}
