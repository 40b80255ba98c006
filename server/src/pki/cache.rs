//! Live validation: the pure validator fed with trust anchors from a folder, intermediates from
//! messages, the directory and AIA, and CRLs from a cache shared by every user and instance.
//!
//! CRLs live in the database until their nextUpdate (so a second server instance finds what
//! the first fetched), and in memory as one parsed snapshot (so validating against a cached
//! 100,000-entry CRL costs a hash lookup, not a parse). Only a CRL whose signature was verified
//! against its issuer and that is current is ever written: garbage or a forged CRL leaves the
//! cache as it was. Concurrent validations that need the same URL wait on one fetch
//! (single-flight); a failed URL is not retried for [`FAILURE_PAUSE`] on this instance, so a
//! dead CRL server costs one timeout a minute, not one per recipient.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use sqlx::Row;

use super::crl::Crl;
use super::fetch::{self, Fetcher};
use super::{Certificate, Inputs, Reason, Revocation, Status, UnixTime, Usage, Verdict};
use crate::config::PkiConfig;
use crate::db::Pool;

/// How long a URL that failed is answered from memory with its failure.
pub const FAILURE_PAUSE: Duration = Duration::from_secs(60);

/// Most failed CRL URLs and fetched AIA URLs remembered in memory.
const MAX_REMEMBERED: usize = 10_000;

/// Most validation rounds (each may fetch CRLs or issuers) before the verdict stands.
const MAX_ROUNDS: usize = 8;

type Flight = Shared<BoxFuture<'static, Result<(), String>>>;

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
    failed: HashMap<String, (Instant, String)>,
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

    fn note(&self, event: CrlEvent) {
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
    ) -> Result<(), String> {
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
                            .unwrap_or_else(|e| Err(format!("the CRL fetch failed: {e}")))
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
    ) -> Result<(), String> {
        if self.holds(url, now) {
            return Ok(());
        }
        let der = self
            .read_db(url, now)
            .await
            .ok_or_else(|| format!("no cached CRL from {url}, and fetching is off"))?;
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

    fn finish(&self, url: &str, result: &Result<Crl, String>, now: UnixTime) {
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
) -> Result<(), String> {
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
            let body = cache
                .inner
                .fetcher
                .get(&url)
                .await
                .map_err(|e| e.to_string())?;
            let der = if fetch::is_pem(&body) {
                fetch::pem_blocks(&body, "X509 CRL")
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("{url} did not send a CRL"))?
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
fn accept(url: &str, der: &[u8], issuers: &[Certificate], now: UnixTime) -> Result<Crl, String> {
    let crl = Crl::from_der(der).map_err(|e| format!("the CRL from {url} cannot be read ({e})"))?;
    if !crl.is_current(now) {
        return Err(format!("the CRL from {url} is out of date"));
    }
    if !issuers.iter().any(|c| c.signed_crl(&crl)) {
        return Err(format!(
            "the CRL from {url} is not signed by the certificate's issuer"
        ));
    }
    Ok(crl)
}

/// Why the live validator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("pki.trust_anchors: cannot read {path}: {source}")]
    Anchors {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("pki.untrusted_list: cannot read {path}: {source}")]
    Untrusted {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("pki.untrusted_list: line {line} is not a SHA-256 fingerprint")]
    UntrustedLine { line: usize },
}

/// Every certificate in a file, or in every file of a folder (unreadable files are skipped
/// with a warning: one stray README must not take the trust store down).
pub fn load_certificates(path: &Path) -> std::io::Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for file in files_of(path)? {
        let bytes = std::fs::read(&file)?;
        match fetch::certificates_in(&bytes) {
            Ok(list) => {
                for der in list {
                    match Certificate::from_der(&der) {
                        Ok(c) => out.push(c),
                        Err(e) => tracing::warn!("{}: skipped a certificate: {e}", file.display()),
                    }
                }
            }
            Err(e) => tracing::warn!("{}: no certificate read: {e}", file.display()),
        }
    }
    Ok(out)
}

/// Every CRL in a file or folder (PEM or DER).
pub fn load_crls(path: &Path) -> std::io::Result<Vec<Crl>> {
    let mut out = Vec::new();
    for file in files_of(path)? {
        let bytes = std::fs::read(&file)?;
        let ders = if fetch::is_pem(&bytes) {
            fetch::pem_blocks(&bytes, "X509 CRL")
        } else {
            vec![bytes]
        };
        for der in ders {
            match Crl::from_der(&der) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!("{}: skipped a CRL: {e}", file.display()),
            }
        }
    }
    Ok(out)
}

fn files_of(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_owned()])
    }
}

/// Reads an untrusted list: SHA-256 fingerprints in hex (colons and spaces allowed), `#`
/// starting a comment.
pub fn parse_untrusted(text: &str) -> Result<Vec<[u8; 32]>, SetupError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let hex: String = line
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if hex.is_empty() {
            continue;
        }
        let bad = || SetupError::UntrustedLine { line: i + 1 };
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut fp = [0u8; 32];
        for (k, byte) in fp.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).map_err(|_| bad())?;
        }
        out.push(fp);
    }
    Ok(out)
}

/// A verdict with what went wrong while fetching, for the words shown to people.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    /// Fetch failures met on the way ("no complete answer from http://… within 5 s").
    pub problems: Vec<String>,
}

impl Checked {
    pub fn is_valid(&self) -> bool {
        self.verdict.is_valid()
    }

    /// Usable for sending: valid, or (when CheckCRL is off) valid but for a revocation status
    /// that could not be checked.
    pub fn usable(&self, check_crl: bool) -> bool {
        self.verdict.is_valid() || (!check_crl && self.verdict.valid_but_revocation_unknown())
    }

    /// The sentence for a person: the reason, plus the fetch problems that caused it.
    pub fn reason(&self) -> String {
        match &self.verdict.status {
            Status::Valid => "The certificate is valid.".into(),
            Status::Invalid(r) => {
                let mut s = r.to_string();
                if matches!(r, Reason::RevocationUnknown | Reason::UntrustedIssuer)
                    && !self.problems.is_empty()
                {
                    s.push_str(&format!(" ({})", self.problems.join("; ")));
                } else if let (Reason::RevocationUnknown, Revocation::Unknown { missing }) =
                    (r, &self.verdict.revocation)
                {
                    let names: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
                    s.push_str(&format!(" (missing: {})", names.join(", ")));
                }
                s
            }
        }
    }
}

/// What is trusted and distrusted.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub anchors: Vec<Certificate>,
    pub untrusted: Vec<[u8; 32]>,
}

impl Trust {
    pub fn load(settings: &PkiConfig) -> Result<Self, SetupError> {
        let anchors = match &settings.trust_anchors {
            Some(path) => load_certificates(path).map_err(|source| SetupError::Anchors {
                path: path.clone(),
                source,
            })?,
            None => Vec::new(),
        };
        let untrusted = match &settings.untrusted_list {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SetupError::Untrusted {
                        path: path.clone(),
                        source,
                    })?;
                parse_untrusted(&text)?
            }
            None => Vec::new(),
        };
        Ok(Self { anchors, untrusted })
    }
}

/// The server's validator: trust anchors, untrusted list, CRL cache, AIA.
pub struct Checker {
    /// Trust anchors and the untrusted list; replaced whole by [`Checker::reload`].
    trust: std::sync::RwLock<Arc<Trust>>,
    pub crls: CrlCache,
    pub settings: PkiConfig,
    db: Pool,
    aia: Fetcher,
    aia_cache: Mutex<HashMap<String, Vec<Certificate>>>,
}

impl Checker {
    pub fn from_config(settings: &PkiConfig, db: Pool) -> Result<Self, SetupError> {
        let trust = Trust::load(settings)?;
        Ok(Self::new(
            settings.clone(),
            db,
            trust.anchors,
            trust.untrusted,
        ))
    }

    /// Re-reads the trust anchor folder and the untrusted list, so an administrator's change
    /// takes effect without a restart. On error the previous set stays in force.
    pub fn reload(&self) -> Result<(), SetupError> {
        let trust = Trust::load(&self.settings)?;
        *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(trust);
        Ok(())
    }

    /// Reports what the CRL cache does to `observer` (the server's metrics).
    pub fn observed_by(mut self, observer: CrlObserver) -> Self {
        self.crls.observer = Some(observer);
        self
    }

    /// The trust anchors and untrusted list in force now.
    pub fn trust(&self) -> Arc<Trust> {
        self.trust.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn new(
        settings: PkiConfig,
        db: Pool,
        anchors: Vec<Certificate>,
        untrusted: Vec<[u8; 32]>,
    ) -> Self {
        let per_url = Duration::from_secs(settings.revocation_url_retrieval_timeout_seconds);
        Self {
            trust: std::sync::RwLock::new(Arc::new(Trust { anchors, untrusted })),
            crls: CrlCache::new(
                db.clone(),
                Fetcher::new(per_url).allowing_private(settings.fetch_from_private_addresses),
            ),
            aia: Fetcher::new(per_url).allowing_private(settings.fetch_from_private_addresses),
            aia_cache: Mutex::new(HashMap::new()),
            settings,
            db,
        }
    }

    /// CA certificates from directory imports, offered to the chain builder.
    async fn directory_intermediates(&self) -> Vec<Certificate> {
        match sqlx::query("SELECT der FROM directory_intermediates")
            .fetch_all(&self.db)
            .await
        {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| r.try_get::<Vec<u8>, _>("der").ok())
                .filter_map(|d| Certificate::from_der(&d).ok())
                .collect(),
            Err(e) => {
                tracing::warn!("reading directory intermediates failed: {e}");
                Vec::new()
            }
        }
    }

    async fn issuers_from(&self, url: &str) -> Result<Vec<Certificate>, String> {
        if let Some(hit) = self
            .aia_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(url)
        {
            return Ok(hit.clone());
        }
        let body = self.aia.get(url).await.map_err(|e| e.to_string())?;
        let certs: Vec<Certificate> = fetch::certificates_in(&body)
            .map_err(|e| format!("{url} did not send a certificate ({e})"))?
            .iter()
            .filter_map(|d| Certificate::from_der(d).ok())
            .collect();
        let mut cache = self.aia_cache.lock().unwrap_or_else(|p| p.into_inner());
        // URLs come from certificates anyone can send: keep the map bounded.
        if cache.len() >= MAX_REMEMBERED {
            cache.clear();
        }
        cache.insert(url.to_string(), certs.clone());
        Ok(certs)
    }

    /// Validates `cert` for `usage` (and `email` when given) at `now`, fetching what is
    /// missing within CertURLRetrievalTimeout. `carried` are certificates that came with the
    /// message.
    pub async fn check(
        &self,
        cert: &Certificate,
        carried: &[Certificate],
        usage: Usage,
        email: Option<&str>,
        now: UnixTime,
    ) -> Checked {
        let overall = Duration::from_secs(self.settings.cert_url_retrieval_timeout_seconds);
        let deadline = Instant::now() + overall;
        let trust = self.trust();
        let mut intermediates = carried.to_vec();
        intermediates.extend(self.directory_intermediates().await);
        let mut tried: HashSet<String> = HashSet::new();
        let mut problems = Vec::new();
        let mut round = 0;
        loop {
            round += 1;
            let crls = self.crls.snapshot();
            let verdict = super::validate_certificate(
                cert,
                &Inputs {
                    trust_anchors: &trust.anchors,
                    intermediates: &intermediates,
                    crls: &crls,
                    time: now,
                    usage,
                    email,
                    untrusted: &trust.untrusted,
                    check_revocation: !self.settings.disable_crl_check,
                },
            );
            if round == 1 && matches!(verdict.revocation, Revocation::Checked) {
                self.crls.note(CrlEvent::MemoryHit);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let done = |problems| Checked {
                verdict: verdict.clone(),
                problems,
            };
            // CertURLRetrievalTimeout 0: nothing is fetched, but the shared cache is used.
            let fetching = !overall.is_zero();
            if round > MAX_ROUNDS {
                return done(problems);
            }
            if fetching && remaining.is_zero() {
                problems.push(format!("stopped fetching after {} s", overall.as_secs()));
                return done(problems);
            }
            let progressed = match (&verdict.status, &verdict.revocation) {
                (Status::Invalid(Reason::UntrustedIssuer), _) if fetching => {
                    let last = verdict.path.last().unwrap_or(cert);
                    let mut urls = last.ca_issuer_urls();
                    urls.extend(cert.ca_issuer_urls());
                    urls.retain(|u| tried.insert(u.clone()));
                    let mut got = false;
                    for url in urls {
                        match tokio::time::timeout(remaining, self.issuers_from(&url)).await {
                            Ok(Ok(certs)) if !certs.is_empty() => {
                                intermediates.extend(certs);
                                got = true;
                            }
                            Ok(Ok(_)) => problems.push(format!("{url} held no certificate")),
                            Ok(Err(why)) => problems.push(why),
                            Err(_) => problems
                                .push(format!("stopped fetching after {} s", overall.as_secs())),
                        }
                    }
                    got
                }
                (_, Revocation::Unknown { missing }) => {
                    let urls: Vec<String> = missing
                        .iter()
                        .flat_map(|m| m.urls.iter())
                        .filter(|u| tried.insert((*u).clone()))
                        .cloned()
                        .collect();
                    let mut issuers = verdict.path.clone();
                    issuers.extend(intermediates.iter().cloned());
                    issuers.extend(trust.anchors.iter().cloned());
                    let fetches = urls.iter().map(|url| {
                        let issuers = issuers.clone();
                        async move {
                            if !fetching {
                                return self.crls.obtain_cached(url, &issuers, now).await;
                            }
                            match tokio::time::timeout(
                                remaining,
                                self.crls.obtain(url, issuers, now),
                            )
                            .await
                            {
                                Ok(r) => r,
                                Err(_) => Err(format!(
                                    "stopped fetching {url} after {} s",
                                    overall.as_secs()
                                )),
                            }
                        }
                    });
                    let mut got = false;
                    for r in futures::future::join_all(fetches).await {
                        match r {
                            Ok(()) => got = true,
                            Err(why) => problems.push(why),
                        }
                    }
                    got
                }
                _ => false,
            };
            if !progressed {
                return done(problems);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_list_accepts_colons_and_comments_and_names_bad_lines() {
        let fp = "AB:".repeat(31) + "AB";
        let text = format!("# distrusted\n{fp}  # old CA\n\n");
        assert_eq!(parse_untrusted(&text).unwrap(), vec![[0xab; 32]]);
        let err = parse_untrusted("# x\nnot-hex\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
