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

/// What reading a signature from `address` means for continuity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    /// The sentence to show when the signer's certificate is a surprising change.
    pub changed: Option<String>,
    /// What to remember of it: set only for a trusted signature that is no surprise.
    pub remember: Option<Remembered>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The signer's certificate is damaged and cannot be read.")]
pub struct Unreadable;

/// A signature from `address` by `certificate` (DER), `trusted` when its chain reached a trust
/// anchor: flagged when it changes key and issuer, remembered when it is trusted and no surprise.
pub fn on_reading(
    remembered: &[Remembered],
    address: &str,
    certificate: &[u8],
    trusted: bool,
) -> Result<Reading, Unreadable> {
    let cert = pki::Certificate::from_der(certificate).map_err(|_| Unreadable)?;
    let fingerprint = crate::hex(&cert.fingerprint());
    let issuer = cert.issuer();
    let changed = changed_from(remembered, address, &fingerprint, &issuer, trusted).map(|was| {
        format!(
            "The digital ID of {address} is not the one you last used with them: it used to be issued by {was}, this one is issued by {issuer}."
        )
    });
    let remember = (trusted && changed.is_none()).then(|| Remembered {
        address: address.to_ascii_lowercase(),
        fingerprint,
        issuer,
    });
    Ok(Reading { changed, remember })
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
    fn reading_flags_a_substitute_and_remembers_only_trusted_signers() {
        let carol = include_bytes!("../../pki/src/testdata/carol.der");
        let known = seen("aa", "CN=Somebody Else");
        let flagged = on_reading(&known, "bob@x.test", carol, false).unwrap();
        assert!(
            flagged
                .changed
                .unwrap()
                .contains("is not the one you last used")
        );
        assert_eq!(flagged.remember, None);
        let first = on_reading(&[], "carol@example.test", carol, true).unwrap();
        assert_eq!(first.changed, None);
        assert_eq!(first.remember.unwrap().address, "carol@example.test");
        assert_eq!(on_reading(&[], "c@x", b"junk", true), Err(Unreadable));
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
