//! The user's own digital IDs: which of them may sign, or receive encrypted mail, for an address
//! now. The browser picks with this; the server validates what was signed with the same rule
//! (`pki`'s keyUsage, extendedKeyUsage and address check), so a digital ID the page offers is
//! one the server accepts.

use pki::Usage;

/// What a digital ID is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Sign,
    Encrypt,
}

/// The positions in `certificates` (DER) of those that fit `purpose` for `address` (any address
/// when `None`) at `time`; certificates that cannot be read fit nothing.
pub fn fitting(
    certificates: &[impl AsRef<[u8]>],
    purpose: Purpose,
    address: Option<&str>,
    time: i64,
) -> Vec<usize> {
    let usage = match purpose {
        Purpose::Sign => Usage::Sign,
        Purpose::Encrypt => Usage::Encrypt,
    };
    certificates
        .iter()
        .enumerate()
        .filter(|(_, der)| {
            pki::Certificate::from_der(der.as_ref()).is_ok_and(|c| c.suits(usage, address, time))
        })
        .map(|(i, _)| i)
        .collect()
}
