//! Signing in and out, the signed-in user extractor, and the cross-site request defences.
//!
//! Two independent CSRF defences: browsers' `Sec-Fetch-Site`/`Origin` headers refuse a cross-site
//! request before any handler runs, and every form carries a token bound to the session (or, for
//! the sign-in form, to a cookie) that a page on another site cannot read.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::client_address::{self, ClientAddress};
use super::errors::PageError;
use super::installed_app;
use crate::imap::ImapError;
use crate::sessions::{Lookup, SignedIn, Throttle};

pub const SESSION_COOKIE: &str = "sealmail_session";
const LOGIN_COOKIE: &str = "sealmail_login";

/// The signed-in user; extracting it sends anyone else to the sign-in page.
pub struct User(pub SignedIn);

impl FromRequestParts<Shared> for User {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = our_cookie(state, &parts.headers, SESSION_COOKIE) else {
            return Err(PageError::SignIn { expired: false });
        };
        match state.sessions.lookup(&value).await? {
            Some(Lookup::Active(mut user)) => {
                user.client = client_address::of(parts, &state.config.web.trusted_proxies);
                Ok(User(user))
            }
            Some(Lookup::Expired) => Err(PageError::SignIn { expired: true }),
            None => Err(PageError::SignIn { expired: false }),
        }
    }
}

impl User {
    /// Checks a form's CSRF token against the session's.
    pub fn check_token(&self, submitted: &str) -> Result<(), PageError> {
        if constant_time_eq(submitted.as_bytes(), self.0.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "the form's security token does not match your session",
            ))
        }
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn set_cookie(
    state: &Shared,
    request: &HeaderMap,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> String {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    // In the kiosk app the pages are framed by another site, and the installed app reads them
    // from another site: a SameSite cookie is never sent there. `Partitioned` keeps that cookie
    // to the app. Both need `Secure`. Only a request from a frame or from the installed app
    // gets it: an ordinary tab keeps SameSite=Strict.
    let (scope, secure) = if framed_by_kiosk_app(state, request)
        || installed_app::from_installed_app(state, request)
    {
        ("; SameSite=None; Secure; Partitioned", true)
    } else if state.config.web.secure_cookies {
        ("; SameSite=Strict; Secure", true)
    } else {
        ("; SameSite=Strict", false)
    };
    let prefix = if secure { HOST_PREFIX } else { "" };
    format!("{prefix}{name}={value}; Path=/; HttpOnly{scope}{age}")
}

/// `__Host-` binds a cookie to this host and to secure connections: a sibling subdomain or
/// someone on a plain-http connection cannot plant or overwrite it (session fixation).
/// Browsers take the prefix only on a `Secure` cookie, so a plain-http setup uses bare names.
const HOST_PREFIX: &str = "__Host-";

/// One of our cookies: the `__Host-` one, or, only where the server itself speaks plain http,
/// the bare name (which anyone who can reach a sibling host could set).
pub fn our_cookie(state: &Shared, headers: &HeaderMap, name: &str) -> Option<String> {
    cookie(headers, &format!("{HOST_PREFIX}{name}")).or_else(|| {
        if state.config.web.secure_cookies {
            None
        } else {
            cookie(headers, name)
        }
    })
}

/// A request from a page in a frame, on a server that lets the kiosk app frame its pages
/// (the policy's frame-ancestors lets no one else).
pub fn framed_by_kiosk_app(state: &Shared, request: &HeaderMap) -> bool {
    state.config.web.kiosk_app_origin.is_some()
        && request
            .get("sec-fetch-dest")
            .is_some_and(|dest| dest.as_bytes() == b"iframe")
}

/// Refuses state-changing requests that a browser marks as coming from another site, other
/// than the installed app.
pub async fn refuse_cross_site(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe
        && !installed_app::from_installed_app(&state, request.headers())
        && let Some(why) = cross_site_reason(request.headers())
    {
        tracing::warn!(
            "refused a cross-site {} {}: {why}",
            request.method(),
            request.uri().path()
        );
        return PageError::Forbidden(why).into_response();
    }
    next.run(request).await
}

fn cross_site_reason(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return (!matches!(site, "same-origin" | "none")).then_some("it came from another site");
    }
    // Older browsers: compare Origin with Host when Origin is sent.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok())?;
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    (origin_host != host).then_some("it came from another site")
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
    pub login_token: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
}

pub async fn login_page(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = if q.expired.is_some() {
        Some("Your session has ended. Please sign in again.")
    } else if q.signed_out.is_some() {
        Some("You have signed out.")
    } else {
        None
    };
    login_form(
        &state,
        &headers,
        StatusCode::OK,
        String::new(),
        None,
        notice,
    )
}

fn login_form(
    state: &Shared,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let token = our_cookie(state, headers, LOGIN_COOKIE)
        .filter(|t| t.len() >= 32)
        .unwrap_or_else(random_token);
    let page = LoginPage {
        email,
        error,
        notice,
        login_token: token.clone(),
    };
    let mut response = (status, page).into_response();
    if let Ok(value) = set_cookie(state, headers, LOGIN_COOKIE, &token, None).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    login_token: String,
}

pub async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    ClientAddress(client): ClientAddress,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let expected = our_cookie(&state, &headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.login_token.as_bytes()) {
        return Err(PageError::Forbidden(
            "the sign-in form expired or came from another page",
        ));
    }
    let email = form.email.trim().to_string();
    let throttle_key = email.to_ascii_lowercase();
    let refuse = |status, message: &str| {
        Ok(login_form(
            &state,
            &headers,
            status,
            email.clone(),
            Some(message.to_string()),
            None,
        ))
    };
    if email.is_empty() || form.password.is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your email address and password.",
        );
    }
    match state.login_guard.begin_attempt(&throttle_key).await? {
        Throttle::Locked => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-in attempts for this address. Wait 15 minutes and try again.",
            );
        }
        Throttle::Wait(delay) => tokio::time::sleep(delay).await,
    }
    let connection = match state.open_imap(&email, &form.password, client).await {
        Ok(connection) => connection,
        Err(ImapError::BadCredentials) => {
            // Already counted by begin_attempt. The same words whether or not the address exists.
            return refuse(
                StatusCode::UNAUTHORIZED,
                "The email address or password is incorrect.",
            );
        }
        Err(e) => {
            tracing::warn!("sign-in for {email} failed: {e}");
            state.login_guard.undo_attempt(&throttle_key).await?;
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "The mail server cannot be reached right now. Try again in a few minutes.",
            );
        }
    };
    state.login_guard.clear(&throttle_key).await?;
    let created = state.sessions.create(&email, &form.password).await?;
    state.keep_imap(&created.signed_in.pool_key, connection);
    let mut response = Redirect::to("/mail?folder=INBOX").into_response();
    let cookies = [
        set_cookie(
            &state,
            &headers,
            SESSION_COOKIE,
            &created.cookie_value,
            None,
        ),
        set_cookie(&state, &headers, LOGIN_COOKIE, "", Some(0)),
    ];
    for c in cookies {
        if let Ok(value) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<Shared>,
    headers: HeaderMap,
    user: User,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    state.sessions.delete(&user.0).await?;
    for connection in state.imap_pool.forget(&user.0.pool_key) {
        crate::imap::limits::close_in_background(connection);
    }
    let mut response = Redirect::to("/login?signed_out=1").into_response();
    if let Ok(value) = set_cookie(&state, &headers, SESSION_COOKIE, "", Some(0)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(cross_site_reason(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site_reason(&headers(&[("sec-fetch-site", "same-site")])).is_some());
        assert!(cross_site_reason(&headers(&[("sec-fetch-site", "same-origin")])).is_none());
    }

    #[test]
    fn origin_must_match_host_without_fetch_metadata() {
        assert!(
            cross_site_reason(&headers(&[
                ("origin", "http://evil.test"),
                ("host", "mail.test")
            ]))
            .is_some()
        );
        assert!(
            cross_site_reason(&headers(&[
                ("origin", "https://mail.test"),
                ("host", "mail.test")
            ]))
            .is_none()
        );
        assert!(cross_site_reason(&headers(&[])).is_none());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; sealmail_session=xyz; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
