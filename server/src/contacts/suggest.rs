//! Recipient suggestions: who the user may mean by what they have typed so far.
//!
//! Each place a recipient can come from is a [`Source`]; the sources are asked in order of
//! preference and [`merge`] (pure) combines their answers. A new place is one more `Source`,
//! nothing else changes: the live LDAP directory came that way.

use futures::future::BoxFuture;

use super::Contacts;
use crate::directory::Directory;

/// Where a suggestion came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Contacts,
    Directory,
    Recent,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Contacts => "contacts",
            Origin::Directory => "directory",
            Origin::Recent => "recent",
        }
    }
}

/// One person the user may mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Empty when only the address is known (a recently used one).
    pub name: String,
    pub address: String,
    pub origin: Origin,
}

/// Why a source of suggestions could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("directory: {0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("LDAP directory: {0}")]
    Ldap(#[from] crate::directory::ldap::LdapError),
}

/// A place recipients come from. A source that fails is left out of the answer, not fatal.
pub trait Source: Send + Sync {
    fn find<'a>(
        &'a self,
        owner: &'a str,
        query: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Candidate>, SourceError>>;
}

/// The user's own contacts.
pub struct PersonalContacts(pub Contacts);
/// The organisation's directory (the directory tables the admin imports into).
pub struct OrganisationDirectory(pub Directory);
/// The organisation's live LDAP directory, when one is configured: people whose name or
/// address begins with what was typed.
pub struct LiveDirectory(pub Directory);
/// Addresses the user recently sent mail to.
pub struct RecentlyUsed(pub Contacts);

impl Source for PersonalContacts {
    fn find<'a>(
        &'a self,
        owner: &'a str,
        query: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Candidate>, SourceError>> {
        Box::pin(async move {
            let found = self.0.matching(owner, query, limit).await;
            let found = found?;
            Ok(found
                .into_iter()
                .map(|(name, address)| Candidate {
                    name,
                    address,
                    origin: Origin::Contacts,
                })
                .collect())
        })
    }
}

impl Source for OrganisationDirectory {
    fn find<'a>(
        &'a self,
        _owner: &'a str,
        query: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Candidate>, SourceError>> {
        Box::pin(async move {
            let found = self.0.people_matching(query, limit).await;
            let found = found?;
            Ok(found
                .into_iter()
                .map(|(address, name)| Candidate {
                    name,
                    address,
                    origin: Origin::Directory,
                })
                .collect())
        })
    }
}

impl Source for LiveDirectory {
    fn find<'a>(
        &'a self,
        _owner: &'a str,
        query: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Candidate>, SourceError>> {
        Box::pin(async move {
            let Some(ldap) = self.0.ldap() else {
                return Ok(Vec::new());
            };
            let found = ldap.people_starting_with(query, limit).await;
            let found = found?;
            Ok(found
                .into_iter()
                .map(|(address, name)| Candidate {
                    name,
                    address,
                    origin: Origin::Directory,
                })
                .collect())
        })
    }
}

impl Source for RecentlyUsed {
    fn find<'a>(
        &'a self,
        owner: &'a str,
        query: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Candidate>, SourceError>> {
        Box::pin(async move {
            let found = self.0.recent(owner, query, limit).await;
            let found = found?;
            Ok(found
                .into_iter()
                .map(|address| Candidate {
                    name: String::new(),
                    address,
                    origin: Origin::Recent,
                })
                .collect())
        })
    }
}

/// Asks every source (in order of preference) and merges what they found.
pub async fn suggest(
    sources: &[&dyn Source],
    owner: &str,
    query: &str,
    limit: usize,
) -> Vec<Candidate> {
    let mut answers = Vec::new();
    for source in sources {
        match source.find(owner, query, limit).await {
            Ok(found) => answers.push(found),
            Err(e) => tracing::warn!("a recipient suggestion source failed: {e}"),
        }
    }
    merge(answers, query, limit)
}

/// One suggestion per address: the first source's, given a name a later source knows when it
/// has none. Names or addresses that begin with what was typed come first; otherwise the
/// sources' order stands.
pub fn merge(answers: Vec<Vec<Candidate>>, query: &str, limit: usize) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for candidate in answers.into_iter().flatten() {
        let address = candidate.address.to_ascii_lowercase();
        match out.iter_mut().find(|c| c.address == address) {
            Some(known) if known.name.is_empty() => known.name = candidate.name,
            Some(_) => {}
            None => out.push(Candidate {
                address,
                ..candidate
            }),
        }
    }
    let query = query.trim().to_lowercase();
    let starts = |c: &Candidate| {
        c.address.starts_with(&query)
            || c.name
                .to_lowercase()
                .split_whitespace()
                .any(|word| word.starts_with(&query))
    };
    // A stable sort: within each group the sources' order is kept.
    out.sort_by_key(|c| !starts(c));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, address: &str, origin: Origin) -> Candidate {
        Candidate {
            name: name.into(),
            address: address.into(),
            origin,
        }
    }

    #[test]
    fn one_per_address_the_first_source_wins_and_names_fill_in() {
        let merged = merge(
            vec![
                vec![c("Ann Lee", "ann@x.org", Origin::Contacts)],
                vec![
                    c("", "bob@x.org", Origin::Recent),
                    c("", "Ann@x.org", Origin::Recent),
                ],
                vec![c("Bob Ray", "bob@x.org", Origin::Directory)],
            ],
            "",
            10,
        );
        assert_eq!(
            merged,
            [
                c("Ann Lee", "ann@x.org", Origin::Contacts),
                c("Bob Ray", "bob@x.org", Origin::Recent)
            ]
        );
    }

    #[test]
    fn what_begins_with_the_query_comes_first() {
        let merged = merge(
            vec![vec![
                c("Joanna", "jo@x.org", Origin::Contacts),
                c("Ann Marsh", "ann@x.org", Origin::Contacts),
                c("Mark", "m@x.org", Origin::Contacts),
            ]],
            "mar",
            2,
        );
        let names: Vec<_> = merged.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Ann Marsh", "Mark"]);
    }
}
