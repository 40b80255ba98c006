//! Recipient lookup: which certificate to encrypt to, and distribution-list expansion.
//!
//! The pure core — [`address_match`], [`order_candidates`], [`expand`] — takes its data as
//! arguments so it is tested without a database; [`find_certificate`] feeds it from the
//! directory and the validator.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use super::{Directory, Entry, UserSource, normalize};
use crate::trust::{Checked, Checker};
use pki::{Certificate, UnixTime, Usage, containers};

/// How a certificate matched the recipient's address, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The subject's emailAddress attribute.
    Subject(String),
    /// A subjectAltName rfc822Name.
    SubjectAltName(String),
    /// One of the person's other (proxy) addresses.
    Alias(String),
}

impl Match {
    /// The address the certificate was issued for: what the validator checks it against.
    pub fn address(&self) -> &str {
        match self {
            Match::Subject(a) | Match::SubjectAltName(a) | Match::Alias(a) => a,
        }
    }
}

/// Does `cert` belong to `address`? Subject e-mail first, then subjectAltName, then — unless
/// CertMatchingDoNotUseProxies (`use_aliases` false) — any of the person's `aliases`.
pub fn address_match(
    cert: &Certificate,
    address: &str,
    aliases: &[String],
    use_aliases: bool,
) -> Option<Match> {
    let want = normalize(address);
    if let Some(a) = cert
        .subject_email_addresses()
        .into_iter()
        .find(|a| normalize(a) == want)
    {
        return Some(Match::Subject(a));
    }
    let san = cert.san_email_addresses();
    if let Some(a) = san.iter().find(|a| normalize(a) == want) {
        return Some(Match::SubjectAltName(a.clone()));
    }
    if !use_aliases {
        return None;
    }
    let others: HashSet<String> = aliases.iter().map(|a| normalize(a)).collect();
    cert.subject_email_addresses()
        .into_iter()
        .chain(san)
        .find(|a| others.contains(&normalize(a)))
        .map(Match::Alias)
}

/// One certificate that matched, and how.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub cert: Certificate,
    pub matched: Match,
}

/// Keeps the candidates valid at `now` and orders them: a key usage fitting `usage` alone
/// first, then the better address match, then the newest.
pub fn order_candidates(
    mut candidates: Vec<Candidate>,
    usage: Usage,
    now: UnixTime,
) -> Vec<Candidate> {
    candidates.retain(|c| c.cert.not_before() <= now && now <= c.cert.not_after());
    candidates.sort_by(|a, b| {
        let rank = |c: &Candidate| {
            (
                !c.cert.key_usage_fits_alone(usage),
                match c.matched {
                    Match::Subject(_) => 0,
                    Match::SubjectAltName(_) => 1,
                    Match::Alias(_) => 2,
                },
                std::cmp::Reverse(c.cert.not_before()),
            )
        };
        rank(a).cmp(&rank(b))
    });
    candidates
}

/// Keeps the candidates valid at `now`, in the order given.
pub fn valid_now_in_order(mut candidates: Vec<Candidate>, now: UnixTime) -> Vec<Candidate> {
    candidates.retain(|c| c.cert.not_before() <= now && now <= c.cert.not_after());
    candidates
}

/// A recipient after list expansion; `via` names the list it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("This message has more than {limit} recipients after distribution lists are expanded.")]
    TooMany { limit: usize },
}

/// The recipients and what could not be expanded (a list that timed out or failed, a loop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    pub recipients: Vec<Recipient>,
    pub problems: Vec<String>,
}

/// Expands distribution lists among `addresses`. `members_of(address)` answers the list's
/// members, or None when the address is not a list; each answer must come within
/// `per_list`. Nested lists are followed, each list once (a loop ends there); recipients are
/// listed once; more than `limit` is an error.
pub async fn expand<F, Fut, E>(
    addresses: &[String],
    mut members_of: F,
    limit: usize,
    per_list: Duration,
) -> Result<Expanded, ExpandError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Option<Vec<String>>, E>>,
    E: std::fmt::Display,
{
    let mut out = Expanded::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut lists_done: HashSet<String> = HashSet::new();
    // Depth-first with an explicit stack, so deep nesting cannot overflow the real one. Each
    // entry carries the lists it came through: meeting one of those again is a loop, meeting
    // a list already expanded elsewhere is merely a list reached twice.
    let mut stack: Vec<(String, Vec<String>)> = addresses
        .iter()
        .rev()
        .map(|a| (normalize(a), Vec::new()))
        .collect();
    while let Some((address, ancestors)) = stack.pop() {
        if address.is_empty() || seen.contains(&address) {
            continue;
        }
        if lists_done.contains(&address) {
            if ancestors.contains(&address) {
                out.problems.push(format!(
                    "The distribution list {address} contains itself; it was expanded once."
                ));
            }
            continue;
        }
        match tokio::time::timeout(per_list, members_of(address.clone())).await {
            Ok(Ok(Some(members))) => {
                lists_done.insert(address.clone());
                let mut inner = ancestors.clone();
                inner.push(address.clone());
                for m in members.into_iter().rev() {
                    stack.push((normalize(&m), inner.clone()));
                }
            }
            Ok(Ok(None)) => {
                seen.insert(address.clone());
                if out.recipients.len() >= limit {
                    return Err(ExpandError::TooMany { limit });
                }
                out.recipients.push(Recipient {
                    address,
                    via: ancestors.last().cloned(),
                });
            }
            Ok(Err(e)) => out.problems.push(format!(
                "The distribution list {address} could not be expanded: {e}"
            )),
            Err(_) => out.problems.push(format!(
                "The distribution list {address} could not be expanded within {} s.",
                per_list.as_secs()
            )),
        }
    }
    Ok(out)
}

/// Where a certificate was found, in lookup order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    DirectoryUserCertificate,
    DirectoryUserSmimeCertificate,
    Contacts,
    Harvested,
}

impl Source {
    pub const ORDER: [Source; 4] = [
        Source::DirectoryUserCertificate,
        Source::DirectoryUserSmimeCertificate,
        Source::Contacts,
        Source::Harvested,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Source::DirectoryUserCertificate => "directory userCertificate",
            Source::DirectoryUserSmimeCertificate => "directory userSMIMECertificate",
            Source::Contacts => "contacts",
            Source::Harvested => "signed mail",
        }
    }
}

/// The answer for one recipient.
#[derive(Debug, Clone)]
pub struct Found {
    pub address: String,
    /// A usable certificate, when there is one.
    pub certificate: Option<Certificate>,
    pub source: Option<Source>,
    /// Usable, but its revocation status could not be checked (CheckCRL off).
    pub warning: bool,
    /// Why there is no certificate, or the warning; empty when all is well.
    pub reason: String,
    /// The certificate's issuers up to the trust anchor, as validated; the browser builds its
    /// own path with them (it trusts none of them for that).
    pub issuers: Vec<Certificate>,
}

async fn candidates_from(
    dir: &Directory,
    owner: &str,
    source: Source,
    address: &str,
    entry: Option<&Entry>,
) -> Vec<Certificate> {
    let ders: Vec<Vec<u8>> = match (source, entry) {
        (Source::DirectoryUserCertificate, Some(e)) => e.user_certificates.clone(),
        (Source::DirectoryUserSmimeCertificate, Some(e)) => e
            .smime_certificates
            .iter()
            .flat_map(|v| containers::pkcs7_certificates(v).unwrap_or_default())
            .collect(),
        (Source::Contacts | Source::Harvested, _) => {
            let mut addresses = vec![address.to_string()];
            if let Some(p) = entry.map(|e| &e.person) {
                addresses.push(p.address.clone());
                addresses.extend(p.aliases.iter().cloned());
            }
            addresses.sort();
            addresses.dedup();
            if source == Source::Contacts {
                dir.user_certificates(owner, UserSource::Contact, &addresses)
                    .await
                    .unwrap_or_default()
            } else {
                dir.harvested_for(owner, &addresses)
                    .await
                    .unwrap_or_default()
            }
        }
        _ => Vec::new(),
    };
    ders.iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        // A CA certificate in a userSMIMECertificate set is the person's issuer, not theirs.
        .filter(|c| !c.is_ca())
        .collect()
}

/// The CA certificates an entry's userSMIMECertificate sets carry (the person's issuers, as
/// Outlook publishes them): intermediates for validating any of that entry's certificates.
fn carried_issuers(entry: Option<&Entry>) -> Vec<Certificate> {
    entry
        .map(|e| {
            e.smime_certificates
                .iter()
                .flat_map(|v| containers::pkcs7_certificates(v).unwrap_or_default())
                .filter_map(|d| Certificate::from_der(&d).ok())
                .filter(Certificate::is_ca)
                .collect()
        })
        .unwrap_or_default()
}

/// Every certificate known for `address` from any source, valid or not: what a message must not
/// name in its RecipientInfos when `address` is to stay hidden (a Bcc recipient).
pub async fn known_certificates(dir: &Directory, owner: &str, address: &str) -> Vec<Certificate> {
    let entry = dir.entry(address).await;
    let mut out: Vec<Certificate> = Vec::new();
    for source in Source::ORDER {
        for cert in candidates_from(dir, owner, source, address, entry.as_ref()).await {
            if !out.iter().any(|c| c.der() == cert.der()) {
                out.push(cert);
            }
        }
    }
    out
}

/// Finds the certificate to use for `address` on behalf of `owner`: directory userCertificate,
/// directory userSMIMECertificate (the live directory's values first, then those imported or
/// published for the same person), the owner's contacts, then certificates harvested from
/// signed mail; the first valid one wins.
pub async fn find_certificate(
    dir: &Directory,
    checker: &Checker,
    owner: &str,
    address: &str,
    usage: Usage,
    now: UnixTime,
) -> Found {
    let entry = dir.entry(address).await;
    let aliases: Vec<String> = entry
        .as_ref()
        .map(|e| {
            let mut v = e.person.aliases.clone();
            v.push(e.person.address.clone());
            v
        })
        .unwrap_or_default();
    let use_aliases = !checker.settings.cert_matching_do_not_use_proxies;
    let carried = carried_issuers(entry.as_ref());
    let mut fallback: Option<(Certificate, Source, Checked)> = None;
    let mut first_failure: Option<Checked> = None;
    let mut seen_any = false;
    for source in Source::ORDER {
        let certs = candidates_from(dir, owner, source, address, entry.as_ref()).await;
        seen_any |= !certs.is_empty();
        let candidates: Vec<Candidate> = certs
            .into_iter()
            .filter_map(|cert| {
                address_match(&cert, address, &aliases, use_aliases)
                    .map(|matched| Candidate { cert, matched })
            })
            .collect();
        let ordered = match source {
            // Harvested certificates come newest signature first, and that order stands: the
            // certificate a correspondent signed with last is the one they read mail with now.
            Source::Harvested => valid_now_in_order(candidates, now),
            _ => order_candidates(candidates, usage, now),
        };
        for c in ordered {
            let checked = checker
                .check(&c.cert, &carried, usage, Some(c.matched.address()), now)
                .await;
            if checked.is_valid() {
                return Found {
                    address: address.to_string(),
                    certificate: Some(c.cert),
                    source: Some(source),
                    warning: false,
                    reason: String::new(),
                    issuers: issuers_of(&checked),
                };
            }
            if fallback.is_none() && checked.usable(checker.settings.check_crl) {
                fallback = Some((c.cert, source, checked));
            } else if first_failure.is_none() {
                first_failure = Some(checked);
            }
        }
    }
    if let Some((cert, source, checked)) = fallback {
        return Found {
            address: address.to_string(),
            certificate: Some(cert),
            source: Some(source),
            warning: true,
            reason: checked.reason(),
            issuers: issuers_of(&checked),
        };
    }
    let reason = match first_failure {
        Some(checked) => checked.reason(),
        None if entry
            .as_ref()
            .is_some_and(Entry::has_unreadable_certificates) =>
        {
            format!(
                "The directory entry for {address} holds a certificate that could not be read \
                 (it is malformed); ask your administrator to replace it."
            )
        }
        None if seen_any => format!("No certificate valid now was found for {address}."),
        None => format!("No certificate was found for {address}."),
    };
    Found {
        address: address.to_string(),
        certificate: None,
        source: None,
        warning: false,
        reason,
        issuers: Vec::new(),
    }
}

/// The validated path without its end entity.
fn issuers_of(checked: &Checked) -> Vec<Certificate> {
    checked.verdict.path.iter().skip(1).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lists(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(l, m)| (l.to_string(), m.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    async fn run(
        map: &HashMap<String, Vec<String>>,
        roots: &[&str],
        limit: usize,
    ) -> Result<Expanded, ExpandError> {
        let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
        expand(
            &roots,
            |a| {
                let r = map.get(&a).cloned();
                async move { Ok::<_, String>(r) }
            },
            limit,
            Duration::from_secs(1),
        )
        .await
    }

    #[tokio::test]
    async fn nested_lists_expand_once_per_recipient() {
        let map = lists(&[
            ("team@x", &["a@x", "sub@x", "b@x"]),
            ("sub@x", &["c@x", "a@x"]),
        ]);
        let out = run(&map, &["team@x", "B@x"], 10).await.unwrap();
        let got: Vec<_> = out.recipients.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(got, ["a@x", "c@x", "b@x"]);
        assert_eq!(out.recipients[1].via.as_deref(), Some("sub@x"));
        assert!(out.problems.is_empty());
    }

    #[tokio::test]
    async fn a_loop_ends_with_a_note() {
        let map = lists(&[("l1@x", &["l2@x", "a@x"]), ("l2@x", &["l1@x", "b@x"])]);
        let out = run(&map, &["l1@x"], 10).await.unwrap();
        let got: Vec<_> = out.recipients.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(got, ["b@x", "a@x"]);
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
        assert!(out.problems[0].contains("contains itself"));
    }

    #[tokio::test]
    async fn the_limit_counts_expanded_recipients() {
        let map = lists(&[("l@x", &["a@x", "b@x", "c@x"])]);
        assert_eq!(
            run(&map, &["l@x"], 2).await.unwrap_err(),
            ExpandError::TooMany { limit: 2 }
        );
        assert_eq!(run(&map, &["l@x"], 3).await.unwrap().recipients.len(), 3);
    }

    #[tokio::test]
    async fn a_slow_list_times_out_alone() {
        let roots = vec!["slow@x".to_string(), "a@x".to_string()];
        let out = expand(
            &roots,
            |a| async move {
                if a == "slow@x" {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, String>(Some(vec!["z@x".into()]))
                } else {
                    Ok(None)
                }
            },
            10,
            Duration::from_millis(50),
        )
        .await
        .unwrap();
        assert_eq!(out.recipients.len(), 1);
        assert!(out.problems[0].contains("slow@x"), "{:?}", out.problems);
    }
}
