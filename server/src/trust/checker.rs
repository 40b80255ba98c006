//! The server's validator: the pure one fed with trust anchors, intermediates from messages,
//! the directory and AIA, and CRLs from the cache; and the words a person sees for its verdict.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pki::{Certificate, Inputs, Reason, Revocation, Status, UnixTime, Usage, Verdict, containers};

use super::MAX_REMEMBERED;
use super::crl_cache::{CrlCache, CrlEvent, CrlObserver, CrlUnavailable};
use super::fetch::Fetcher;
use super::files::{SetupError, Trust};
use super::ocsp::OcspClient;
use crate::config::{PkiConfig, RevocationMethod};
use crate::db::Pool;
use crate::directory::Directory;

/// Most validation rounds (each may fetch CRLs or issuers) before the verdict stands.
const MAX_ROUNDS: usize = 8;

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

/// The server's validator: trust anchors, untrusted list, CRL cache, AIA.
pub struct Checker {
    /// Trust anchors and the untrusted list; replaced whole by [`Checker::reload`].
    trust: std::sync::RwLock<Arc<Trust>>,
    pub crls: CrlCache,
    pub settings: PkiConfig,
    /// The directory's imported CA certificates join every chain search.
    directory: Directory,
    aia: Fetcher,
    aia_cache: Mutex<HashMap<String, Vec<Certificate>>>,
    ocsp: OcspClient,
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
        self.crls = self.crls.observed_by(observer);
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
            ocsp: OcspClient::new(
                Fetcher::new(per_url).allowing_private(settings.fetch_from_private_addresses),
            ),
            settings,
            directory: Directory::new(db),
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
        let certs: Vec<Certificate> = containers::certificates_in(&body)
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
    /// message. Revocation is checked as `[pki] revocation` says.
    pub async fn check(
        &self,
        cert: &Certificate,
        carried: &[Certificate],
        usage: Usage,
        email: Option<&str>,
        now: UnixTime,
    ) -> Checked {
        let method = self.settings.revocation;
        if self.settings.disable_crl_check || method == RevocationMethod::Crl {
            let check_revocation = !self.settings.disable_crl_check;
            return self
                .validate(cert, carried, usage, email, now, check_revocation)
                .await;
        }
        let chain = self.validate(cert, carried, usage, email, now, false).await;
        if !chain.is_valid() {
            return chain;
        }
        let by_ocsp = self.ask_ocsp(chain, now).await;
        if method == RevocationMethod::OcspThenCrl && by_ocsp.verdict.valid_but_revocation_unknown()
        {
            // Where OCSP gave no answer, the CRLs decide; what OCSP met is said only if they
            // cannot either.
            let mut by_crl = self.validate(cert, carried, usage, email, now, true).await;
            if !by_crl.is_valid() {
                let mut problems = by_ocsp.problems;
                problems.append(&mut by_crl.problems);
                by_crl.problems = problems;
            }
            return by_crl;
        }
        by_ocsp
    }

    /// The revocation status of every certificate of `chain`'s (valid) path but the anchor,
    /// from OCSP: revoked as soon as one is, unknown when one has no answer to believe.
    async fn ask_ocsp(&self, chain: Checked, now: UnixTime) -> Checked {
        let overall = Duration::from_secs(self.settings.cert_url_retrieval_timeout_seconds);
        let deadline = Instant::now() + overall;
        let fetching = !overall.is_zero();
        let Checked {
            verdict,
            mut problems,
        } = chain;
        let mut undecided = false;
        for pair in verdict.path.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let asked = self.ocsp.status(cert, issuer, now, fetching);
            let answer = if fetching {
                tokio::time::timeout(remaining, asked)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("stopped fetching after {} s", overall.as_secs()))
                    })
            } else {
                asked.await
            };
            match answer {
                Ok(pki::ocsp::CertStatus::Good) => {}
                Ok(pki::ocsp::CertStatus::Revoked { reason }) => {
                    return Checked {
                        verdict: Verdict {
                            status: Status::Invalid(Reason::Revoked),
                            revocation: Revocation::Checked,
                            detail: format!(
                                "{}: revoked according to its OCSP responder (reason code {})",
                                cert.subject(),
                                reason.map_or("none".into(), |r| r.to_string())
                            ),
                            path: verdict.path.clone(),
                        },
                        problems,
                    };
                }
                Ok(pki::ocsp::CertStatus::Unknown) => {
                    undecided = true;
                    problems.push(format!(
                        "the OCSP responder does not know the certificate of {}",
                        cert.subject()
                    ));
                }
                Err(why) => {
                    undecided = true;
                    problems.push(why);
                }
            }
        }
        let verdict = if undecided {
            Verdict {
                status: Status::Invalid(Reason::RevocationUnknown),
                revocation: Revocation::Unknown {
                    missing: Vec::new(),
                },
                detail: "no OCSP answer to believe".into(),
                ..verdict
            }
        } else {
            Verdict {
                status: Status::Valid,
                revocation: Revocation::Checked,
                ..verdict
            }
        };
        Checked { verdict, problems }
    }

    /// Validates with CRLs (`check_revocation`) or without, fetching issuers and CRLs that are
    /// missing within CertURLRetrievalTimeout.
    async fn validate(
        &self,
        cert: &Certificate,
        carried: &[Certificate],
        usage: Usage,
        email: Option<&str>,
        now: UnixTime,
        check_revocation: bool,
    ) -> Checked {
        let overall = Duration::from_secs(self.settings.cert_url_retrieval_timeout_seconds);
        let deadline = Instant::now() + overall;
        let trust = self.trust();
        let mut intermediates = carried.to_vec();
        intermediates.extend(self.directory.intermediates().await);
        let mut tried: HashSet<String> = HashSet::new();
        let mut problems = Vec::new();
        let mut round = 0;
        loop {
            round += 1;
            let crls = self.crls.snapshot();
            let verdict = pki::validate_certificate(
                cert,
                &Inputs {
                    trust_anchors: &trust.anchors,
                    intermediates: &intermediates,
                    crls: &crls,
                    time: now,
                    usage,
                    email,
                    untrusted: &trust.untrusted,
                    check_revocation,
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
                                Err(_) => Err(CrlUnavailable::TooSlow {
                                    url: url.clone(),
                                    seconds: overall.as_secs(),
                                }),
                            }
                        }
                    });
                    let mut got = false;
                    for r in futures::future::join_all(fetches).await {
                        match r {
                            Ok(()) => got = true,
                            Err(why) => problems.push(why.to_string()),
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
