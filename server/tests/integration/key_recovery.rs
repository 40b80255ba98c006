//! Key recovery through the real router and CLI: the server names the recovery agents, takes
//! only a copy sealed to every one of them for one of the user's own encryption keys, refuses to
//! publish an encryption certificate without one, and hands the copy to the admin, who opens it
//! with `openssl cms -decrypt`.

use std::process::Command;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::cert_cli::sealmail;
use crate::certs::Ca;
use crate::common;

fn der(pem_path: &std::path::Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// `payload` encrypted by openssl to `recipients` (EnvelopedData, DER): what a browser deposits,
/// as far as the server can tell.
fn sealed_to(dir: &std::path::Path, payload: &[u8], recipients: &[&std::path::Path]) -> Vec<u8> {
    let input = dir.join("payload.bin");
    std::fs::write(&input, payload).unwrap();
    let mut command = Command::new("openssl");
    command.args([
        "cms",
        "-encrypt",
        "-binary",
        "-aes-256-cbc",
        "-outform",
        "DER",
        "-in",
    ]);
    command.arg(&input);
    for r in recipients {
        command.arg("-recip").arg(r);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `POST /api/key-archive` as the Digital IDs page sends it.
async fn deposit(
    browser: &mut common::Browser,
    token: &str,
    cert: &std::path::Path,
    archive: &[u8],
) -> (StatusCode, String) {
    let body = serde_json::json!({
        "certificate": B64.encode(der(cert)),
        "archive": B64.encode(archive),
    });
    let page = browser.post_json("/api/key-archive", token, &body).await;
    (page.status, page.body)
}

#[tokio::test]
async fn only_a_copy_for_every_agent_is_kept_and_publishing_waits_for_it() {
    let ca = Ca::new("Recovery CA");
    let agent = ca.issue("agent", None, None, "keyAgreement", None, 365);
    let stranger = ca.issue("stranger", None, None, "keyAgreement", None, 365);
    let me = common::email("alice");
    let mine = ca.issue("mine", Some(&me), None, "keyAgreement", None, 365);
    let signing = ca.issue("signing", Some(&me), None, "digitalSignature", None, 365);
    let theirs = ca.issue(
        "theirs",
        Some(&common::email("bob")),
        None,
        "keyAgreement",
        None,
        365,
    );
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let extra = format!(
        "\n[smime]\nrequire_key_archival = true\nrecovery_agents = \"{}\"\n[pki]\ntrust_anchors = \"{}\"\ndisable_crl_check = true\n",
        agent.display(),
        anchors.path().display()
    );
    let mut browser = common::Browser::new(&extra).await;
    let token = browser.sign_in("alice").await.field("csrf");
    let scratch = tempfile::tempdir().unwrap();
    let payload = b"stands in for the .p12 the browser seals";

    // Whom to seal to: the agent's certificate.
    let request = axum::http::Request::get("/api/recovery-agents")
        .header(axum::http::header::COOKIE, browser.cookie_header())
        .header("x-csrf-token", &token)
        .body(axum::body::Body::empty())
        .unwrap();
    let page = browser.send(request).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let agents: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(
        agents["agents"],
        serde_json::json!([B64.encode(der(&agent))])
    );

    let good = sealed_to(scratch.path(), payload, &[&agent]);
    for (cert, archive, why) in [
        (
            &mine,
            b"not CMS at all".to_vec(),
            "the recovery copy is not an encrypted CMS message",
        ),
        (
            &mine,
            sealed_to(scratch.path(), payload, &[&stranger]),
            "the recovery copy is not encrypted to the recovery agent O=Sealmail Tests, CN=agent",
        ),
        (
            &signing,
            good.clone(),
            "only signs: signing keys are never archived",
        ),
        (&theirs, good.clone(), "is not for your address"),
    ] {
        let (status, body) = deposit(&mut browser, &token, cert, &archive).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains(why), "{why}: {body}");
    }

    // Publishing the encryption certificate waits for its copy.
    let publish = serde_json::json!({ "certificates": [std::fs::read_to_string(&mine).unwrap()] });
    let page = browser
        .post_json("/api/certificates/publish", &token, &publish)
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("none was deposited for O=Sealmail Tests, CN=mine"),
        "{}",
        page.body
    );
    // A signing certificate needs none.
    let only_signing =
        serde_json::json!({ "certificates": [std::fs::read_to_string(&signing).unwrap()] });
    let page = browser
        .post_json("/api/certificates/publish", &token, &only_signing)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let (status, body) = deposit(&mut browser, &token, &mine, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = browser
        .post_json("/api/certificates/publish", &token, &publish)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    // The admin's export opens with the agent's key.
    let config = scratch.path().join("sealmail.toml");
    std::fs::write(&config, common::config_text(&browser._db, &extra)).unwrap();
    let out = sealmail(&[
        "recovery",
        "export",
        "--config",
        config.to_str().unwrap(),
        "--email",
        &me,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(pem.starts_with("-----BEGIN CMS-----\n"), "{pem}");
    std::fs::write(scratch.path().join("copy.pem"), &pem).unwrap();
    let opened = Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "PEM", "-in"])
        .arg(scratch.path().join("copy.pem"))
        .arg("-recip")
        .arg(&agent)
        .arg("-inkey")
        .arg(ca.path("agent.key"))
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, payload);

    let out = sealmail(&[
        "recovery",
        "export",
        "--config",
        config.to_str().unwrap(),
        "--email",
        &common::email("bob"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recovery copy is held for"));
}
