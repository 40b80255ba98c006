//! The crate's error type. Every malformed input ends here; nothing in the crate panics on input.

use thiserror::Error;

use crate::ber::BerError;
use crate::keys::KeyError;
use crate::mime::MimeError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("MIME: {0}")]
    Mime(#[from] MimeError),
    #[error("BER: {0}")]
    Ber(#[from] BerError),
    #[error("ASN.1: {0}")]
    Asn1(#[from] der::Error),
    #[error("private key operation: {0}")]
    Key(#[from] KeyError),
    #[error("the message is not S/MIME")]
    NotSmime,
    #[error("expected CMS {expected}, found content type {found}")]
    UnexpectedContentType {
        expected: &'static str,
        found: String,
    },
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("signed data carries no content and no detached content was given")]
    MissingContent,
    #[error("the signature returned for this certificate does not verify")]
    SignatureMismatch,
    #[error("signing time is outside the range CMS can encode")]
    BadSigningTime,
    #[error("too many {0} in one message")]
    LimitExceeded(&'static str),
    #[error("no recipients given")]
    NoRecipients,
    #[error("recipient certificate cannot receive mail: {0}")]
    UnsupportedRecipient(String),
    /// None of the offered keys opened the message. Deliberately says nothing more: which step
    /// failed (key unwrap, padding, tag) must not be observable to an attacker.
    #[error("the message cannot be decrypted with the keys offered")]
    DecryptionFailed,
    /// The browser's WebCrypto (or another [`crate::bulk::Bulk`]) refused or failed.
    #[error("the browser's cryptography failed: {0}")]
    Bulk(String),
    /// Asynchronous bulk crypto was run through a synchronous entry point.
    #[error("asynchronous cryptography cannot run through a synchronous call")]
    Pending,
}

pub type Result<T, E = Error> = core::result::Result<T, E>;
