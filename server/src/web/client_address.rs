//! Which address a request comes from: the connection's peer, or, when that peer is one of the
//! admin's `[web] trusted_proxies`, the address that proxy says it forwarded for.
//!
//! The IMAP server is told this address (the `ID` command's `x-originating-ip`), so its
//! per-address limits and sign-in penalties fall on the person, not on Sealmail, which signs
//! everyone in from its own address. Only a trusted proxy's `X-Forwarded-For` is believed:
//! anyone else could name any address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::Shared;

/// The request's client address, for a handler that signs in to IMAP itself (sign-in).
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<Shared> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(of(parts, &state.config.web.trusted_proxies)))
    }
}

pub fn of(parts: &Parts, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    // The proxy appends the address it saw last; earlier entries are the client's own claims.
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back();
    Some(forwarded.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, forwarded: Option<&str>) -> Parts {
        let mut request = Request::get("/").body(()).unwrap();
        if let Some(f) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", f.parse().unwrap());
        }
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        request.into_parts().0
    }

    #[test]
    fn a_trusted_proxys_last_forwarded_address_is_the_client() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let p = parts("10.0.0.5:4000", Some("203.0.113.9, 198.51.100.7"));
        assert_eq!(of(&p, &[proxy]), Some("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn anyone_else_is_their_own_address_whatever_they_claim() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let p = parts("192.0.2.1:4000", Some("198.51.100.7"));
        assert_eq!(of(&p, &[proxy]), Some("192.0.2.1".parse().unwrap()));
        let no_header = parts("10.0.0.5:4000", None);
        assert_eq!(of(&no_header, &[proxy]), Some(proxy));
    }
}
