//! The page assets: fingerprinted paths cached for a year, compressed, and consistent with the
//! page that names them. Its own test binary: the fingerprint is taken once per process.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

#[tokio::test]
async fn a_page_names_its_scripts_by_content_and_they_are_cached_and_compressed() {
    let static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../static");
    let browser = Browser::new(&format!("static_dir = \"{static_dir}\"")).await;
    let login = browser
        .router
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let html = String::from_utf8(
        axum::body::to_bytes(login.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let end = html.find("/app.js\"").expect("the app script");
    let start = html[..end].rfind("/static/").expect("a static link");
    let base = &html[start..end];
    assert_eq!(base.len(), "/static/".len() + 12, "{base}");

    let get = |path: String, gzip: bool| {
        let mut request = Request::get(path);
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        browser
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
    };
    let app = get(format!("{base}/app.js"), true).await.unwrap();
    assert_eq!(app.status(), StatusCode::OK);
    assert_eq!(
        app.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(app.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = axum::body::to_bytes(app.into_body(), usize::MAX)
        .await
        .unwrap();
    let original = std::fs::read(format!("{static_dir}/app.js")).unwrap();
    assert!(compressed.len() < original.len(), "gzip made it no smaller");

    // The unversioned path still works, revalidated each time; a page is never compressed.
    let plain = get("/static/app.js".into(), false).await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-cache");
    let page = get("/login".into(), true).await.unwrap();
    assert!(page.headers().get(header::CONTENT_ENCODING).is_none());
}
