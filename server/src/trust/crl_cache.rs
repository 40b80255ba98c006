//! The CRL cache, shared by every user and instance.
//!
//! CRLs live in the database until their nextUpdate (so a second server instance finds what
//! the first fetched), and in memory as one parsed snapshot (so validating against a cached
//! 100,000-entry CRL costs a hash lookup, not a parse). Only a CRL whose signature was verified
//! against its issuer and that is current is ever written: garbage or a forged CRL leaves the
//! cache as it was. Concurrent validations that need the same URL wait on one fetch
//! (single-flight); a failed URL is not retried for [`FAILURE_PAUSE`] on this instance, so a
//! dead CRL server costs one timeout a minute, not one per recipient.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use pki::crl::Crl;
use pki::{Certificate, UnixTime, containers};
use sqlx::Row;

use super::MAX_REMEMBERED;
use super::fetch::{FetchError, Fetcher};
use crate::db::Pool;

/// How long a URL that failed is answered from memory with its failure.
pub const FAILURE_PAUSE: Duration = Duration::from_secs(60);

type Flight = Shared<BoxFuture<'static, Result<(), CrlUnavailable>>>;

/// Why the CRL at a URL could not be had; the words are the reason a person reads beside
/// "revocation unknown".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlUnavailable {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{url} did not send a CRL")]
    NotACrl { url: String },
    #[error("the CRL from {url} cannot be read ({error})")]
    Unreadable { url: String, error: pki::ParseError },
    #[error("the CRL from {url} is out of date")]
    OutOfDate { url: String },
    #[error("the CRL from {url} is not signed by the certificate's issuer")]
    WrongIssuer { url: String },
    #[error("no cached CRL from {url}, and fetching is off")]
    NotCached { url: String },
    #[error("stopped fetching {url} after {seconds} s")]
    TooSlow { url: String, seconds: u64 },
    #[error("the CRL fetch failed: {0}")]
    Task(String),
}

/// What the cache did for a validation, for the operator's counters (`crate::metrics`); the
/// cache itself keeps no statistics across a `[pki]` reload, the observer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlEvent {
    /// A validation found every CRL it needed already in memory.
    MemoryHit,
    /// A CRL was loaded from the shared database instead of fetched.
    DatabaseHit,
    /// A CRL was fetched over HTTP and kept.
    Fetched,
    /// An HTTP fetch failed, or what it brought was not a current CRL of the issuer.
    FetchFailed,
}

pub type CrlObserver = Arc<dyn Fn(CrlEvent) + Send + Sync>;

#[derive(Default)]
struct State {
    /// Every current, verified CRL this instance holds; `urls[i]` is where `crls[i]` came from.
    crls: Arc<Vec<Crl>>,
    urls: Vec<String>,
    inflight: HashMap<String, Flight>,
    failed: HashMap<String, (Instant, CrlUnavailable)>,
}

impl State {
    /// Replaces the snapshot with one holding `crl` for `url` (and dropping CRLs gone stale).
    /// Copy-on-write: validations in progress keep the snapshot they started with.
    fn insert(&mut self, url: &str, crl: Crl, now: UnixTime) {
        let mut crls = Vec::with_capacity(self.crls.len() + 1);
        let mut urls = Vec::with_capacity(self.crls.len() + 1);
        for (u, c) in self.urls.iter().zip(self.crls.iter()) {
            if u != url && c.is_current(now) {
                urls.push(u.clone());
                crls.push(c.clone());
            }
        }
        urls.push(url.to_string());
        crls.push(crl);
        self.crls = Arc::new(crls);
        self.urls = urls;
    }
}

struct Inner {
    db: Pool,
    fetcher: Fetcher,
    state: Mutex<State>,
    /// HTTP requests actually made (for tests and metrics).
    fetches: std::sync::atomic::AtomicUsize,
}

/// The CRL cache; cheap to clone.
#[derive(Clone)]
pub struct CrlCache {
    inner: Arc<Inner>,
    observer: Option<CrlObserver>,
}

impl CrlCache {
    pub fn new(db: Pool, fetcher: Fetcher) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                fetcher,
                state: Mutex::new(State::default()),
                fetches: Default::default(),
            }),
            observer: None,
        }
    }

    /// Reports what the cache does to `observer` (the server's metrics).
    pub fn observed_by(mut self, observer: CrlObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(super) fn note(&self, event: CrlEvent) {
        if let Some(observe) = &self.observer {
            observe(event);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent in a harmful way
        // (every update is a whole-value replacement), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CRLs to validate with.
    pub fn snapshot(&self) -> Arc<Vec<Crl>> {
        self.state().crls.clone()
    }

    /// HTTP fetches made by this cache so far.
    pub fn fetch_count(&self) -> usize {
        self.inner
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the CRL at `url` part of the snapshot, from the database or over HTTP. `issuers`
    /// are the certificates that may have signed it; the answer is the reason when it cannot.
    pub async fn obtain(
        &self,
        url: &str,
        issuers: Vec<Certificate>,
        now: UnixTime,
    ) -> Result<(), CrlUnavailable> {
        let flight = {
            let mut st = self.state();
            if st
                .urls
                .iter()
                .zip(st.crls.iter())
                .any(|(u, c)| u == url && c.is_current(now))
            {
                return Ok(());
            }
            if let Some((at, why)) = st.failed.get(url)
                && at.elapsed() < FAILURE_PAUSE
            {
                return Err(why.clone());
            }
            match st.inflight.get(url) {
                Some(f) => f.clone(),
                None => {
                    // Spawned, so the fetch finishes and is cached even if the caller that
                    // started it gives up (its own overall deadline) first.
                    let task = tokio::spawn(fly(self.clone(), url.to_string(), issuers, now));
                    let flight = async move {
                        task.await
                            .unwrap_or_else(|e| Err(CrlUnavailable::Task(e.to_string())))
                    }
                    .boxed()
                    .shared();
                    st.inflight.insert(url.to_string(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    /// [`CrlCache::obtain`] without HTTP: memory, then the shared database.
    pub async fn obtain_cached(
        &self,
        url: &str,
        issuers: &[Certificate],
        now: UnixTime,
    ) -> Result<(), CrlUnavailable> {
        if self.holds(url, now) {
            return Ok(());
        }
        let der = self
            .read_db(url, now)
            .await
            .ok_or_else(|| CrlUnavailable::NotCached {
                url: url.to_string(),
            })?;
        let crl = accept(url, &der, issuers, now)?;
        self.note(CrlEvent::DatabaseHit);
        let mut st = self.state();
        st.insert(url, crl, now);
        Ok(())
    }

    fn holds(&self, url: &str, now: UnixTime) -> bool {
        let st = self.state();
        st.urls
            .iter()
            .zip(st.crls.iter())
            .any(|(u, c)| u == url && c.is_current(now))
    }

    fn finish(&self, url: &str, result: &Result<Crl, CrlUnavailable>, now: UnixTime) {
        let mut st = self.state();
        st.inflight.remove(url);
        match result {
            Ok(crl) => {
                st.failed.remove(url);
                st.insert(url, crl.clone(), now);
            }
            Err(why) => {
                // URLs come from certificates anyone can send: keep the map bounded.
                if st.failed.len() >= MAX_REMEMBERED {
                    st.failed.retain(|_, (at, _)| at.elapsed() < FAILURE_PAUSE);
                }
                st.failed
                    .insert(url.to_string(), (Instant::now(), why.clone()));
            }
        }
    }

    async fn read_db(&self, url: &str, now: UnixTime) -> Option<Vec<u8>> {
        let row = sqlx::query("SELECT der FROM crl_cache WHERE url = $1 AND next_update >= $2")
            .bind(url)
            .bind(now)
            .fetch_optional(&self.inner.db)
            .await;
        match row {
            Ok(row) => row.and_then(|r| r.try_get::<Vec<u8>, _>("der").ok()),
            Err(e) => {
                tracing::warn!("reading the CRL cache failed: {e}");
                None
            }
        }
    }

    async fn write_db(&self, url: &str, crl: &Crl) {
        let next = crl.next_update.unwrap_or(i64::MAX);
        let result = sqlx::query(
            "INSERT INTO crl_cache (url, der, next_update, fetched_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO UPDATE SET der = $2, next_update = $3, fetched_at = $4",
        )
        .bind(url)
        .bind(crl.der())
        .bind(next)
        .bind(crate::db::now())
        .execute(&self.inner.db)
        .await;
        if let Err(e) = result {
            tracing::warn!("writing the CRL cache failed: {e}");
        }
    }
}

/// One fetch for `url`: database first, then HTTP; verified before anything is kept.
async fn fly(
    cache: CrlCache,
    url: String,
    issuers: Vec<Certificate>,
    now: UnixTime,
) -> Result<(), CrlUnavailable> {
    let result = async {
        if let Some(der) = cache.read_db(&url, now).await
            && let Ok(crl) = accept(&url, &der, &issuers, now)
        {
            cache.note(CrlEvent::DatabaseHit);
            return Ok(crl);
        }
        cache
            .inner
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = async {
            let body = cache.inner.fetcher.get(&url).await?;
            let der = if containers::is_pem(&body) {
                containers::pem_blocks(&body, "X509 CRL")
                    .into_iter()
                    .next()
                    .ok_or_else(|| CrlUnavailable::NotACrl { url: url.clone() })?
            } else {
                body
            };
            accept(&url, &der, &issuers, now)
        }
        .await;
        cache.note(match fetched {
            Ok(_) => CrlEvent::Fetched,
            Err(_) => CrlEvent::FetchFailed,
        });
        let crl = fetched?;
        cache.write_db(&url, &crl).await;
        Ok(crl)
    }
    .await;
    cache.finish(&url, &result, now);
    result.map(|_| ())
}

/// Parses a CRL and checks what must hold before it may be cached: current, and signed by one
/// of `issuers`. (Indirect CRLs signed by a separate CRL issuer are not accepted here.)
fn accept(
    url: &str,
    der: &[u8],
    issuers: &[Certificate],
    now: UnixTime,
) -> Result<Crl, CrlUnavailable> {
    let url = || url.to_string();
    let crl =
        Crl::from_der(der).map_err(|error| CrlUnavailable::Unreadable { url: url(), error })?;
    if !crl.is_current(now) {
        return Err(CrlUnavailable::OutOfDate { url: url() });
    }
    if !issuers.iter().any(|c| c.signed_crl(&crl)) {
        return Err(CrlUnavailable::WrongIssuer { url: url() });
    }
    Ok(crl)
}
