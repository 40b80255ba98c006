//! Asking a certificate's OCSP responder (`[pki] revocation = "ocsp"` or `"ocsp-then-crl"`):
//! the request and the checking of the answer are `pki::ocsp`'s; here they are posted, with the
//! CRL fetcher's deadline and address rules, and believed answers are remembered until their
//! nextUpdate, for every user of this instance.

use std::collections::HashMap;
use std::sync::Mutex;

use pki::ocsp::{self, CertStatus};
use pki::{Certificate, UnixTime};

use super::MAX_REMEMBERED;
use super::fetch::Fetcher;

const REQUEST_TYPE: &str = "application/ocsp-request";

/// Answers believed so far, by request (which names certificate and issuer).
pub struct OcspClient {
    fetcher: Fetcher,
    answers: Mutex<HashMap<Vec<u8>, ocsp::Answer>>,
}

impl OcspClient {
    pub fn new(fetcher: Fetcher) -> Self {
        Self {
            fetcher,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// What `cert`'s responder says of it at `now`, from memory while the last answer is
    /// current (and only from memory when `fetching` is off). `Err` says, in words, why there is
    /// no answer to believe.
    pub async fn status(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        now: UnixTime,
        fetching: bool,
    ) -> Result<CertStatus, String> {
        let request = ocsp::request(cert, issuer);
        if let Some(answer) = self.remembered(&request, now) {
            return Ok(answer.status);
        }
        if !fetching {
            return Err(format!(
                "no OCSP answer for {} is at hand, and fetching is off",
                cert.subject()
            ));
        }
        let urls = cert.ocsp_urls();
        if urls.is_empty() {
            return Err(format!(
                "the certificate of {} names no OCSP responder",
                cert.subject()
            ));
        }
        let mut problems = Vec::new();
        for url in urls {
            let body = match self.fetcher.post(&url, REQUEST_TYPE, &request).await {
                Ok(body) => body,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            match ocsp::check(&body, cert, issuer, now) {
                Ok(answer) => {
                    self.remember(request, answer);
                    return Ok(answer.status);
                }
                Err(e) => problems.push(format!("{e} (from {url})")),
            }
        }
        Err(problems.join("; "))
    }

    fn remembered(&self, request: &[u8], now: UnixTime) -> Option<ocsp::Answer> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(request)
            .filter(|a| now <= a.valid_until)
            .copied()
    }

    fn remember(&self, request: Vec<u8>, answer: ocsp::Answer) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        // Certificates anyone can send decide what is asked: keep the map bounded.
        if answers.len() >= MAX_REMEMBERED {
            answers.clear();
        }
        answers.insert(request, answer);
    }
}
