//! What operators see, through the real router against the rig: liveness, readiness (and its
//! answer when a mail server is gone), the metrics page and the request id.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};

/// The value of the sample `series` (name and labels exactly as printed), 0 when absent.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

const SENT: &str = "sealmail_sends_total{outcome=\"sent\"}";

async fn scrape(browser: &mut Browser) -> String {
    let page = browser.get("/metrics").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        page.headers
    );
    page.body
}

#[tokio::test]
async fn alive_and_ready_on_the_rig_without_a_session() {
    let mut browser = Browser::new("").await;
    let health = browser.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body.trim(), "ok");
    let ready = browser.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.headers["cache-control"], "no-store");
    let answer: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(answer["ready"], true, "{answer}");
    for part in ["database", "imap", "smtp"] {
        assert_eq!(answer[part], "ok", "{answer}");
    }
    let instance = answer["instance"].as_str().unwrap();
    assert_eq!(instance.len(), 8, "{instance}");
    let version = answer["config_version"].as_str().unwrap();
    assert_eq!(version.len(), 12, "{version}");
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    // Another policy in force is another version; the same settings, the same version.
    let same = Browser::new("").await.get("/readyz").await.body;
    assert!(same.contains(version), "{same}");
    let other = Browser::new("[smime]\nalways_sign = true\n")
        .await
        .get("/readyz")
        .await
        .body;
    assert!(!other.contains(version), "{other}");
}

#[tokio::test]
async fn readiness_names_smtp_when_its_port_is_closed() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let smtp_port = format!("port = {}", rig("RIG_SUBMISSION_PORT"));
    let mut browser = Browser::with_config(
        |text| text.replace(&smtp_port, &format!("port = {closed}")),
        "",
    )
    .await;
    let ready = browser.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    let answer: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(answer["ready"], false, "{answer}");
    assert_eq!(answer["smtp"], "unreachable", "{answer}");
    assert_eq!(answer["imap"], "ok", "{answer}");
    assert_eq!(answer["database"], "ok", "{answer}");
    // The answer names the part, not where it is.
    assert!(!ready.body.contains(&closed.to_string()), "{}", ready.body);
    assert!(!ready.body.contains("127.0.0.1"), "{}", ready.body);
    // Alive all the same: a mail server's outage is no reason to restart Sealmail.
    assert_eq!(browser.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_send_counts_once_and_the_compose_route_is_timed_by_its_template() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let before = scrape(&mut browser).await;
    let subject = unique("metered");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    // The second post is a browser's retry of the same form: answered "sent", not sent again.
    for _ in 0..2 {
        let page = browser
            .post_multipart("/compose", &as_refs(&fields), &[])
            .await;
        page.assert_sent();
    }
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    let after = scrape(&mut browser).await;
    assert_eq!(sample(&after, SENT) - sample(&before, SENT), 1.0, "{after}");
    let posts = "sealmail_http_request_duration_seconds_count{method=\"POST\",route=\"/compose\",status=\"3xx\"}";
    assert_eq!(sample(&after, posts), 2.0, "{after}");
    assert!(
        after.contains(
            "sealmail_http_request_duration_seconds_bucket{method=\"GET\",route=\"/compose\",status=\"2xx\""
        ),
        "{after}"
    );
    // Routes are templates: the query strings asked for never appear.
    assert!(!after.contains("folder=INBOX"), "{after}");
    assert!(!after.contains(&subject), "{after}");
    assert!(
        after.contains("sealmail_imap_pool_idle_connections "),
        "{after}"
    );
}

#[tokio::test]
async fn a_policy_refusal_is_counted_by_reason() {
    let mut browser = Browser::new("[smime]\nalways_sign = true\n").await;
    browser.sign_in("alice").await;
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &unique("unsigned"));
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let after = scrape(&mut browser).await;
    let refused = "sealmail_policy_refusals_total{reason=\"not_signed\"}";
    assert_eq!(sample(&after, refused), 1.0, "{after}");
    assert_eq!(sample(&after, SENT), 0.0, "{after}");
}

#[tokio::test]
async fn unknown_urls_share_one_label_and_a_request_id_comes_back() {
    let mut browser = Browser::new("").await;
    let request = Request::get("/no/such/page-4f1e")
        .header("x-request-id", "proxy-abc.123")
        .body(Body::empty())
        .unwrap();
    let page = browser.send(request).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(page.headers["x-request-id"], "proxy-abc.123");
    browser.get("/static/missing-9c2d.js").await;
    let made = browser.get("/healthz").await;
    let id = made.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 24, "{id}");
    let after = scrape(&mut browser).await;
    assert!(!after.contains("page-4f1e"), "{after}");
    assert!(!after.contains("missing-9c2d"), "{after}");
    assert!(after.contains("route=\"/static/{*path}\""), "{after}");
    assert!(
        after.contains("route=\"unmatched\",status=\"4xx\""),
        "{after}"
    );
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let mut browser = Browser::new("metrics = false").await;
    assert_eq!(browser.get("/metrics").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/healthz").await.status, StatusCode::OK);
}
