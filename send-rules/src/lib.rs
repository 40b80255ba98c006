//! The rules of sending, written once: the browser module plans a send with them and the server
//! checks a submission with them, so the two cannot disagree.
//!
//! - [`addresses`]: To, Cc and Bcc as RFC 5322 address lists.
//! - [`plan`]: which offered certificates may be encrypted to (chained to the browser's own
//!   trust anchors, valid for encryption and the address, no surprising change of key) and the
//!   messages a send becomes.
//! - [`continuity`]: when a correspondent's new certificate deserves a question.
//! - [`ciphers`]: the content-encryption algorithm every recipient reads.
//! - [`bcc`]: how an encrypted send is split so Bcc recipients stay hidden.
//! - [`own`]: which of the user's own digital IDs may sign or receive mail for an address.
//! - [`recovery`]: which keys get a copy for the recovery agents, and which agents may get it.
//!
//! Pure: no I/O and no clock; the caller passes the time.

pub mod addresses;
pub mod bcc;
pub mod ciphers;
pub mod continuity;
pub mod own;
pub mod plan;
pub mod recovery;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use addresses::{AddressError, Mailbox};

/// The recipients of a message as typed, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipients {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Every address once (first spelling kept), To then Cc then Bcc: whom to look up.
    pub all: Vec<String>,
}

pub fn recipients(to: &str, cc: &str, bcc: &str) -> Result<Recipients, AddressError> {
    let to = addresses::parse_list(to)?;
    let cc = addresses::parse_list(cc)?;
    let bcc = addresses::parse_list(bcc)?;
    let mut all: Vec<String> = Vec::new();
    for m in to.iter().chain(&cc).chain(&bcc) {
        if !all.iter().any(|a| a.eq_ignore_ascii_case(&m.email)) {
            all.push(m.email.clone());
        }
    }
    Ok(Recipients { to, cc, bcc, all })
}

/// A certificate fingerprint (or any bytes) as lower-case hex, as the page shows and stores it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
