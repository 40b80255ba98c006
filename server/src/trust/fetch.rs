//! Fetching CRLs and issuer certificates (AIA caIssuers) over HTTP, and posting OCSP requests.
//! Reading what comes back (DER, PEM, PKCS#7 certs-only, OCSP answers) is `pki`'s.
//!
//! hyper's HTTP/1 client is used directly rather than reqwest: hyper is already in the tree
//! through axum, CRL and AIA URLs are plain `http://` (RFC 5280 §4.2.1.13 and RFC 8550 expect it,
//! so fetching does not depend on the certificates being checked), and every limit that matters
//! here — the per-URL deadline, the body cap, the redirect count — has to be enforced by us
//! anyway. Nothing here trusts the peer: a server that drips one byte a second meets the
//! deadline, one that sends gigabytes meets the cap.

use std::time::Duration;

use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Largest CRL or certificate bundle accepted (a 100,000-entry CRL is ≈ 4 MB).
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// Why a URL could not be fetched; `Display` is shown to people after "revocation unknown".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an http:// address this server fetches")]
    Unsupported(String),
    #[error("no complete answer from {url} within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("cannot connect to {url}: {why}")]
    Connect { url: String, why: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} redirects more than {MAX_REDIRECTS} times")]
    Redirects { url: String },
    #[error("HTTP error from {url}: {why}")]
    Http { url: String, why: String },
    #[error("{url} points to a private or local network address, which this server does not fetch")]
    PrivateAddress { url: String },
}

/// An HTTP GET with a deadline, a body cap and a redirect limit.
#[derive(Debug, Clone)]
pub struct Fetcher {
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Whether URLs may lead to loopback, private, link-local and similar addresses. CRL and
    /// AIA URLs come from certificates anyone can mail us, so by default they may not: otherwise
    /// a certificate could make the server probe its own network (SSRF).
    pub allow_private: bool,
}

/// Aborts the connection task when the request is dropped (deadline passed), so a slow peer
/// cannot keep a socket open behind our back.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Fetcher {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            max_bytes: MAX_BODY_BYTES,
            allow_private: false,
        }
    }

    /// Allows URLs that lead to private or local addresses (a CA on the internal network).
    pub fn allowing_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// The body of `url`, following at most [`MAX_REDIRECTS`] redirects, all within the
    /// deadline.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.within_deadline(url, None).await
    }

    /// The answer to POSTing `body` (of `content_type`) to `url`: an OCSP request (RFC 6960
    /// Appendix A.1). Same deadline, cap, redirect limit and address rules as [`Fetcher::get`].
    pub async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        body: &[u8],
    ) -> Result<Vec<u8>, FetchError> {
        self.within_deadline(url, Some((content_type, Bytes::copy_from_slice(body))))
            .await
    }

    async fn within_deadline(
        &self,
        url: &str,
        post: Option<(&'static str, Bytes)>,
    ) -> Result<Vec<u8>, FetchError> {
        let seconds = self.timeout.as_secs();
        match tokio::time::timeout(self.timeout, self.following(url, post)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                seconds,
            }),
        }
    }

    async fn following(
        &self,
        url: &str,
        post: Option<(&'static str, Bytes)>,
    ) -> Result<Vec<u8>, FetchError> {
        let mut current = parse_http_url(url)?;
        for _ in 0..=MAX_REDIRECTS {
            match self.once(&current, post.clone()).await? {
                Answer::Body(body) => return Ok(body),
                Answer::Redirect(location) => current = resolve(&current, &location)?,
            }
        }
        Err(FetchError::Redirects {
            url: url.to_string(),
        })
    }

    async fn once(
        &self,
        uri: &Uri,
        post: Option<(&'static str, Bytes)>,
    ) -> Result<Answer, FetchError> {
        let url = uri.to_string();
        let host = uri
            .host()
            .ok_or_else(|| FetchError::Unsupported(url.clone()))?;
        // IPv6 literals come bracketed in URIs; the resolver wants them bare.
        let host_bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let connect_err = |why: String| FetchError::Connect {
            url: url.clone(),
            why,
        };
        // Resolve once, check, and connect to the address that was checked: a second lookup
        // could answer differently (DNS rebinding).
        let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host_bare, port))
            .await
            .map_err(|e| connect_err(e.to_string()))?
            .collect();
        let allowed: Vec<std::net::SocketAddr> = addresses
            .iter()
            .copied()
            .filter(|a| self.allow_private || is_public(a.ip()))
            .collect();
        if allowed.is_empty() && !addresses.is_empty() {
            return Err(FetchError::PrivateAddress { url });
        }
        let stream = tokio::net::TcpStream::connect(allowed.as_slice())
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let http_err = |why: String| FetchError::Http {
            url: url.clone(),
            why,
        };
        let request = match &post {
            None => Request::get(path),
            Some((content_type, _)) => {
                Request::post(path).header(header::CONTENT_TYPE, *content_type)
            }
        }
        .header(header::HOST, authority)
        .header(header::USER_AGENT, "Sealmail certificate fetcher")
        .header(header::CONNECTION, "close")
        .body(Full::new(post.map(|(_, body)| body).unwrap_or_default()))
        .map_err(|e| http_err(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| http_err(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| http_err("a redirect without a Location".into()))?;
            return Ok(Answer::Redirect(location.to_string()));
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.clone(),
            limit: self.max_bytes,
        };
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes as u64) {
            return Err(too_large());
        }
        let mut body = response.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| http_err(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > self.max_bytes {
                    return Err(too_large());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Answer::Body(out))
    }
}

enum Answer {
    Body(Vec<u8>),
    Redirect(String),
}

fn parse_http_url(url: &str) -> Result<Uri, FetchError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| FetchError::Unsupported(url.to_string()))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(FetchError::Unsupported(url.to_string()));
    }
    Ok(uri)
}

/// A Location header against the URL that sent it: absolute http URLs and absolute paths.
fn resolve(base: &Uri, location: &str) -> Result<Uri, FetchError> {
    if location.starts_with('/') && !location.starts_with("//") {
        let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
        return parse_http_url(&format!("http://{authority}{location}"));
    }
    parse_http_url(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_http_are_refused() {
        assert!(parse_http_url("ldap://dir/cn=ca").is_err());
        assert!(parse_http_url("https://x/ca.crl").is_err());
        assert!(parse_http_url("http://x/ca.crl").is_ok());
        let base: Uri = "http://a.test:81/x/ca.crl".parse().unwrap();
        assert_eq!(
            resolve(&base, "/y.crl").unwrap().to_string(),
            "http://a.test:81/y.crl"
        );
    }
}

/// An address on the public internet: not loopback, private (RFC 1918, fc00::/7), link-local,
/// shared (100.64/10), documentation, multicast, broadcast or unspecified.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod address_tests {
    use super::is_public;

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
