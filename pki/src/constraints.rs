//! Name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)–(c), §6.1.4 (g)).
//!
//! Instead of computing the intersection of permitted subtrees (fiddly and easy to get wrong),
//! we keep every CA's permitted set separately: a name must fall inside one subtree of each set
//! that constrains its name form. That is the same test, stated directly.

use super::cert::{Cert, NameConstraints};
use super::name::GeneralName;

#[derive(Debug, Default)]
pub struct State {
    permitted: Vec<Vec<GeneralName>>,
    excluded: Vec<GeneralName>,
}

/// Upper bound on subtrees kept across a path; hostile CAs could otherwise make every check
/// quadratic in attacker-chosen sizes.
const MAX_SUBTREES: usize = 1024;

impl State {
    /// Adds a CA's constraints for the certificates below it; `false` if the bound is exceeded.
    pub fn add(&mut self, nc: &NameConstraints) -> bool {
        if let Some(p) = &nc.permitted {
            self.permitted
                .push(p.iter().map(|s| s.base.clone()).collect());
        }
        self.excluded
            .extend(nc.excluded.iter().map(|s| s.base.clone()));
        let total: usize = self.permitted.iter().map(Vec::len).sum::<usize>() + self.excluded.len();
        total <= MAX_SUBTREES
    }

    /// Whether every name of `cert` (subject DN, legacy e-mail attributes, subjectAltNames)
    /// satisfies the constraints collected so far.
    pub fn allows(&self, cert: &Cert) -> bool {
        let mut names: Vec<GeneralName> = Vec::new();
        if !cert.subject.is_empty() {
            names.push(GeneralName::Directory(cert.subject.clone()));
        }
        // §4.2.1.10: emailAddress attributes in the subject are constrained as rfc822Names.
        names.extend(
            cert.subject
                .email_addresses()
                .into_iter()
                .map(GeneralName::Rfc822),
        );
        names.extend(cert.ext.subject_alt_names.iter().cloned());
        names.iter().all(|n| self.name_allowed(n))
    }

    fn name_allowed(&self, name: &GeneralName) -> bool {
        for set in &self.permitted {
            let same_form: Vec<&GeneralName> = set.iter().filter(|b| same_form(b, name)).collect();
            if !same_form.is_empty() && !same_form.iter().any(|b| within(name, b)) {
                return false;
            }
        }
        !self
            .excluded
            .iter()
            .any(|b| same_form(b, name) && within(name, b))
    }
}

fn same_form(a: &GeneralName, b: &GeneralName) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
        && match (a, b) {
            (GeneralName::Other(x), GeneralName::Other(y)) => x == y,
            _ => true,
        }
}

/// Whether `name` lies within the subtree `base` (both of the same form).
fn within(name: &GeneralName, base: &GeneralName) -> bool {
    match (name, base) {
        (GeneralName::Directory(n), GeneralName::Directory(b)) => n.is_within(b),
        (GeneralName::Rfc822(n), GeneralName::Rfc822(b)) => mailbox_within(n, b),
        (GeneralName::Dns(n), GeneralName::Dns(b)) => dns_within(n, b),
        (GeneralName::Uri(n), GeneralName::Uri(b)) => {
            uri_host(n).is_some_and(|host| host_within(&host, b))
        }
        (GeneralName::Ip(n), GeneralName::Ip(b)) => ip_within(n, b),
        // Forms we cannot evaluate never match: unknown forms fail permitted, pass excluded.
        _ => false,
    }
}

/// rfc822Name constraints: a full mailbox, a host (exactly), or `.domain` (any host below).
fn mailbox_within(mailbox: &str, base: &str) -> bool {
    let Some((_, host)) = mailbox.rsplit_once('@') else {
        return false;
    };
    if base.contains('@') {
        mailbox.eq_ignore_ascii_case(base)
    } else if base.starts_with('.') {
        ends_with_ignore_case(host, base)
    } else {
        host.eq_ignore_ascii_case(base)
    }
}

/// dNSName constraints: the name itself or any name formed by adding labels on the left.
fn dns_within(name: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return ends_with_ignore_case(name, base);
    }
    name.eq_ignore_ascii_case(base) || ends_with_ignore_case(name, &format!(".{base}"))
}

/// URI constraints name a host (exactly) or `.domain` (any host below), §4.2.1.10.
fn host_within(host: &str, base: &str) -> bool {
    if base.starts_with('.') {
        ends_with_ignore_case(host, base)
    } else {
        host.eq_ignore_ascii_case(base)
    }
}

/// The host part of a URI's authority, without user info or port.
fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next()?.trim_start_matches('[')
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

fn ip_within(addr: &[u8], base: &[u8]) -> bool {
    if base.len() != addr.len() * 2 {
        return false;
    }
    let (net, mask) = base.split_at(addr.len());
    addr.iter()
        .zip(net)
        .zip(mask)
        .all(|((a, n), m)| a & m == n & m)
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc822_forms() {
        assert!(mailbox_within("a@mail.example.com", ".example.com"));
        assert!(!mailbox_within("a@example.com", ".example.com"));
        assert!(mailbox_within("a@Example.com", "example.com"));
        assert!(mailbox_within("a@example.com", "A@example.com"));
        assert!(!mailbox_within("b@example.com", "a@example.com"));
    }

    #[test]
    fn dns_and_uri_forms() {
        assert!(dns_within("host.example.com", "example.com"));
        assert!(!dns_within("badexample.com", "example.com"));
        assert_eq!(
            uri_host("http://user@Host.example:8080/x").as_deref(),
            Some("Host.example")
        );
        assert!(host_within("a.example.com", ".example.com"));
        assert!(!host_within("a.example.com", "example.com"));
    }

    #[test]
    fn ip_masks() {
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
    }
}
