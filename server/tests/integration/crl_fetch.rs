//! CRL retrieval against a tiny HTTP server on 127.0.0.1: fetched once and shared through the
//! database, single-flight under load, and a down, slow or lying server gives "revocation
//! unknown" in time without poisoning the cache.

use std::time::{Duration, Instant};

use crate::certs::*;
use pki::{Reason, Revocation, Status, Usage};
use sqlx::Row;

async fn cached_rows(db: &sealmail_server::db::Pool, url: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM crl_cache WHERE url = $1")
        .bind(url)
        .fetch_one(db)
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}

fn now() -> i64 {
    sealmail_server::db::now()
}

#[tokio::test]
async fn a_crl_is_fetched_once_cached_in_the_database_and_shared_by_instances() {
    let ca = Ca::new("Fetch CA");
    let server = CrlServer::start(Behaviour::Serve(Vec::new(), Duration::ZERO)).await;
    let url = server.url(&format!("{}/ca.crl", unique("good")));
    let good = ca.issue(
        "good",
        Some("good@x.test"),
        None,
        "digitalSignature,keyAgreement",
        Some(&url),
        365,
    );
    let bad = ca.issue(
        "bad",
        Some("bad@x.test"),
        None,
        "digitalSignature,keyAgreement",
        Some(&url),
        365,
    );
    server.set(Behaviour::Serve(ca.crl(&[&bad]), Duration::ZERO));
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;

    let first = checker(&db, &ca, settings(5, 60, false));
    let ok = first
        .check(&read_cert(&good), &[], Usage::Encrypt, None, now())
        .await;
    assert!(ok.is_valid(), "{}", ok.reason());
    assert_eq!(ok.verdict.revocation, Revocation::Checked);
    let revoked = first
        .check(&read_cert(&bad), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(revoked.verdict.status, Status::Invalid(Reason::Revoked));
    assert_eq!(revoked.reason(), "The certificate has been revoked.");
    assert_eq!(server.count(), 1, "one fetch for both certificates");
    assert_eq!(cached_rows(&db, &url).await, 1);

    // A second server instance (fresh memory, same database) needs no fetch.
    let second = checker(&db, &ca, settings(5, 60, false));
    let again = second
        .check(&read_cert(&good), &[], Usage::Encrypt, None, now())
        .await;
    assert!(again.is_valid(), "{}", again.reason());
    assert_eq!(server.count(), 1, "served from the shared database");
    assert_eq!(second.crls.fetch_count(), 0);
}

#[tokio::test]
async fn a_hundred_simultaneous_validations_cause_one_fetch() {
    let ca = Ca::new("Flight CA");
    let server = CrlServer::start(Behaviour::Serve(Vec::new(), Duration::ZERO)).await;
    let url = server.url(&format!("{}/ca.crl", unique("flight")));
    let leaf = ca.issue(
        "many",
        Some("many@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    // The answer is slow, so all hundred validations are waiting at once.
    server.set(Behaviour::Serve(ca.crl(&[]), Duration::from_millis(500)));
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let checker = checker(&db, &ca, settings(10, 60, false));
    let cert = read_cert(&leaf);
    let t = now();
    let results = futures::future::join_all(
        (0..100).map(|_| checker.check(&cert, &[], Usage::Encrypt, None, t)),
    )
    .await;
    assert!(
        results.iter().all(|r| r.is_valid()),
        "{}",
        results[0].reason()
    );
    assert_eq!(
        server.count(),
        1,
        "exactly one request reached the CRL server"
    );
}

#[tokio::test]
async fn a_down_server_gives_revocation_unknown_and_check_crl_decides() {
    let ca = Ca::new("Down CA");
    let url = format!(
        "http://127.0.0.1:{}/{}/ca.crl",
        dead_port().await,
        unique("down")
    );
    let leaf = ca.issue(
        "down",
        Some("down@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let started = Instant::now();
    let checked = checker(&db, &ca, settings(5, 60, false))
        .check(&read_cert(&leaf), &[], Usage::Encrypt, None, now())
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        checked.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    let reason = checked.reason();
    assert!(
        reason.starts_with("The revocation status could not be checked.")
            && reason.contains("cannot connect"),
        "{reason}"
    );
    assert!(checked.usable(false), "CheckCRL off: usable with a warning");
    assert!(!checked.usable(true), "CheckCRL on: blocks sending");
    assert_eq!(cached_rows(&db, &url).await, 0);

    // DisableCRLCheck: nothing is fetched and the certificate is valid.
    let mut off = settings(5, 60, true);
    off.disable_crl_check = true;
    let checked = checker(&db, &ca, off)
        .check(&read_cert(&leaf), &[], Usage::Encrypt, None, now())
        .await;
    assert!(checked.is_valid(), "{}", checked.reason());
    assert_eq!(checked.verdict.revocation, Revocation::Disabled);
}

#[tokio::test]
async fn a_dripping_server_meets_the_per_url_timeout() {
    let ca = Ca::new("Drip CA");
    let server = CrlServer::start(Behaviour::Drip).await;
    let url = server.url(&format!("{}/ca.crl", unique("drip")));
    let leaf = ca.issue(
        "drip",
        Some("drip@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let started = Instant::now();
    let checked = checker(&db, &ca, settings(5, 60, false))
        .check(&read_cert(&leaf), &[], Usage::Encrypt, None, now())
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(
        checked.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        checked.reason().contains("within 5 s"),
        "{}",
        checked.reason()
    );
    assert_eq!(cached_rows(&db, &url).await, 0);
}

#[tokio::test]
async fn the_overall_timeout_cuts_a_slow_fetch_short() {
    let ca = Ca::new("Overall CA");
    let server = CrlServer::start(Behaviour::Drip).await;
    let url = server.url(&format!("{}/ca.crl", unique("overall")));
    let leaf = ca.issue(
        "overall",
        Some("o@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let started = Instant::now();
    let checked = checker(&db, &ca, settings(60, 1, false))
        .check(&read_cert(&leaf), &[], Usage::Encrypt, None, now())
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        checked.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        checked.reason().contains("after 1 s"),
        "{}",
        checked.reason()
    );
}

#[tokio::test]
async fn garbage_or_a_forged_crl_does_not_poison_the_cache() {
    let ca = Ca::new("Honest CA");
    let forger = Ca::new("Honest CA");
    let server = CrlServer::start(Behaviour::Serve(
        b"<html>not a CRL</html>".to_vec(),
        Duration::ZERO,
    ))
    .await;
    let url = server.url(&format!("{}/ca.crl", unique("poison")));
    let leaf = ca.issue(
        "victim",
        Some("v@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let cert = read_cert(&leaf);

    let garbage = checker(&db, &ca, settings(5, 60, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        garbage.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        garbage.reason().contains("cannot be read"),
        "{}",
        garbage.reason()
    );
    assert_eq!(cached_rows(&db, &url).await, 0);

    // Same issuer name, wrong key: a forged CRL (here one revoking nothing, to hide a revocation).
    server.set(Behaviour::Serve(forger.crl(&[]), Duration::ZERO));
    let forged = checker(&db, &ca, settings(5, 60, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        forged.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        forged.reason().contains("not signed by"),
        "{}",
        forged.reason()
    );
    assert_eq!(cached_rows(&db, &url).await, 0);

    // The real CRL is taken as soon as it is served.
    server.set(Behaviour::Serve(ca.crl(&[&leaf]), Duration::ZERO));
    let real = checker(&db, &ca, settings(5, 60, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(real.verdict.status, Status::Invalid(Reason::Revoked));
    assert_eq!(cached_rows(&db, &url).await, 1);
}

#[tokio::test]
async fn the_chain_is_completed_over_aia_and_the_untrusted_list_still_wins() {
    let root = Ca::new("AIA Root");
    let inter = Ca::intermediate(&root, "AIA Intermediate");
    let server = CrlServer::start(Behaviour::Serve(inter.der(), Duration::ZERO)).await;
    let url = server.url(&format!("{}/inter.der", unique("aia")));
    let leaf = inter.issue_with(
        "aia",
        Some("aia@x.test"),
        None,
        "keyAgreement",
        None,
        365,
        &format!("authorityInfoAccess=caIssuers;URI:{url}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let mut no_crl = settings(5, 60, false);
    no_crl.disable_crl_check = true;
    let cert = read_cert(&leaf);

    let checked = checker(&db, &root, no_crl.clone())
        .check(&cert, &[], Usage::Encrypt, Some("aia@x.test"), now())
        .await;
    assert!(checked.is_valid(), "{}", checked.reason());
    assert_eq!(checked.verdict.path.len(), 3);
    assert_eq!(server.count(), 1);

    // The administrator distrusts the intermediate: that wins over a chain that is fine.
    let distrusting = sealmail_server::trust::Checker::new(
        no_crl.clone(),
        db.clone(),
        vec![root.certificate()],
        vec![inter.certificate().fingerprint()],
    );
    let checked = distrusting
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(checked.verdict.status, Status::Invalid(Reason::Distrusted));

    // Without the issuer's server the chain cannot be completed; the reason names the URL.
    drop(server);
    let checked = checker(&db, &root, no_crl)
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        checked.verdict.status,
        Status::Invalid(Reason::UntrustedIssuer)
    );
    assert!(
        checked.reason().contains(url.as_str()),
        "{}",
        checked.reason()
    );
}

#[tokio::test]
async fn bodies_and_redirects_are_capped() {
    use sealmail_server::trust::fetch::{FetchError, Fetcher};
    let big = CrlServer::start(Behaviour::Serve(vec![0u8; 1000], Duration::ZERO)).await;
    let capped = Fetcher {
        timeout: Duration::from_secs(5),
        max_bytes: 100,
        allow_private: true,
    };
    let roomy = Fetcher {
        timeout: Duration::from_secs(5),
        max_bytes: 1000,
        allow_private: true,
    };
    let err = capped.get(&big.url("x")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 100, .. }),
        "{err}"
    );
    assert_eq!(roomy.get(&big.url("x")).await.unwrap().len(), 1000);

    let looping = CrlServer::start(Behaviour::Redirect("/again".into())).await;
    let err = roomy.get(&looping.url("x")).await.unwrap_err();
    assert!(matches!(err, FetchError::Redirects { .. }), "{err}");
    assert_eq!(looping.count(), 4, "the first request and three redirects");

    let hop = CrlServer::start(Behaviour::Redirect(big.url("x"))).await;
    assert_eq!(roomy.get(&hop.url("y")).await.unwrap().len(), 1000);
    let to_https = CrlServer::start(Behaviour::Redirect("https://127.0.0.1/x".into())).await;
    let err = roomy.get(&to_https.url("y")).await.unwrap_err();
    assert!(matches!(err, FetchError::Unsupported(_)), "{err}");
}

#[tokio::test]
async fn with_cert_url_retrieval_timeout_zero_only_the_shared_cache_is_used() {
    let ca = Ca::new("Cached-only CA");
    let server = CrlServer::start(Behaviour::Serve(Vec::new(), Duration::ZERO)).await;
    let url = server.url(&format!("{}/ca.crl", unique("zero")));
    let leaf = ca.issue(
        "zero",
        Some("z@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    server.set(Behaviour::Serve(ca.crl(&[]), Duration::ZERO));
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let cert = read_cert(&leaf);

    let empty = checker(&db, &ca, settings(5, 0, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        empty.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        empty.reason().contains("fetching is off"),
        "{}",
        empty.reason()
    );
    assert_eq!(server.count(), 0);

    // Another instance that may fetch fills the shared cache; now the first one can decide.
    let fetched = checker(&db, &ca, settings(5, 60, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert!(fetched.is_valid(), "{}", fetched.reason());
    let cached = checker(&db, &ca, settings(5, 0, false))
        .check(&cert, &[], Usage::Encrypt, None, now())
        .await;
    assert!(cached.is_valid(), "{}", cached.reason());
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn trust_anchors_and_the_untrusted_list_are_reloaded_without_a_restart() {
    let ca = Ca::new("Reload CA");
    let leaf = ca.issue("reload", Some("r@x.test"), None, "keyAgreement", None, 365);
    let cert = read_cert(&leaf);
    let anchors = tempfile::tempdir().unwrap();
    let untrusted = anchors.path().join("untrusted.txt");
    std::fs::write(&untrusted, "# nothing distrusted yet\n").unwrap();
    let mut config = settings(5, 60, false);
    config.disable_crl_check = true;
    config.trust_anchors = Some(anchors.path().join("ca"));
    config.untrusted_list = Some(untrusted.clone());
    std::fs::create_dir(anchors.path().join("ca")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let checker = sealmail_server::trust::Checker::from_config(&config, db).unwrap();
    let before = checker.check(&cert, &[], Usage::Encrypt, None, now()).await;
    assert_eq!(
        before.verdict.status,
        Status::Invalid(Reason::UntrustedIssuer)
    );

    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca/ca.pem")).unwrap();
    checker.reload().unwrap();
    let trusted = checker.check(&cert, &[], Usage::Encrypt, None, now()).await;
    assert!(trusted.is_valid(), "{}", trusted.reason());

    let hex: String = cert
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02X}:"))
        .collect();
    std::fs::write(
        &untrusted,
        format!("{}  # leaked key\n", hex.trim_end_matches(':')),
    )
    .unwrap();
    checker.reload().unwrap();
    let distrusted = checker.check(&cert, &[], Usage::Encrypt, None, now()).await;
    assert_eq!(
        distrusted.reason(),
        "The digital ID is on this server's list of untrusted certificates."
    );

    // A broken list is refused and the previous one stays in force.
    std::fs::write(&untrusted, "not a fingerprint\n").unwrap();
    let err = checker.reload().unwrap_err();
    assert_eq!(
        err.to_string(),
        "pki.untrusted_list: line 1 is not a SHA-256 fingerprint"
    );
    let still = checker.check(&cert, &[], Usage::Encrypt, None, now()).await;
    assert_eq!(still.verdict.status, Status::Invalid(Reason::Distrusted));
}

#[tokio::test]
async fn urls_leading_to_private_addresses_are_refused_unless_allowed() {
    use sealmail_server::trust::fetch::{FetchError, Fetcher};
    let local = CrlServer::start(Behaviour::Serve(vec![1, 2, 3], Duration::ZERO)).await;
    let by_default = Fetcher::new(Duration::from_secs(5));
    let err = by_default.get(&local.url("x")).await.unwrap_err();
    assert!(matches!(err, FetchError::PrivateAddress { .. }), "{err:?}");
    assert!(err.to_string().contains("private or local network address"));
    // A name that resolves to loopback is refused the same way as the literal address.
    let by_name = local.url("x").replace("127.0.0.1", "localhost");
    assert!(matches!(
        by_default.get(&by_name).await.unwrap_err(),
        FetchError::PrivateAddress { .. }
    ));
    let internal_ca = Fetcher::new(Duration::from_secs(5)).allowing_private(true);
    assert_eq!(
        internal_ca.get(&local.url("x")).await.unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        local.count(),
        1,
        "the refused requests must not reach the server"
    );
}
