//! What the LDAP client asks and how it reads the answers, with no I/O: the search filters
//! (every value escaped as RFC 4515 says) and the reading of an entry's attributes, named as an
//! Active Directory admin knows them.

use std::collections::HashMap;

use crate::directory::{Person, normalize};

/// The attributes read from a person.
pub const PERSON_ATTRIBUTES: [&str; 6] = [
    "mail",
    "proxyAddresses",
    "displayName",
    "cn",
    "userCertificate;binary",
    "userSMIMECertificate",
];

/// The attributes read from a group member, to name it or expand it.
pub const MEMBER_ATTRIBUTES: [&str; 3] = ["mail", "proxyAddresses", "member"];

/// An entry as the client library hands it over: text values, and the values that are not
/// valid UTF-8 (certificates, mostly — but a value lands in either map by its bytes alone).
#[derive(Debug, Clone, Default)]
pub struct RawEntry {
    pub dn: String,
    pub text: HashMap<String, Vec<String>>,
    pub binary: HashMap<String, Vec<Vec<u8>>>,
}

impl RawEntry {
    /// Every value of `name` (case-insensitive, options like `;binary` ignored) as text.
    pub fn texts(&self, name: &str) -> Vec<&str> {
        self.text
            .iter()
            .filter(|(k, _)| same_attribute(k, name))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .collect()
    }

    /// Every value of `name` as bytes, from either map.
    pub fn bytes(&self, name: &str) -> Vec<Vec<u8>> {
        let text = self
            .text
            .iter()
            .filter(|(k, _)| same_attribute(k, name))
            .flat_map(|(_, v)| v.iter().map(|s| s.as_bytes().to_vec()));
        let binary = self
            .binary
            .iter()
            .filter(|(k, _)| same_attribute(k, name))
            .flat_map(|(_, v)| v.iter().cloned());
        text.chain(binary).collect()
    }
}

/// `userCertificate;binary` is `userCertificate` transferred as BER: the same attribute.
fn same_attribute(returned: &str, wanted: &str) -> bool {
    let base = |s: &str| s.split(';').next().unwrap_or_default().to_ascii_lowercase();
    base(returned) == base(wanted)
}

/// A person as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapPerson {
    pub person: Person,
    /// DER certificates from `userCertificate;binary`.
    pub user_certificates: Vec<Vec<u8>>,
    /// PKCS#7 certificate sets from `userSMIMECertificate`.
    pub smime_certificates: Vec<Vec<u8>>,
}

/// The addresses in `proxyAddresses` values: `SMTP:` marks the primary one, `smtp:` the others;
/// other types (`X500:`, `SIP:`) are not mail addresses.
fn proxy_addresses(entry: &RawEntry) -> (Option<String>, Vec<String>) {
    let mut primary = None;
    let mut others = Vec::new();
    for value in entry.texts("proxyAddresses") {
        let Some((kind, address)) = value.split_once(':') else {
            continue;
        };
        if !kind.eq_ignore_ascii_case("smtp") || !address.contains('@') {
            continue;
        }
        if kind == "SMTP" && primary.is_none() {
            primary = Some(normalize(address));
        } else {
            others.push(normalize(address));
        }
    }
    (primary, others)
}

/// The address mail to the entry goes to: the `SMTP:` proxy address, else `mail`, else any
/// `smtp:` proxy address.
pub fn primary_address(entry: &RawEntry) -> Option<String> {
    let (primary, others) = proxy_addresses(entry);
    primary
        .or_else(|| {
            entry
                .texts("mail")
                .into_iter()
                .find(|m| m.contains('@'))
                .map(normalize)
        })
        .or_else(|| others.into_iter().next())
}

/// Reads a person entry; None when it has no mail address at all.
pub fn person(entry: &RawEntry) -> Option<LdapPerson> {
    let address = primary_address(entry)?;
    let (_, proxies) = proxy_addresses(entry);
    let mut aliases: Vec<String> = entry
        .texts("mail")
        .into_iter()
        .map(normalize)
        .chain(proxies)
        .filter(|a| *a != address && a.contains('@'))
        .collect();
    aliases.sort();
    aliases.dedup();
    let display_name = entry
        .texts("displayName")
        .into_iter()
        .chain(entry.texts("cn"))
        .next()
        .unwrap_or(&address)
        .to_string();
    Some(LdapPerson {
        person: Person {
            address,
            display_name,
            aliases,
        },
        user_certificates: entry.bytes("userCertificate"),
        smime_certificates: entry.bytes("userSMIMECertificate"),
    })
}

/// `(&<kind filter>(|(mail=a)(proxyAddresses=smtp:a)))`: the entry whose address `address` is.
/// proxyAddresses matches case-insensitively, so `smtp:` also finds the `SMTP:` primary.
pub fn by_address(kind_filter: &str, address: &str) -> String {
    let a = ldap3::ldap_escape(normalize(address)).into_owned();
    format!("(&{kind_filter}(|(mail={a})(proxyAddresses=smtp:{a})))")
}

/// People whose name or address begins with `query`, for recipient suggestions.
pub fn by_prefix(user_filter: &str, query: &str) -> String {
    let q = ldap3::ldap_escape(query.trim()).into_owned();
    format!("(&{user_filter}(|(cn={q}*)(displayName={q}*)(givenName={q}*)(sn={q}*)(mail={q}*)))")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &[&str])]) -> RawEntry {
        RawEntry {
            dn: "uid=x,dc=example,dc=test".into(),
            text: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            binary: HashMap::new(),
        }
    }

    #[test]
    fn the_smtp_proxy_address_is_primary_and_the_others_are_aliases() {
        let e = entry(&[
            ("mail", &["Ann@Example.test"]),
            (
                "proxyAddresses",
                &[
                    "smtp:ann.lee@example.test",
                    "SMTP:ann@example.test",
                    "X500:/o=Example/cn=ann",
                    "sip:ann@example.test",
                ],
            ),
            ("displayName", &["Ann Lee"]),
        ]);
        let p = person(&e).unwrap();
        assert_eq!(p.person.address, "ann@example.test");
        assert_eq!(p.person.aliases, ["ann.lee@example.test"]);
        assert_eq!(p.person.display_name, "Ann Lee");
    }

    #[test]
    fn without_proxy_addresses_mail_is_the_address_and_cn_the_name() {
        let e = entry(&[("mail", &["bob@example.test"]), ("cn", &["Bob"])]);
        let p = person(&e).unwrap();
        assert_eq!(p.person.address, "bob@example.test");
        assert_eq!(p.person.display_name, "Bob");
        assert!(person(&entry(&[("cn", &["No Mail"])])).is_none());
    }

    #[test]
    fn certificates_are_read_from_either_map_under_their_option() {
        let mut e = entry(&[("mail", &["c@example.test"])]);
        e.binary.insert(
            "userCertificate;binary".into(),
            vec![vec![0x30, 0x82, 0xff]],
        );
        // A value that happens to be valid UTF-8 arrives among the text values.
        e.text
            .insert("userSMIMECertificate".into(), vec!["0\u{1}".into()]);
        let p = person(&e).unwrap();
        assert_eq!(p.user_certificates, [vec![0x30, 0x82, 0xff]]);
        assert_eq!(p.smime_certificates, [b"0\x01".to_vec()]);
    }

    #[test]
    fn filter_values_are_escaped() {
        let f = by_address("(objectClass=person)", "*)(mail=*");
        assert_eq!(
            f,
            "(&(objectClass=person)(|(mail=\\2a\\29\\28mail=\\2a)(proxyAddresses=smtp:\\2a\\29\\28mail=\\2a)))"
        );
        assert!(by_prefix("(objectClass=person)", "a*").contains("(cn=a\\2a*)"));
    }
}
