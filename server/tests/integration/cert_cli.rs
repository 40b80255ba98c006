//! `sealmail cert check` and `sealmail directory import` as an admin runs them: files in,
//! one line out, exit 0 only when valid.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::certs::*;

pub(crate) fn sealmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealmail"))
        .args(args)
        .env_remove("SEALMAIL_CONFIG")
        .env("RUST_LOG", "error")
        .output()
        .expect("sealmail runs")
}

pub(crate) fn line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A server configuration in `dir` whose database is a file there, with `extra` sections.
pub(crate) fn config_file(dir: &tempfile::TempDir, extra: &str) -> std::path::PathBuf {
    let config = dir.path().join("sealmail.toml");
    std::fs::write(
        &config,
        format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = 143\nsecurity = \"plain\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = 25\nsecurity = \"plain\"\n\
             [database]\nurl = \"sqlite://{}/db.sqlite?mode=rwc\"\n{extra}",
            dir.path().display(),
        ),
    )
    .unwrap();
    config
}

#[test]
fn offline_check_reports_valid_revoked_and_missing_crls() {
    let ca = Ca::new("CLI CA");
    let url = "http://crl.example.test/cli.crl";
    let good = ca.issue(
        "good",
        Some("good@x.test"),
        None,
        "digitalSignature",
        Some(url),
        365,
    );
    let bad = ca.issue(
        "bad",
        Some("bad@x.test"),
        None,
        "digitalSignature",
        Some(url),
        365,
    );
    let crl_dir = tempfile::tempdir().unwrap();
    std::fs::write(crl_dir.path().join("ca.crl"), ca.crl(&[&bad])).unwrap();
    // A folder of trust anchors may hold other files; they are skipped.
    let trust_dir = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), trust_dir.path().join("ca.pem")).unwrap();
    std::fs::write(trust_dir.path().join("README"), "not a certificate").unwrap();
    let trust = p(trust_dir.path());
    let crls = p(crl_dir.path());

    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&good),
        "--trust",
        trust,
        "--crl",
        crls,
        "--usage",
        "sign",
        "--email",
        "good@x.test",
    ]);
    assert_eq!(
        line(&out),
        "valid",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));

    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&bad),
        "--trust",
        trust,
        "--crl",
        crls,
    ]);
    assert_eq!(line(&out), "invalid: The certificate has been revoked.");
    assert_eq!(out.status.code(), Some(1));

    let out = sealmail(&["cert", "check", "--cert", p(&good), "--trust", trust]);
    assert_eq!(
        line(&out),
        format!("invalid: The revocation status could not be checked. (missing: {url})")
    );
    assert_eq!(out.status.code(), Some(1));

    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&good),
        "--trust",
        trust,
        "--crl",
        crls,
        "--usage",
        "encrypt",
    ]);
    assert_eq!(
        line(&out),
        "invalid: The certificate may not be used for this purpose."
    );

    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&good),
        "--trust",
        trust,
        "--crl",
        crls,
        "--at",
        "2090-01-01T00:00:00Z",
    ]);
    assert_eq!(line(&out), "invalid: The certificate has expired.");

    let other = Ca::new("Other CA");
    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&good),
        "--trust",
        p(&other.path("ca.pem")),
        "--crl",
        crls,
    ]);
    assert_eq!(
        line(&out),
        "invalid: The digital ID was issued by an untrusted source."
    );

    let out = sealmail(&[
        "cert",
        "check",
        "--cert",
        p(&good),
        "--trust",
        trust,
        "--at",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--at soon"));
}

#[tokio::test]
async fn live_check_uses_the_configured_anchors_and_fetches_the_crl() {
    let ca = Ca::new("Live CA");
    let server = CrlServer::start(Behaviour::Serve(Vec::new(), Duration::ZERO)).await;
    let url = server.url("live.crl");
    let leaf = ca.issue(
        "live",
        Some("live@x.test"),
        None,
        "keyAgreement",
        Some(&url),
        365,
    );
    server.set(Behaviour::Serve(ca.crl(&[]), Duration::ZERO));
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        &dir,
        &format!(
            "[pki]\ntrust_anchors = \"{}\"\nrevocation_url_retrieval_timeout_seconds = 5\n\
             fetch_from_private_addresses = true\n",
            ca.path("ca.pem").display()
        ),
    );
    let leaf_path = leaf.clone();
    let config_path = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        sealmail(&[
            "cert",
            "check",
            "--config",
            p(&config_path),
            "--cert",
            p(&leaf_path),
        ])
    })
    .await
    .unwrap();
    assert_eq!(
        line(&out),
        "valid",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.count(), 1);

    // The directory import command writes to the same database.
    let out = tokio::task::spawn_blocking(move || {
        sealmail(&[
            "directory",
            "--config",
            p(&config),
            "import",
            "--email",
            "live@x.test",
            p(&leaf),
        ])
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        line(&out),
        "live@x.test: 1 certificate(s) imported, 0 CA certificate(s) kept for chain building"
    );
}

#[test]
fn expiring_lists_the_directory_certificates_that_run_out_soon() {
    let ca = Ca::new("Expiry CA");
    let soon = ca.issue(
        "soon",
        Some("soon@x.test"),
        None,
        "digitalSignature",
        None,
        10,
    );
    let later = ca.issue(
        "later",
        Some("later@x.test"),
        None,
        "digitalSignature",
        None,
        365,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, "");
    let config = p(&config);
    for (email, cert) in [("soon@x.test", &soon), ("later@x.test", &later)] {
        let out = sealmail(&[
            "directory",
            "--config",
            config,
            "import",
            "--email",
            email,
            p(cert),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // By default 30 days ahead: only the one with ten days left, and the exit code says so.
    let out = sealmail(&["cert", "expiring", "--config", config]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = line(&out);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("soon@x.test  expires "), "{listed}");
    assert!(
        listed.contains("(in 10 days)") || listed.contains("(in 9 days)"),
        "{listed}"
    );

    // A year ahead: both, soonest first.
    let out = sealmail(&["cert", "expiring", "--config", config, "--days", "400"]);
    let listed = line(&out);
    let addresses: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split("  ").next())
        .collect();
    assert_eq!(addresses, ["soon@x.test", "later@x.test"], "{listed}");

    // Nothing within five days: exit 0 and a sentence.
    let out = sealmail(&["cert", "expiring", "--config", config, "--days", "5"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        line(&out),
        "no certificate in the directory expires within 5 days"
    );
}
