//! The server's metrics, one registry per server instance, served as Prometheus text by
//! `/metrics`.
//!
//! Labels are coarse on purpose: route templates (never the URL a user asked for), status
//! classes, outcomes and reason words. No address, subject or session ever becomes a label, so
//! the page holds counts and nothing about anyone's mail.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::trust::{CrlEvent, CrlObserver};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request latency buckets in seconds: pages answer in milliseconds, a send can take as long as
/// the SMTP deadlines allow, and `[web] request_timeout_seconds` caps everything at 120 s by
/// default.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The route template (`/message`, `/compose/sealed`), or `unmatched`.
    route: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`.
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

type LatencyFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// How one submission to the SMTP server ended (the three answers `deliver` gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    NotSent,
    Uncertain,
}

impl SendOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::NotSent => "not_sent",
            Self::Uncertain => "uncertain",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    http: LatencyFamily,
    imap_idle: Gauge,
    sends: Family<OutcomeLabels, Counter>,
    refusals: Family<ReasonLabels, Counter>,
    crl_fetches: Family<ResultLabels, Counter>,
    crl_hits: Family<TierLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sealmail");
        let http = LatencyFamily::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method, route template and status class",
            http.clone(),
        );
        let imap_idle = Gauge::default();
        registry.register(
            "imap_pool_idle_connections",
            "Signed-in users' IMAP connections kept open for their next page",
            imap_idle.clone(),
        );
        let sends = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "sends",
            "Messages submitted over SMTP by this instance, by outcome (uncertain: the server took it and never confirmed)",
            sends.clone(),
        );
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "policy_refusals",
            "Sends refused because they break the admin's S/MIME policy, by reason",
            refusals.clone(),
        );
        let crl_fetches = Family::<ResultLabels, Counter>::default();
        registry.register(
            "crl_fetches",
            "CRLs fetched over HTTP (one per URL however many validations wait on it), by result",
            crl_fetches.clone(),
        );
        let crl_hits = Family::<TierLabels, Counter>::default();
        registry.register(
            "crl_cache_hits",
            "CRL cache hits: memory (a validation found every CRL it needed in memory), database (a CRL loaded from the shared table instead of fetched)",
            crl_hits.clone(),
        );
        // Every series a dashboard expects exists from the start, at zero, so a rate over a
        // fresh instance is not "no data".
        for outcome in [
            SendOutcome::Sent,
            SendOutcome::NotSent,
            SendOutcome::Uncertain,
        ] {
            let _ = sends.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for result in ["ok", "failed"] {
            let _ = crl_fetches.get_or_create(&ResultLabels { result });
        }
        for tier in ["memory", "database"] {
            let _ = crl_hits.get_or_create(&TierLabels { tier });
        }
        Self {
            registry,
            http,
            imap_idle,
            sends,
            refusals,
            crl_fetches,
            crl_hits,
        }
    }

    /// One answered request. `route` is a route template, never a URL.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    pub fn send(&self, outcome: SendOutcome) {
        self.sends
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// A send refused by policy; `reason` is a fixed word (see `policy::Violation::label`).
    pub fn policy_refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Counts what the CRL cache reports; handed to every validator this instance builds, so a
    /// `[pki]` reload keeps the counts.
    pub fn crl_observer(self: &std::sync::Arc<Self>) -> CrlObserver {
        let metrics = std::sync::Arc::clone(self);
        std::sync::Arc::new(move |event| metrics.crl(event))
    }

    fn crl(&self, event: CrlEvent) {
        match event {
            CrlEvent::MemoryHit => self.crl_hits.get_or_create(&TierLabels { tier: "memory" }),
            CrlEvent::DatabaseHit => self
                .crl_hits
                .get_or_create(&TierLabels { tier: "database" }),
            CrlEvent::Fetched => self
                .crl_fetches
                .get_or_create(&ResultLabels { result: "ok" }),
            CrlEvent::FetchFailed => self
                .crl_fetches
                .get_or_create(&ResultLabels { result: "failed" }),
        }
        .inc();
    }

    /// The Prometheus text page. Gauges that are a reading of something else (the IMAP pool)
    /// are read now, not kept up to date on every change.
    pub fn render(&self, imap_idle: usize) -> Result<String, std::fmt::Error> {
        self.imap_idle
            .set(i64::try_from(imap_idle).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_series_with_coarse_labels() {
        let metrics = std::sync::Arc::new(Metrics::new());
        metrics.request("POST", "/compose", 303, Duration::from_millis(40));
        metrics.send(SendOutcome::Sent);
        metrics.policy_refusal("not_signed");
        (metrics.crl_observer())(CrlEvent::Fetched);
        let page = metrics.render(3).unwrap();
        for line in [
            "sealmail_sends_total{outcome=\"sent\"} 1",
            "sealmail_sends_total{outcome=\"uncertain\"} 0",
            "sealmail_policy_refusals_total{reason=\"not_signed\"} 1",
            "sealmail_crl_fetches_total{result=\"ok\"} 1",
            "sealmail_crl_cache_hits_total{tier=\"memory\"} 0",
            "sealmail_imap_pool_idle_connections 3",
            "sealmail_http_request_duration_seconds_count{method=\"POST\",route=\"/compose\",status=\"3xx\"} 1",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line} missing from:\n{page}"
            );
        }
    }
}
