//! Key continuity: what the browser remembers of the certificates it encrypted to, and when a
//! correspondent's new certificate deserves a question. A renewal from the same issuer is the
//! ordinary life of a certificate and passes; a different key from a different issuer is what
//! a substituted certificate looks like, so the user is asked before it is used. An issuer's
//! name can be copied, so "the same issuer" also needs the new certificate to chain to an
//! anchor the browser holds.

use serde::{Deserialize, Serialize};

/// A certificate the browser encrypted to (or verified) for one correspondent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub address: String,
    /// SHA-256 of the certificate, lowercase hex.
    pub fingerprint: String,
    /// The issuer's distinguished name, as `pki` writes it.
    pub issuer: String,
}

/// The issuer of the certificate last remembered for `address`, when a certificate with
/// `fingerprint` and `issuer` replaces it and is not a renewal. `chains` says whether the new
/// certificate chains to one of the browser's anchors.
pub fn changed_from<'a>(
    remembered: &'a [Remembered],
    address: &str,
    fingerprint: &str,
    issuer: &str,
    chains: bool,
) -> Option<&'a str> {
    let last = remembered
        .iter()
        .rev()
        .find(|r| r.address.eq_ignore_ascii_case(address))?;
    let renewal = last.issuer == issuer && chains;
    (last.fingerprint != fingerprint && !renewal).then_some(last.issuer.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(fingerprint: &str, issuer: &str) -> Vec<Remembered> {
        vec![Remembered {
            address: "Bob@x.test".into(),
            fingerprint: fingerprint.into(),
            issuer: issuer.into(),
        }]
    }

    #[test]
    fn another_issuer_is_a_change() {
        assert_eq!(
            changed_from(
                &seen("aa", "CN=Mail CA"),
                "bob@x.test",
                "bb",
                "CN=Other CA",
                true
            ),
            Some("CN=Mail CA")
        );
    }

    #[test]
    fn a_look_alike_issuer_is_a_change() {
        assert_eq!(
            changed_from(
                &seen("aa", "CN=Mail CA"),
                "bob@x.test",
                "bb",
                "CN=Mail CA",
                false
            ),
            Some("CN=Mail CA")
        );
    }

    #[test]
    fn a_renewal_or_a_stranger_is_not() {
        let known = seen("aa", "CN=Mail CA");
        assert_eq!(
            changed_from(&known, "bob@x.test", "bb", "CN=Mail CA", true),
            None
        );
        assert_eq!(
            changed_from(&known, "bob@x.test", "aa", "CN=Mail CA", true),
            None
        );
        assert_eq!(
            changed_from(&known, "carol@x.test", "cc", "CN=Other", false),
            None
        );
    }
}
