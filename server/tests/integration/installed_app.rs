//! What the server grants the installed client's origin (`[web] app_origin`) and no one else:
//! CORS with credentials, state-changing requests from that origin, and a session cookie
//! partitioned to the app. The app itself is tested in Chromium (`e2e/installed-app.test.mjs`).

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

const APP: &str = "isolated-app://amoiebz32b7o24tilu257xne2yf3nkblkploanxzm7ebeglseqpfeaacai";

fn allowed_origin(page: &Page) -> Option<&str> {
    page.headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// A page asked for by a script of `origin`.
fn get_from(origin: &str, path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::ORIGIN, origin)
        .body(Body::empty())
        .unwrap()
}

/// The sign-in form posted by a page of `origin`, as the browser marks a request from another site.
fn sign_in_from(origin: &str, browser: &Browser, token: &str) -> Request<Body> {
    let body = format!(
        "email={}&password={}&login_token={}",
        urlencode(&email("alice")),
        urlencode(&password("alice")),
        urlencode(token)
    );
    Request::post("/login")
        .header(header::ORIGIN, origin)
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, browser.cookie_header())
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn the_installed_app_may_read_the_pages_and_sign_in_and_no_other_site_may() {
    let mut browser = Browser::new(&format!("app_origin = \"{APP}\"")).await;

    let preflight = browser
        .send(
            Request::options("/api/recipients")
                .header(header::ORIGIN, APP)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "content-type,x-csrf-token",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(allowed_origin(&preflight), Some(APP));
    assert_eq!(
        preflight.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let headers = preflight.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("x-csrf-token"), "{headers}");

    let login = browser.send(get_from(APP, "/login")).await;
    assert_eq!(allowed_origin(&login), Some(APP));
    let exposed = login.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("content-disposition"), "{exposed}");
    let token = login.field("login_token");

    // Another site is not allowed to read the pages, and its sign-in is refused before it is tried.
    let elsewhere = "https://mail.example.org.evil.test";
    let page = browser.send(get_from(elsewhere, "/login")).await;
    // (CORS names the one allowed origin whoever asks; the browser compares.)
    assert_ne!(allowed_origin(&page), Some(elsewhere));
    let refused = browser
        .send(sign_in_from(elsewhere, &browser, &token))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        browser
            .cookies
            .iter()
            .all(|(name, _)| !name.contains("session"))
    );

    let signed_in = browser.send(sign_in_from(APP, &browser, &token)).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let session = signed_in
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("session="))
        .expect("a session cookie")
        .to_string();
    assert!(
        session.starts_with("__Host-") && session.contains("SameSite=None; Secure; Partitioned"),
        "{session}"
    );
}

#[tokio::test]
async fn without_an_app_origin_no_origin_gets_cors() {
    let mut browser = Browser::new("").await;
    let page = browser.send(get_from(APP, "/login")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(allowed_origin(&page), None);
}
