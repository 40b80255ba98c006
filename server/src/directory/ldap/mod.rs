//! The live LDAP directory (Active Directory, OpenLDAP): people by address with their
//! certificates, the members of groups, and people whose names begin with what was typed.
//!
//! Every connection, bind and search has a deadline, so a directory that is down or stalled
//! costs one page at most that long; after that it is not asked again for a while (an outage
//! is remembered like an answer) and lookups go on with the other sources, while
//! [`LdapDirectory::outage`] lets the page say so. Answers are cached briefly.
//!
//! [`entry`] holds the filters and the reading of entries (pure); this file talks to the server.

pub mod cache;
pub mod entry;

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};

use crate::config::DirectoryServer;
use crate::directory::normalize;
use cache::Cache;
use entry::{LdapPerson, RawEntry};

/// Answers kept at once, per kind.
const CACHE_CAPACITY: usize = 2000;
/// An outage is remembered at least this long, even with caching off: otherwise every recipient
/// of a message would wait out the deadline again.
const MIN_OUTAGE_MEMORY: Duration = Duration::from_secs(5);

/// LDAP result codes (RFC 4511 appendix A) the client tells apart.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const NO_SUCH_OBJECT: u32 = 32;
const INVALID_CREDENTIALS: u32 = 49;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("the directory {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the directory {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error(
        "the directory refused the bind DN and password ([directory] bind_dn and bind_password)"
    )]
    BindRefused,
    #[error("the directory refused the request: {0}")]
    Refused(String),
    #[error("the directory entry {0} could not be read (it is malformed)")]
    Malformed(String),
}

impl LdapError {
    /// The directory itself is not there (as opposed to refusing one request).
    fn is_outage(&self) -> bool {
        matches!(
            self,
            LdapError::Unreachable { .. } | LdapError::Timeout { .. }
        )
    }
}

pub struct LdapDirectory {
    config: DirectoryServer,
    password: Option<String>,
    /// For ldaps:// and StartTLS: the same roots (and `ca_file`) as the mail connections.
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    people: Mutex<Cache<Option<LdapPerson>>>,
    groups: Mutex<Cache<Option<Vec<String>>>>,
    searches: Mutex<Cache<Vec<(String, String)>>>,
    /// When the directory was last found unreachable, and why.
    outage: Mutex<Option<(Instant, LdapError)>>,
}

/// A poisoned lock only means another request panicked while holding it; the cache inside is
/// still a valid cache.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LdapDirectory {
    /// `password` is the bind password, read from the config or its file by the caller.
    pub fn new(
        config: DirectoryServer,
        password: Option<String>,
        tls: Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Self {
        let ttl = Duration::from_secs(config.cache_seconds);
        Self {
            people: Mutex::new(Cache::new(ttl, CACHE_CAPACITY)),
            groups: Mutex::new(Cache::new(ttl, CACHE_CAPACITY)),
            searches: Mutex::new(Cache::new(ttl, CACHE_CAPACITY)),
            outage: Mutex::new(None),
            config,
            password,
            tls,
        }
    }

    /// Why the directory is being treated as unreachable right now, if it is.
    pub fn outage(&self) -> Option<LdapError> {
        let memory = Duration::from_secs(self.config.cache_seconds).max(MIN_OUTAGE_MEMORY);
        lock(&self.outage)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < memory)
            .map(|(_, e)| e.clone())
    }

    /// The person whose `mail` or `proxyAddresses` (`smtp:`) is `address`.
    pub async fn person(&self, address: &str) -> Result<Option<LdapPerson>, LdapError> {
        let key = normalize(address);
        if let Some(hit) = lock(&self.people).get(&key, Instant::now()) {
            return Ok(hit);
        }
        let found = self
            .guarded(async {
                let mut ldap = self.connect().await?;
                let filter = entry::by_address(&self.config.user_filter, &key);
                let entries = self
                    .search(
                        &mut ldap,
                        &self.config.base_dn,
                        Scope::Subtree,
                        &filter,
                        &entry::PERSON_ATTRIBUTES,
                        2,
                    )
                    .await;
                self.close(ldap).await;
                first_readable(entries?).map(|e| e.as_ref().and_then(entry::person))
            })
            .await?;
        lock(&self.people).put(key, found.clone(), Instant::now());
        Ok(found)
    }

    /// The addresses of the group whose address is `address`, or None when it is not a group.
    /// Members that are groups with an address of their own are answered by that address (the
    /// caller expands them, once, however they nest); a member group without one is expanded
    /// here. More than `limit` members are not looked up: the caller refuses that many anyway.
    pub async fn group_members(
        &self,
        address: &str,
        limit: usize,
    ) -> Result<Option<Vec<String>>, LdapError> {
        let key = normalize(address);
        if let Some(hit) = lock(&self.groups).get(&key, Instant::now()) {
            return Ok(hit);
        }
        let found = self
            .guarded(async {
                let mut ldap = self.connect().await?;
                let result = self.members(&mut ldap, &key, limit).await;
                self.close(ldap).await;
                result
            })
            .await?;
        lock(&self.groups).put(key, found.clone(), Instant::now());
        Ok(found)
    }

    async fn members(
        &self,
        ldap: &mut Ldap,
        address: &str,
        limit: usize,
    ) -> Result<Option<Vec<String>>, LdapError> {
        let filter = entry::by_address(&self.config.group_filter, address);
        let groups = self
            .search(
                ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &filter,
                &["member"],
                2,
            )
            .await?;
        let Some(group) = first_readable(groups)? else {
            return Ok(None);
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::from([group.dn.to_ascii_lowercase()]);
        let mut queue: Vec<String> = group
            .texts("member")
            .into_iter()
            .map(str::to_string)
            .collect();
        queue.reverse();
        while let Some(dn) = queue.pop() {
            if out.len() > limit {
                break;
            }
            if !seen.insert(dn.to_ascii_lowercase()) {
                continue;
            }
            let found = self
                .search(
                    ldap,
                    &dn,
                    Scope::Base,
                    "(objectClass=*)",
                    &entry::MEMBER_ATTRIBUTES,
                    1,
                )
                .await?;
            match found.into_iter().next() {
                Some(Ok(member)) => match entry::primary_address(&member) {
                    Some(a) => out.push(a),
                    None => {
                        let mut inner: Vec<String> = member
                            .texts("member")
                            .into_iter()
                            .map(str::to_string)
                            .collect();
                        inner.reverse();
                        queue.extend(inner);
                    }
                },
                Some(Err(e)) => tracing::warn!("group {address}: {e}"),
                None => tracing::warn!("group {address}: its member {dn} is not in the directory"),
            }
        }
        Ok(Some(out))
    }

    /// People whose name or address begins with `query`: (address, display name) pairs.
    pub async fn people_starting_with(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, LdapError> {
        let key = format!("{limit}:{}", query.trim().to_lowercase());
        if let Some(hit) = lock(&self.searches).get(&key, Instant::now()) {
            return Ok(hit);
        }
        let found = self
            .guarded(async {
                let mut ldap = self.connect().await?;
                let filter = entry::by_prefix(&self.config.user_filter, query);
                let size = i32::try_from(limit).unwrap_or(i32::MAX);
                let entries = self
                    .search(
                        &mut ldap,
                        &self.config.base_dn,
                        Scope::Subtree,
                        &filter,
                        &entry::PERSON_ATTRIBUTES[..4],
                        size,
                    )
                    .await;
                self.close(ldap).await;
                Ok(entries?
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter_map(|e| entry::person(&e))
                    .map(|p| (p.person.address, p.person.display_name))
                    .collect::<Vec<_>>())
            })
            .await?;
        lock(&self.searches).put(key, found.clone(), Instant::now());
        Ok(found)
    }

    /// Runs one conversation with the directory, unless it was found unreachable a moment ago;
    /// remembers whether it was.
    async fn guarded<T>(
        &self,
        work: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, LdapError> {
        if let Some(e) = self.outage() {
            return Err(e);
        }
        let result = work.await;
        match &result {
            Err(e) if e.is_outage() => {
                tracing::warn!("{e}");
                *lock(&self.outage) = Some((Instant::now(), e.clone()));
            }
            Ok(_) => *lock(&self.outage) = None,
            Err(_) => {}
        }
        result
    }

    /// One step of the conversation, within the deadline.
    async fn step<T>(
        &self,
        work: impl Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, LdapError> {
        match tokio::time::timeout(self.config.timeout(), work).await {
            Err(_) => Err(LdapError::Timeout {
                url: self.config.ldap_url.clone(),
                seconds: self.config.timeout().as_secs(),
            }),
            Ok(Err(ldap3::LdapError::FilterParsing)) => Err(LdapError::Refused(
                "[directory] user_filter or group_filter is not a valid LDAP filter".into(),
            )),
            Ok(Err(e)) => Err(LdapError::Unreachable {
                url: self.config.ldap_url.clone(),
                reason: e.to_string(),
            }),
            Ok(Ok(v)) => Ok(v),
        }
    }

    async fn connect(&self) -> Result<Ldap, LdapError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout())
            .set_starttls(self.config.starttls)
            .set_config(self.tls.clone());
        let (conn, mut ldap) = self
            .step(LdapConnAsync::with_settings(
                settings,
                &self.config.ldap_url,
            ))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!("LDAP connection ended: {e}");
            }
        });
        if let Some(dn) = &self.config.bind_dn {
            let password = self.password.as_deref().unwrap_or_default();
            let result = self.step(ldap.simple_bind(dn, password)).await?;
            match result.rc {
                0 => {}
                INVALID_CREDENTIALS => return Err(LdapError::BindRefused),
                rc => {
                    return Err(LdapError::Refused(format!(
                        "bind as {dn}: {} (code {rc})",
                        result.text
                    )));
                }
            }
        }
        Ok(ldap)
    }

    /// Ends the conversation politely; a directory that does not take the goodbye changes nothing.
    async fn close(&self, mut ldap: Ldap) {
        let _ = self.step(ldap.unbind()).await;
    }

    /// Entries matching `filter`, each read or refused on its own. A base that does not exist
    /// is no entries; more than `size` entries are cut to `size`.
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
        size: i32,
    ) -> Result<Vec<Result<RawEntry, LdapError>>, LdapError> {
        ldap.with_search_options(SearchOptions::new().sizelimit(size))
            .with_timeout(self.config.timeout());
        let ldap3::SearchResult(entries, result) = self
            .step(ldap.search(base, scope, filter, attributes.to_vec()))
            .await?;
        match result.rc {
            0 | SIZE_LIMIT_EXCEEDED => {}
            NO_SUCH_OBJECT => return Ok(Vec::new()),
            rc => {
                return Err(LdapError::Refused(format!(
                    "search in {base}: {} (code {rc})",
                    result.text
                )));
            }
        }
        Ok(entries.into_iter().map(|e| read_entry(e, base)).collect())
    }
}

/// The client library panics on an entry it cannot parse (its documented behaviour); a
/// directory is a peer, so that becomes an error about that entry.
fn read_entry(raw: ldap3::ResultEntry, base: &str) -> Result<RawEntry, LdapError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| SearchEntry::construct(raw)))
        .map(|e| RawEntry {
            dn: e.dn,
            text: e.attrs,
            binary: e.bin_attrs,
        })
        .map_err(|_| LdapError::Malformed(format!("under {base}")))
}

/// The first entry that could be read; an error only when every entry found was malformed.
fn first_readable(
    entries: Vec<Result<RawEntry, LdapError>>,
) -> Result<Option<RawEntry>, LdapError> {
    let mut first_error = None;
    for e in entries {
        match e {
            Ok(entry) => return Ok(Some(entry)),
            Err(e) => {
                tracing::warn!("{e}");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(None), Err)
}
