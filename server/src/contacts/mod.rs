//! Personal contacts: the people in one user's address book (a name, several e-mail addresses,
//! a phone number, notes), how a contact is checked before it is kept, and recipient
//! suggestions.
//!
//! What a contact is and what makes it valid lives here, with no I/O; [`vcard`] reads and
//! writes `.vcf` files (also no I/O); [`store`] keeps contacts and recently used addresses in
//! the database; [`suggest`] merges the places a recipient can come from. Which certificate an
//! address can be encrypted to is not decided here: that is `directory::lookup`'s job.

pub mod store;
pub mod suggest;
pub mod vcard;

pub use store::Contacts;

/// Most addresses one contact may have.
pub const MAX_ADDRESSES: usize = 20;
const MAX_NAME: usize = 200;
const MAX_PHONE: usize = 100;
const MAX_NOTES: usize = 10_000;
/// A vCard UID longer than this is replaced by one of ours (it is only a key).
const MAX_UID: usize = 200;

/// A contact as kept: checked, its addresses lower-cased and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub uid: String,
    pub display_name: String,
    pub addresses: Vec<String>,
    pub phone: String,
    pub notes: String,
}

/// A contact as typed into the form or read from a vCard, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub uid: Option<String>,
    pub display_name: String,
    pub addresses: Vec<String>,
    pub phone: String,
    pub notes: String,
}

/// Why a contact cannot be kept, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("\"{0}\" is not an e-mail address (it should look like name@example.org).")]
    Address(String),
    #[error("A contact needs at least one e-mail address.")]
    NoAddress,
    #[error("A contact can have at most {MAX_ADDRESSES} e-mail addresses.")]
    TooManyAddresses,
    #[error("The {0} is too long (at most {1} characters).")]
    TooLong(&'static str, usize),
}

impl Draft {
    /// Checks the draft and makes it a contact; `new_uid` names a contact that has no UID yet.
    /// A contact without a name is named after its first address.
    pub fn check(self, new_uid: impl FnOnce() -> String) -> Result<Contact, Invalid> {
        let mut addresses: Vec<String> = Vec::new();
        for typed in &self.addresses {
            let typed = typed.trim();
            if typed.is_empty() {
                continue;
            }
            if !send_rules::addresses::is_plain_address(typed) {
                return Err(Invalid::Address(typed.to_string()));
            }
            let address = typed.to_ascii_lowercase();
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() {
            return Err(Invalid::NoAddress);
        }
        if addresses.len() > MAX_ADDRESSES {
            return Err(Invalid::TooManyAddresses);
        }
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut display_name = one_line(&self.display_name);
        if display_name.is_empty() {
            display_name = addresses[0].clone();
        }
        let phone = one_line(&self.phone);
        let notes = self.notes.trim().replace("\r\n", "\n");
        for (what, value, max) in [
            ("name", &display_name, MAX_NAME),
            ("phone number", &phone, MAX_PHONE),
            ("note", &notes, MAX_NOTES),
        ] {
            if value.chars().count() > max {
                return Err(Invalid::TooLong(what, max));
            }
        }
        let uid = self
            .uid
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty() && u.len() <= MAX_UID && !u.chars().any(char::is_control))
            .unwrap_or_else(new_uid);
        Ok(Contact {
            uid,
            display_name,
            addresses,
            phone,
            notes,
        })
    }
}

/// A fresh contact UID: random, so two servers sharing a database never make the same one.
pub fn new_uid() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    let hex = send_rules::hex(&bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, addresses: &[&str]) -> Draft {
        Draft {
            display_name: name.into(),
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            ..Draft::default()
        }
    }

    #[test]
    fn addresses_are_checked_lowered_and_kept_once() {
        let c = draft(
            " Ann  Lee ",
            &["Ann@Example.org", "", "ann@example.org", "a.lee@x.example"],
        )
        .check(|| "u1".into())
        .unwrap();
        assert_eq!(c.display_name, "Ann Lee");
        assert_eq!(c.addresses, ["ann@example.org", "a.lee@x.example"]);
        assert_eq!(c.uid, "u1");
    }

    #[test]
    fn a_bad_address_is_named() {
        for bad in [
            "ann",
            "ann@",
            "@x.org",
            "ann@x",
            "a b@x.org",
            "ann@x..org",
            "<ann@x.org>",
            "ann@-x.org",
        ] {
            assert_eq!(
                draft("Ann", &[bad]).check(|| "u".into()),
                Err(Invalid::Address(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            draft("Ann", &[" "]).check(|| "u".into()),
            Err(Invalid::NoAddress)
        );
    }

    #[test]
    fn a_nameless_contact_is_named_after_its_address() {
        let c = draft("", &["bo@x.org"]).check(|| "u".into()).unwrap();
        assert_eq!(c.display_name, "bo@x.org");
    }
}
