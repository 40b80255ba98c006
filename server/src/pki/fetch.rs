//! Fetching CRLs and issuer certificates (AIA caIssuers) over HTTP, and reading the containers
//! they come in (DER, PEM, PKCS#7 certs-only).
//!
//! hyper's HTTP/1 client is used directly rather than reqwest: hyper is already in the tree
//! through axum, CRL and AIA URLs are plain `http://` (RFC 5280 §4.2.1.13 and RFC 8550 expect it,
//! so fetching does not depend on the certificates being checked), and every limit that matters
//! here — the per-URL deadline, the body cap, the redirect count — has to be enforced by us
//! anyway. Nothing here trusts the peer: a server that drips one byte a second meets the
//! deadline, one that sends gigabytes meets the cap.

use std::time::Duration;

use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::cert::{self, CertError};
use super::der::{self, Tlv};
use super::{Certificate, oid};

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
        let seconds = self.timeout.as_secs();
        match tokio::time::timeout(self.timeout, self.get_following(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                seconds,
            }),
        }
    }

    async fn get_following(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut current = parse_http_url(url)?;
        for _ in 0..=MAX_REDIRECTS {
            match self.get_once(&current).await? {
                Answer::Body(body) => return Ok(body),
                Answer::Redirect(location) => current = resolve(&current, &location)?,
            }
        }
        Err(FetchError::Redirects {
            url: url.to_string(),
        })
    }

    async fn get_once(&self, uri: &Uri) -> Result<Answer, FetchError> {
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
        let request = Request::get(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, "Sealmail certificate fetcher")
            .header(header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
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

/// Every PEM block labelled `label` in `text` (other blocks and text around them are ignored).
pub fn pem_blocks(text: &[u8], label: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let Ok(text) = std::str::from_utf8(text) else {
        return Vec::new();
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else {
            break;
        };
        // RFC 7468 allows headers (old OpenSSL "Proc-Type:" style): skip lines with a colon.
        let b64: String = after[..stop]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(bytes);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// True when `bytes` looks like PEM text rather than DER.
pub fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

const SIGNED_DATA: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const DATA: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const CA_ISSUERS: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The certificates inside a PKCS#7 / CMS SignedData (a `.p7b`/`.p7c` "certs-only" bundle, or
/// a `userSMIMECertificate` value). Each is returned as DER, unparsed.
pub fn pkcs7_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, super::ParseError> {
    Ok(read_pkcs7(input)?)
}

fn read_pkcs7(input: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let mut ci = Tlv::parse_exact(input)?.tagged(der::SEQUENCE)?.reader();
    if !oid::is(ci.tagged(der::OID)?.value, &SIGNED_DATA) {
        return Err(der::DerError::Invalid("PKCS#7: not SignedData").into());
    }
    let explicit = ci.tagged(der::ctx_cons(0))?;
    ci.finish()?;
    let mut sd = Tlv::parse_exact(explicit.value)?
        .tagged(der::SEQUENCE)?
        .reader();
    sd.tagged(der::INTEGER)?;
    sd.tagged(der::SET)?;
    sd.tagged(der::SEQUENCE)?;
    let mut out = Vec::new();
    if let Some(certs) = sd.optional(der::ctx_cons(0))? {
        let mut r = certs.reader();
        while !r.is_empty() {
            let item = r.any()?;
            // CertificateChoices: only plain certificates (SEQUENCE) are of use here.
            if item.tag == der::SEQUENCE {
                out.push(item.raw.to_vec());
            }
        }
    }
    Ok(out)
}

/// A degenerate (certs-only, unsigned) PKCS#7 SignedData holding `certs` — the form
/// `userSMIMECertificate` and `.p7b` files use.
pub fn pkcs7_certs_only(certs: &[&[u8]]) -> Vec<u8> {
    // DER SET OF is sorted by encoding; sort so equal sets give equal bytes.
    let mut sorted: Vec<&[u8]> = certs.to_vec();
    sorted.sort();
    sorted.dedup();
    let cert_set = tlv(der::ctx_cons(0), &sorted.concat());
    let signed_data = tlv(
        der::SEQUENCE,
        &[
            tlv(der::INTEGER, &[1]),
            tlv(der::SET, &[]),
            tlv(der::SEQUENCE, &tlv(der::OID, DATA.as_bytes())),
            cert_set,
            tlv(der::SET, &[]),
        ]
        .concat(),
    );
    tlv(
        der::SEQUENCE,
        &[
            tlv(der::OID, SIGNED_DATA.as_bytes()),
            tlv(der::ctx_cons(0), &signed_data),
        ]
        .concat(),
    )
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Every certificate in a file's bytes: PEM (CERTIFICATE or PKCS7 blocks), a PKCS#7 bundle,
/// or a single DER certificate. Unreadable input gives an error, never a panic.
pub fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, super::ParseError> {
    if is_pem(bytes) {
        let mut out = pem_blocks(bytes, "CERTIFICATE");
        for p7 in pem_blocks(bytes, "PKCS7") {
            out.extend(pkcs7_certificates(&p7)?);
        }
        return Ok(out);
    }
    if let Ok(certs) = read_pkcs7(bytes) {
        return Ok(certs);
    }
    Certificate::from_der(bytes)?;
    Ok(vec![bytes.to_vec()])
}

/// What lookup and fetching need from a certificate beyond what validation exposes.
impl Certificate {
    /// Addresses in the subject's emailAddress attributes (matched before subjectAltName).
    pub fn subject_email_addresses(&self) -> Vec<String> {
        self.inner.subject.email_addresses()
    }

    /// rfc822Name entries of subjectAltName.
    pub fn san_email_addresses(&self) -> Vec<String> {
        self.inner
            .ext
            .subject_alt_names
            .iter()
            .filter_map(|n| match n {
                super::name::GeneralName::Rfc822(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// True when the certificate may be used for `usage` and for nothing else, e.g. an
    /// encryption-only key (keyEncipherment without digitalSignature). Such a certificate is
    /// preferred for that operation.
    pub fn key_usage_fits_alone(&self, usage: super::Usage) -> bool {
        use cert::key_usage as ku;
        let Some(bits) = self.inner.ext.key_usage else {
            return false;
        };
        let sign = ku::DIGITAL_SIGNATURE | ku::NON_REPUDIATION;
        let encrypt = ku::KEY_ENCIPHERMENT | ku::KEY_AGREEMENT | (1 << 3);
        match usage {
            super::Usage::Sign => bits & sign != 0 && bits & encrypt == 0,
            super::Usage::Encrypt => bits & encrypt != 0 && bits & sign == 0,
            super::Usage::Any => false,
        }
    }

    pub fn is_ca(&self) -> bool {
        self.inner.is_ca()
    }

    /// Whether this certificate's public key verifies `crl`'s signature and this certificate
    /// is the CRL's issuer by name.
    pub fn signed_crl(&self, crl: &super::crl::Crl) -> bool {
        self.inner.subject == crl.issuer && crl.signed_by(&self.inner.public_key)
    }

    /// Authority Information Access caIssuers URIs (where the issuer's certificate is).
    pub fn ca_issuer_urls(&self) -> Vec<String> {
        let Some(value) = extension_value(&self.inner.der, &oid::AUTHORITY_INFO_ACCESS) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let Ok(seq) = Tlv::parse_exact(value).and_then(|t| t.tagged(der::SEQUENCE)) else {
            return out;
        };
        let mut r = seq.reader();
        while let Ok(ad) = r.tagged(der::SEQUENCE) {
            let mut a = ad.reader();
            let (Ok(method), Ok(location)) = (a.tagged(der::OID), a.any()) else {
                break;
            };
            // accessLocation uniformResourceIdentifier is [6] IA5String.
            if oid::is(method.value, &CA_ISSUERS)
                && location.tag == der::ctx_prim(6)
                && let Ok(s) = std::str::from_utf8(location.value)
            {
                out.push(s.to_string());
            }
        }
        out
    }
}

/// The extnValue contents of extension `want` in a DER certificate.
fn extension_value<'a>(
    certificate: &'a [u8],
    want: &const_oid::ObjectIdentifier,
) -> Option<&'a [u8]> {
    let outer = Tlv::parse_exact(certificate)
        .ok()?
        .tagged(der::SEQUENCE)
        .ok()?;
    let mut r = outer.reader();
    let tbs = r.tagged(der::SEQUENCE).ok()?;
    let mut t = tbs.reader();
    t.optional(der::ctx_cons(0)).ok()?;
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    for _ in 0..6 {
        t.any().ok()?;
    }
    t.optional(der::ctx_prim(1)).ok()?;
    t.optional(der::ctx_prim(2)).ok()?;
    let wrapper = t.optional(der::ctx_cons(3)).ok()??;
    let list = Tlv::parse_exact(wrapper.value).ok()?;
    let mut found = None;
    cert::for_each_extension(&list, |id, _critical, value| {
        if oid::is(id, want) {
            found = Some(value);
        }
        Ok(())
    })
    .ok()?;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &[u8] = include_bytes!("testdata/alice.der");
    const INTER: &[u8] = include_bytes!("testdata/inter.der");

    #[test]
    fn pkcs7_round_trip_keeps_the_set() {
        let p7 = pkcs7_certs_only(&[ALICE, INTER, ALICE]);
        let mut back = pkcs7_certificates(&p7).unwrap();
        back.sort();
        let mut want = vec![ALICE.to_vec(), INTER.to_vec()];
        want.sort();
        assert_eq!(back, want);
        assert_eq!(
            p7,
            pkcs7_certs_only(&[INTER, ALICE]),
            "same set, same bytes"
        );
    }

    #[test]
    fn hostile_containers_are_errors() {
        assert!(pkcs7_certificates(b"").is_err());
        assert!(pkcs7_certificates(&[0x30, 0x84, 0xff, 0xff]).is_err());
        let p7 = pkcs7_certs_only(&[ALICE]);
        for cut in 0..p7.len() {
            assert!(pkcs7_certificates(&p7[..cut]).is_err());
        }
        assert!(certificates_in(b"not a certificate").is_err());
    }

    #[test]
    fn pem_blocks_are_found_among_text() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(ALICE);
        let text = format!("junk\n-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        assert_eq!(
            certificates_in(text.as_bytes()).unwrap(),
            vec![ALICE.to_vec()]
        );
    }

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
