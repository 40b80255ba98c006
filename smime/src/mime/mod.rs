//! MIME for S/MIME: reading entities (`parse`), the transfer encodings (`encode`), and building the
//! `multipart/signed` and `application/pkcs7-mime` entities of RFC 8551 (`build`).
//!
//! This is deliberately a small parser of our own rather than a general mail parser: signature
//! verification needs the *exact* bytes of the first part of a multipart/signed, and building needs
//! byte-for-byte control of what is signed. Every function works on the raw bytes and reports
//! offsets into them, never re-serialising what it was given.
//!
//! Line endings: input may use CRLF or bare LF (a message saved by a Unix tool). Parsing accepts
//! both; everything we produce uses CRLF, and content is converted to CRLF before it is hashed, as
//! RFC 8551 §3.1.1 requires for the canonical form.

use thiserror::Error;

mod build;
mod encode;
mod parse;

pub use build::{
    Attachment, SignedFormat, SmimeType, build_mixed, build_multipart_signed, build_pkcs7_mime,
    choose_boundary, make_7bit_safe,
};
pub use encode::{
    canonicalize, decode_base64, encode_base64_lines, encode_header_text, encode_quoted_printable,
};
pub use parse::{
    ContentType, Entity, HeaderField, SmimeContent, SplitMessage, addresses, parse_smime,
    split_message, split_multipart,
};

/// Longest line RFC 5322 allows, without its CRLF.
pub const MAX_LINE: usize = 998;
/// Base64 line length we emit (RFC 2045 §6.8 allows at most 76).
pub const BASE64_LINE: usize = 76;
/// Deepest multipart nesting we follow when making an entity 7-bit safe.
const MAX_NESTING: usize = 32;

/// Why a MIME entity was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MimeError {
    #[error("header line {0} is neither a field nor a continuation")]
    MalformedHeader(usize),
    #[error("multipart entity has no boundary parameter")]
    MissingBoundary,
    #[error("multipart body has no part delimited by its boundary")]
    NoParts,
    #[error("multipart/signed must have exactly two parts, found {0}")]
    SignedPartCount(usize),
    #[error("signature part has type {0}, expected application/pkcs7-signature")]
    UnexpectedSignatureType(String),
    #[error("invalid base64 content")]
    Base64,
    #[error("body declared {0} but holds 8-bit data")]
    EightBitInEncodedBody(String),
    #[error("multipart nesting deeper than {MAX_NESTING} levels")]
    TooDeep,
    #[error("8-bit data inside a message/rfc822 part cannot be made 7-bit safe")]
    EightBitMessagePart,
}

#[cfg(test)]
mod tests;
