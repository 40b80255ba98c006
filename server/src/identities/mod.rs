//! Identities: the From addresses one user may send as, each with a display name and a
//! signature text.
//!
//! A user's identities are the sign-in address (always one), the aliases the directory knows
//! for them, and addresses the user added, when the admin allows that (`[identities]
//! user_addresses`). Whether a From may be used is decided by [`may_send_as`] alone: the
//! Identities page asks it before keeping an address, and the server asks it again on every
//! send. This file does no I/O; [`store`] keeps what the user chose in the database.

pub mod store;

use serde::{Deserialize, Serialize};

use crate::directory::normalize;

pub use store::Identities;

/// Longest display name kept (characters).
pub const MAX_NAME: usize = 200;
/// Longest signature text kept (characters).
pub const MAX_SIGNATURE: usize = 2_000;
/// Most addresses one user may add.
pub const MAX_ADDED: usize = 50;

/// Which addresses the admin lets users add themselves (`[identities] user_addresses`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserAddresses {
    /// Only the sign-in address and the directory's aliases.
    #[default]
    None,
    /// Any address in the sign-in address's domain.
    Domain,
    /// Any address at all (the mail server may still refuse some).
    Any,
}

/// Where an identity comes from; only one the user added can be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Primary,
    Directory,
    Added,
}

/// One From address the user may send as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Lower-cased.
    pub address: String,
    pub display_name: String,
    pub signature: String,
    pub is_default: bool,
    pub origin: Origin,
}

impl Identity {
    /// The From header as people read it: `Name <address>`, or the bare address.
    pub fn from_text(&self) -> String {
        if self.display_name.is_empty() {
            self.address.clone()
        } else {
            format!("{} <{}>", self.display_name, self.address)
        }
    }
}

/// What the user chose for one address, as kept in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub address: String,
    pub display_name: String,
    pub signature: String,
    pub is_default: bool,
}

/// What decides which addresses a user may send as, besides what they added.
#[derive(Debug, Clone, Copy)]
pub struct Allowance<'a> {
    /// The sign-in address.
    pub primary: &'a str,
    /// The aliases the directory knows for the user (lower-cased).
    pub directory: &'a [String],
    pub user_addresses: UserAddresses,
}

/// Why an address cannot be used or kept, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("\"{0}\" is not an e-mail address (it should look like name@example.org).")]
    NotAnAddress(String),
    #[error("You may not send as {0}: your organization does not let you add addresses.")]
    AddingNotAllowed(String),
    #[error("You may not send as {0}: you can add addresses at {1} only.")]
    OtherDomain(String, String),
    #[error("You may not send as {0}: it is not one of your identities (see Options, Identities).")]
    NotYours(String),
    #[error("{0} is your sign-in address; it cannot be removed.")]
    Primary(String),
    #[error("{0} comes from the directory; it cannot be removed here.")]
    FromDirectory(String),
    #[error("The {0} is too long (at most {1} characters).")]
    TooLong(&'static str, usize),
    #[error("The display name may not contain line breaks or control characters.")]
    ControlCharacters,
    #[error("You can add at most {MAX_ADDED} addresses.")]
    TooMany,
}

/// May the user send as `address`? `added` are the addresses the user added (kept in the
/// database). The sign-in address and the directory's aliases always may; an added one only
/// while the admin's setting allows it, so tightening the setting takes effect at once.
pub fn may_send_as(
    allowance: &Allowance<'_>,
    address: &str,
    added: &[String],
) -> Result<Origin, Refusal> {
    let address = address.trim();
    // Whatever the sign-in name looks like, it is the user's own.
    if address.eq_ignore_ascii_case(allowance.primary) {
        return Ok(Origin::Primary);
    }
    if !send_rules::addresses::is_plain_address(address) {
        return Err(Refusal::NotAnAddress(address.to_string()));
    }
    let address = normalize(address);
    if allowance
        .directory
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&address))
    {
        return Ok(Origin::Directory);
    }
    let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    match allowance.user_addresses {
        UserAddresses::None => return Err(Refusal::AddingNotAllowed(address)),
        UserAddresses::Domain if domain(&address) != domain(allowance.primary) => {
            let theirs = domain(allowance.primary).unwrap_or_default();
            return Err(Refusal::OtherDomain(address, theirs));
        }
        UserAddresses::Domain | UserAddresses::Any => {}
    }
    if added.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
        Ok(Origin::Added)
    } else {
        Err(Refusal::NotYours(address))
    }
}

/// The user's identities: the sign-in address first, then the directory's aliases, then the
/// addresses they added that are still allowed, each with what the user chose for it
/// (`default_name` when they chose no name). Exactly one is the default: the one the user
/// chose, else the sign-in address.
pub fn list(allowance: &Allowance<'_>, stored: &[Stored], default_name: &str) -> Vec<Identity> {
    let added: Vec<String> = stored.iter().map(|s| s.address.clone()).collect();
    let mut addresses: Vec<String> = vec![normalize(allowance.primary)];
    for a in allowance.directory.iter().chain(&added) {
        let a = normalize(a);
        if !addresses.contains(&a) {
            addresses.push(a);
        }
    }
    let mut out: Vec<Identity> = addresses
        .into_iter()
        .filter_map(|address| {
            let origin = may_send_as(allowance, &address, &added).ok()?;
            let chosen = stored.iter().find(|s| s.address == address);
            Some(Identity {
                display_name: chosen
                    .map(|s| s.display_name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| default_name.to_string()),
                signature: chosen.map(|s| s.signature.clone()).unwrap_or_default(),
                is_default: chosen.is_some_and(|s| s.is_default),
                origin,
                address,
            })
        })
        .collect();
    if !out.iter().any(|i| i.is_default) {
        out[0].is_default = true;
    }
    out
}

/// The identity a reply is written from: the first of the user's identities the original was
/// addressed to (To, then Cc), else the default.
pub fn for_reply<'a>(identities: &'a [Identity], addressed_to: &[String]) -> Option<&'a Identity> {
    addressed_to
        .iter()
        .find_map(|to| {
            identities
                .iter()
                .find(|i| i.address.eq_ignore_ascii_case(to))
        })
        .or_else(|| identities.iter().find(|i| i.is_default))
}

/// A display name and signature as typed, checked: trimmed, within their lengths, and a name
/// without control characters (it becomes part of a header field).
pub fn check_texts(display_name: &str, signature: &str) -> Result<(String, String), Refusal> {
    let name = display_name.trim();
    if name.chars().count() > MAX_NAME {
        return Err(Refusal::TooLong("display name", MAX_NAME));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::ControlCharacters);
    }
    let signature = signature.replace("\r\n", "\n");
    let signature = signature.trim_end();
    if signature.chars().count() > MAX_SIGNATURE {
        return Err(Refusal::TooLong("signature", MAX_SIGNATURE));
    }
    Ok((name.to_string(), signature.to_string()))
}

/// The body a new message starts with: the signature below a "-- " line (the usual signature
/// separator, which mail programs recognise), or nothing.
pub fn signature_block(signature: &str) -> String {
    if signature.is_empty() {
        String::new()
    } else {
        format!("\n\n-- \n{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowance<'a>(directory: &'a [String], setting: UserAddresses) -> Allowance<'a> {
        Allowance {
            primary: "alice@example.test",
            directory,
            user_addresses: setting,
        }
    }

    #[test]
    fn the_sign_in_address_and_directory_aliases_may_always_be_used() {
        let dir = vec!["alice.example@example.test".to_string()];
        let a = allowance(&dir, UserAddresses::None);
        assert_eq!(
            may_send_as(&a, "Alice@Example.test", &[]),
            Ok(Origin::Primary)
        );
        assert_eq!(
            may_send_as(&a, "alice.example@example.test", &[]),
            Ok(Origin::Directory)
        );
        assert!(matches!(
            may_send_as(&a, "boss@example.test", &["boss@example.test".into()]),
            Err(Refusal::AddingNotAllowed(_))
        ));
    }

    #[test]
    fn added_addresses_follow_the_admin_setting() {
        let added = vec!["sales@example.test".to_string(), "me@elsewhere.test".into()];
        let domain = allowance(&[], UserAddresses::Domain);
        assert_eq!(
            may_send_as(&domain, "sales@example.test", &added),
            Ok(Origin::Added)
        );
        assert!(matches!(
            may_send_as(&domain, "me@elsewhere.test", &added),
            Err(Refusal::OtherDomain(_, d)) if d == "example.test"
        ));
        let any = allowance(&[], UserAddresses::Any);
        assert_eq!(
            may_send_as(&any, "me@elsewhere.test", &added),
            Ok(Origin::Added)
        );
        // Allowed by the setting, but never added: not theirs.
        assert!(matches!(
            may_send_as(&any, "bob@example.test", &added),
            Err(Refusal::NotYours(_))
        ));
        assert!(matches!(
            may_send_as(&any, "not an address", &added),
            Err(Refusal::NotAnAddress(_))
        ));
    }

    #[test]
    fn the_list_starts_with_the_sign_in_address_and_drops_what_is_no_longer_allowed() {
        let dir = vec!["alice.example@example.test".to_string()];
        let stored = vec![
            Stored {
                address: "sales@example.test".into(),
                display_name: "Sales".into(),
                signature: "Call us".into(),
                is_default: true,
            },
            Stored {
                address: "alice@example.test".into(),
                display_name: String::new(),
                signature: "Alice".into(),
                is_default: false,
            },
        ];
        let listed = list(
            &allowance(&dir, UserAddresses::Domain),
            &stored,
            "Alice Example",
        );
        let addresses: Vec<&str> = listed.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "alice@example.test",
                "alice.example@example.test",
                "sales@example.test"
            ]
        );
        assert_eq!(listed[0].display_name, "Alice Example");
        assert_eq!(listed[0].signature, "Alice");
        assert!(listed[2].is_default && !listed[0].is_default);
        assert_eq!(listed[2].from_text(), "Sales <sales@example.test>");

        // The admin turns adding off: the added address goes, and the default falls back.
        let listed = list(&allowance(&dir, UserAddresses::None), &stored, "");
        assert_eq!(listed.len(), 2);
        assert!(listed[0].is_default);
    }

    #[test]
    fn a_reply_is_written_from_the_address_it_was_sent_to() {
        let dir = vec!["alice.example@example.test".to_string()];
        let listed = list(&allowance(&dir, UserAddresses::None), &[], "");
        let to = vec![
            "bob@example.test".into(),
            "ALICE.example@example.test".into(),
        ];
        assert_eq!(
            for_reply(&listed, &to).map(|i| i.address.as_str()),
            Some("alice.example@example.test")
        );
        assert_eq!(
            for_reply(&listed, &["bob@example.test".into()]).map(|i| i.address.as_str()),
            Some("alice@example.test")
        );
    }

    #[test]
    fn texts_are_checked() {
        assert!(check_texts("A\nB", "").is_err());
        assert!(check_texts(&"x".repeat(MAX_NAME + 1), "").is_err());
        assert!(check_texts("", &"x".repeat(MAX_SIGNATURE + 1)).is_err());
        assert_eq!(
            check_texts(" Ann ", "Ann\r\nSales\n\n").unwrap(),
            ("Ann".to_string(), "Ann\nSales".to_string())
        );
    }
}
