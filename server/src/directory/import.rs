//! Admin imports: certificate files (PEM, DER, PKCS#7 `.p7b`) and LDIF exports of a directory
//! (people with `userCertificate;binary` / `userSMIMECertificate;binary`, groups with members).
//!
//! Everything here is parsing of hostile bytes into plain values; writing them is
//! [`super::Directory`]'s job.

use std::collections::HashMap;

use base64::Engine;

use super::{Person, normalize};
use pki::{Certificate, containers};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {problem}")]
    Ldif { line: usize, problem: String },
    #[error("{0}")]
    Certificate(String),
}

/// Certificates read from files, split into end-entity certificates and CA certificates
/// (the latter serve chain building).
#[derive(Debug, Default)]
pub struct CertificateSet {
    pub end_entity: Vec<Certificate>,
    pub authorities: Vec<Certificate>,
}

impl CertificateSet {
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), ImportError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| ImportError::Certificate(format!("a certificate cannot be read: {e}")))?;
        let list = if cert.is_ca() {
            &mut self.authorities
        } else {
            &mut self.end_entity
        };
        if !list.iter().any(|c| c.fingerprint() == cert.fingerprint()) {
            list.push(cert);
        }
        Ok(())
    }

    /// Adds every certificate of a PEM, DER or PKCS#7 file's bytes.
    pub fn add_file_bytes(&mut self, bytes: &[u8]) -> Result<(), ImportError> {
        let ders = containers::certificates_in(bytes)
            .map_err(|e| ImportError::Certificate(format!("no certificate could be read: {e}")))?;
        if ders.is_empty() {
            return Err(ImportError::Certificate(
                "the file holds no certificate".into(),
            ));
        }
        for der in ders {
            self.add_der(&der)?;
        }
        Ok(())
    }
}

/// One LDIF record: its DN and attribute values (names lower-cased, options like `;binary`
/// removed).
#[derive(Debug, Clone, Default)]
pub struct LdifRecord {
    pub dn: String,
    pub attributes: Vec<(String, Vec<u8>)>,
}

impl LdifRecord {
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.attributes
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn text(&self, name: &str) -> Vec<String> {
        self.values(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(|s| s.trim().to_string())
            .collect()
    }

    fn has_class(&self, classes: &[&str]) -> bool {
        self.text("objectclass")
            .iter()
            .any(|c| classes.iter().any(|k| c.eq_ignore_ascii_case(k)))
    }
}

/// Parses LDIF content records (RFC 2849): folded lines, `attr: value`, `attr:: base64`,
/// comments. `attr:< URL` is refused (an import must not read arbitrary files or URLs).
pub fn parse_ldif(text: &str) -> Result<Vec<LdifRecord>, ImportError> {
    // Unfold first, remembering where each logical line started for error messages.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix(' ') {
            match lines.last_mut() {
                Some((_, last)) if !last.is_empty() => last.push_str(cont),
                _ => {
                    return Err(ImportError::Ldif {
                        line: i + 1,
                        problem: "a continuation line with nothing to continue".into(),
                    });
                }
            }
        } else {
            lines.push((i + 1, raw.to_string()));
        }
    }
    let mut records = Vec::new();
    let mut current: Option<LdifRecord> = None;
    for (line, text) in lines {
        if text.is_empty() {
            records.extend(current.take());
            continue;
        }
        if text.starts_with('#') {
            continue;
        }
        let err = |problem: &str| ImportError::Ldif {
            line,
            problem: problem.to_string(),
        };
        let (name, rest) = text
            .split_once(':')
            .ok_or_else(|| err("expected \"attribute: value\""))?;
        let value: Vec<u8> = if let Some(b64) = rest.strip_prefix(':') {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| err("the base64 value cannot be decoded"))?
        } else if rest.starts_with('<') {
            return Err(err("values by URL (\":<\") are not imported"));
        } else {
            rest.trim_start().as_bytes().to_vec()
        };
        let name = name
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if name == "version" && current.is_none() {
            continue;
        }
        if name == "dn" {
            records.extend(current.take());
            current = Some(LdifRecord {
                dn: String::from_utf8(value).map_err(|_| err("the DN is not UTF-8"))?,
                attributes: Vec::new(),
            });
            continue;
        }
        match current.as_mut() {
            Some(r) => r.attributes.push((name, value)),
            None => return Err(err("an attribute before any \"dn:\"")),
        }
    }
    records.extend(current);
    Ok(records)
}

/// A person to import with their certificates.
#[derive(Debug)]
pub struct PersonImport {
    pub person: Person,
    pub certificates: CertificateSet,
}

/// A distribution list to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListImport {
    pub address: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// What an LDIF export holds for the directory, and what was noticed on the way.
#[derive(Debug, Default)]
pub struct LdifImport {
    pub people: Vec<PersonImport>,
    pub lists: Vec<ListImport>,
    pub warnings: Vec<String>,
}

fn dn_key(dn: &str) -> String {
    dn.split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Turns LDIF records into people and lists. A record with `mail` and a group object class
/// is a list (members by DN, resolved through the same file, or by `mail`-like values);
/// another record with `mail` is a person. `proxyAddresses` (`SMTP:` primary, `smtp:` alias)
/// and `mailAlternateAddress` give aliases.
pub fn from_ldif(records: &[LdifRecord]) -> Result<LdifImport, ImportError> {
    let mut out = LdifImport::default();
    let mail_of: HashMap<String, String> = records
        .iter()
        .filter_map(|r| primary_address(r).map(|m| (dn_key(&r.dn), m)))
        .collect();
    for r in records {
        let Some(address) = primary_address(r) else {
            continue;
        };
        let display_name = r
            .text("displayname")
            .into_iter()
            .chain(r.text("cn"))
            .next()
            .unwrap_or_else(|| address.clone());
        if r.has_class(&["group", "groupOfNames", "groupOfUniqueNames", "mailGroup"]) {
            let mut members = Vec::new();
            for m in r.text("member").into_iter().chain(r.text("uniquemember")) {
                match mail_of.get(&dn_key(&m)) {
                    Some(mail) => members.push(mail.clone()),
                    None if m.contains('@') && !m.contains('=') => members.push(normalize(&m)),
                    None => out.warnings.push(format!(
                        "{address}: member {m} is not in this file; skipped"
                    )),
                }
            }
            members.extend(r.text("mgrprfc822mailmember").iter().map(|m| normalize(m)));
            out.lists.push(ListImport {
                address,
                display_name,
                members,
            });
            continue;
        }
        let mut aliases: Vec<String> = Vec::new();
        for p in r.text("proxyaddresses") {
            if let Some(a) = p.strip_prefix("smtp:").or_else(|| p.strip_prefix("SMTP:")) {
                aliases.push(normalize(a));
            }
        }
        aliases.extend(r.text("mailalternateaddress").iter().map(|a| normalize(a)));
        aliases.retain(|a| *a != address);
        aliases.sort();
        aliases.dedup();
        let mut certificates = CertificateSet::default();
        let mut from_der = Vec::new();
        for v in r.values("usercertificate") {
            certificates
                .add_der(v)
                .map_err(|e| ImportError::Certificate(format!("{}: {e}", r.dn)))?;
            from_der.push(v.to_vec());
        }
        let mut from_p7 = Vec::new();
        for v in r.values("usersmimecertificate") {
            let ders = containers::pkcs7_certificates(v).map_err(|e| {
                ImportError::Certificate(format!(
                    "{}: userSMIMECertificate cannot be read: {e}",
                    r.dn
                ))
            })?;
            for der in ders {
                certificates
                    .add_der(&der)
                    .map_err(|e| ImportError::Certificate(format!("{}: {e}", r.dn)))?;
                from_p7.push(der);
            }
        }
        // The directory keeps both attributes equal; say so when the export did not.
        if !from_der.is_empty() && !from_p7.is_empty() {
            let ends = |v: &[Vec<u8>]| -> Vec<[u8; 32]> {
                let mut f: Vec<[u8; 32]> = v
                    .iter()
                    .filter_map(|d| Certificate::from_der(d).ok())
                    .filter(|c| !c.is_ca())
                    .map(|c| c.fingerprint())
                    .collect();
                f.sort();
                f.dedup();
                f
            };
            if ends(&from_der) != ends(&from_p7) {
                out.warnings.push(format!(
                    "{address}: userCertificate and userSMIMECertificate held different \
                     certificates; both now hold all {} of them",
                    certificates.end_entity.len()
                ));
            }
        }
        out.people.push(PersonImport {
            person: Person {
                address,
                display_name,
                aliases,
            },
            certificates,
        });
    }
    Ok(out)
}

fn primary_address(r: &LdifRecord) -> Option<String> {
    r.text("mail")
        .into_iter()
        .next()
        .or_else(|| {
            r.text("proxyaddresses")
                .into_iter()
                .find_map(|p| p.strip_prefix("SMTP:").map(str::to_string))
        })
        .map(|a| normalize(&a))
        .filter(|a| a.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_base64_and_options() {
        let text = "version: 1\n\ndn: cn=A,dc=x\nobjectClass: person\nmail: A@X.test\n\
                    description:: aGVs\n bG8=\nuserCertificate;binary:: AAEC\n\n";
        let r = parse_ldif(text).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].values("description").next(), Some(&b"hello"[..]));
        assert_eq!(
            r[0].values("usercertificate").next(),
            Some(&[0u8, 1, 2][..])
        );
    }

    #[test]
    fn bad_ldif_names_the_line() {
        let err = parse_ldif("dn: cn=a\nmail: a@x\nnonsense\n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: expected \"attribute: value\"");
        let err = parse_ldif("dn: cn=a\nx:: %%%\n").unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
        assert!(parse_ldif("dn: cn=a\njpegPhoto:< file:///etc/passwd\n").is_err());
    }

    #[test]
    fn groups_resolve_member_dns_and_people_get_proxy_aliases() {
        let text = "dn: cn=A,dc=x\nmail: a@x.test\nproxyAddresses: SMTP:a@x.test\n\
                    proxyAddresses: smtp:Alias@x.test\n\n\
                    dn: cn=L,dc=x\nobjectClass: group\nmail: l@x.test\nmember: CN=A, DC=x\n\
                    member: cn=missing,dc=x\n";
        let import = from_ldif(&parse_ldif(text).unwrap()).unwrap();
        assert_eq!(import.people[0].person.aliases, vec!["alias@x.test"]);
        assert_eq!(import.lists[0].members, vec!["a@x.test"]);
        assert_eq!(import.warnings.len(), 1, "{:?}", import.warnings);
    }

    #[test]
    fn garbage_certificates_are_errors() {
        let text = "dn: cn=A,dc=x\nmail: a@x.test\nuserCertificate;binary:: AAEC\n";
        assert!(from_ldif(&parse_ldif(text).unwrap()).is_err());
        let mut set = CertificateSet::default();
        assert!(set.add_file_bytes(b"\x30\x03\x02\x01").is_err());
    }
}
