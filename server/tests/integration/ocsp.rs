//! Revocation by OCSP against `openssl ocsp` running as a responder on loopback: good, revoked,
//! unknown and unreachable answered as CRLs are (by the checker and by `sealmail cert check`),
//! an answer signed by the wrong key refused, a believed answer remembered, and
//! `ocsp-then-crl` falling back to the CRL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cert_cli::{config_file, line, sealmail};
use crate::certs::*;
use pki::{Reason, Revocation, Status, Usage};
use sealmail_server::config::{PkiConfig, RevocationMethod};

/// `openssl ocsp` answering from `ca`'s index, signing with `signer` (a directory holding
/// `ca.pem` and `ca.key`: the CA itself, or another key for the wrong-signature case).
struct Responder {
    child: Child,
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Responder {
    fn start_on(ca: &Ca, signer: &Path, port: u16) -> Self {
        let p = |f: &str| signer.join(f).to_str().expect("UTF-8 path").to_string();
        let mut child = Command::new("openssl")
            .current_dir(ca.dir.path())
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-ndays",
                "1",
            ])
            .args(["-rsigner", &p("ca.pem"), "-rkey", &p("ca.key")])
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl ocsp starts");
        // It serves one connection at a time, so a probe connection would hold it up: wait
        // for it to say it is listening instead.
        let stderr = child.stderr.take().expect("piped");
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("waiting for OCSP client connections") {
                    let _ = ready.send(());
                }
            }
        });
        listening
            .recv_timeout(Duration::from_secs(10))
            .expect("openssl ocsp listens");
        Self { child }
    }
}

fn issue(ca: &Ca, name: &str, ocsp_url: &str, crl_url: Option<&str>) -> std::path::PathBuf {
    ca.issue_with(
        name,
        Some(&format!("{name}@x.test")),
        None,
        "digitalSignature,keyAgreement",
        crl_url,
        365,
        &format!("authorityInfoAccess=OCSP;URI:{ocsp_url}\n"),
    )
}

fn ocsp_settings(method: RevocationMethod) -> PkiConfig {
    PkiConfig {
        revocation: method,
        ..settings(5, 20, true)
    }
}

fn now() -> i64 {
    sealmail_server::db::now()
}

#[tokio::test]
async fn ocsp_answers_decide_like_crls_and_a_wrongly_signed_one_is_refused() {
    let ca = Ca::new("OCSP CA");
    let port = dead_port().await;
    let url = format!("http://127.0.0.1:{port}/");
    // The certificates name the responder's port, so it is chosen first and the responder
    // started on it once the index holds them.
    let good = issue(&ca, "good", &url, None);
    let bad = issue(&ca, "bad", &url, None);
    let stranger = issue(&ca, "stranger", &url, None);
    ca.record("-valid", &good);
    ca.record("-revoke", &bad);
    let responder = Responder::start_on(&ca, ca.dir.path(), port);
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let first = checker(&db, &ca, ocsp_settings(RevocationMethod::Ocsp));

    let ok = first
        .check(&read_cert(&good), &[], Usage::Encrypt, None, now())
        .await;
    assert!(ok.is_valid(), "{} {:?}", ok.reason(), ok.problems);
    assert_eq!(ok.verdict.revocation, Revocation::Checked);

    let revoked = first
        .check(&read_cert(&bad), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(revoked.verdict.status, Status::Invalid(Reason::Revoked));
    assert_eq!(revoked.reason(), "The certificate has been revoked.");

    let unknown = first
        .check(&read_cert(&stranger), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        unknown.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        unknown
            .reason()
            .contains("the OCSP responder does not know"),
        "{}",
        unknown.reason()
    );

    // The admin's `sealmail cert check` asks the same responder.
    let config = config_file(
        &dir,
        &format!(
            "[pki]\ntrust_anchors = \"{}\"\nrevocation = \"ocsp\"\n\
             revocation_url_retrieval_timeout_seconds = 5\nfetch_from_private_addresses = true\n",
            ca.path("ca.pem").display()
        ),
    );
    for (leaf, said) in [
        (&good, "valid"),
        (&bad, "invalid: The certificate has been revoked."),
    ] {
        let args = [
            "cert".to_string(),
            "check".into(),
            "--config".into(),
            config.display().to_string(),
            "--cert".into(),
            leaf.display().to_string(),
        ];
        let out = tokio::task::spawn_blocking(move || {
            sealmail(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert_eq!(line(&out), said, "{}", String::from_utf8_lossy(&out.stderr));
    }

    // A believed answer is remembered until its nextUpdate: with the responder gone, the good
    // certificate stays good and the revoked one revoked.
    drop(responder);
    let again = first
        .check(&read_cert(&good), &[], Usage::Encrypt, None, now())
        .await;
    assert!(again.is_valid(), "{}", again.reason());
    let still = first
        .check(&read_cert(&bad), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(still.verdict.status, Status::Invalid(Reason::Revoked));

    // Unreachable: the revocation status is unknown, in time, and says why.
    let fresh = checker(&db, &ca, ocsp_settings(RevocationMethod::Ocsp));
    let started = Instant::now();
    let unreachable = fresh
        .check(&read_cert(&good), &[], Usage::Encrypt, None, now())
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        unreachable.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        unreachable.reason().contains("cannot connect"),
        "{}",
        unreachable.reason()
    );

    // An answer signed by a key the issuer never authorised is not believed.
    let other = Ca::new("Not the OCSP CA");
    let _liar = Responder::start_on(&ca, other.dir.path(), port);
    let lied_to = checker(&db, &ca, ocsp_settings(RevocationMethod::Ocsp));
    let refused = lied_to
        .check(&read_cert(&bad), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        refused.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );
    assert!(
        refused
            .reason()
            .contains("not signed by the certificate's issuer"),
        "{}",
        refused.reason()
    );
}

#[tokio::test]
async fn ocsp_then_crl_asks_the_crl_where_ocsp_has_no_answer() {
    let ca = Ca::new("OCSP then CRL CA");
    let crls = CrlServer::start(Behaviour::Serve(Vec::new(), Duration::ZERO)).await;
    let crl_url = crls.url(&format!("{}/ca.crl", unique("fallback")));
    let nobody = format!("http://127.0.0.1:{}/", dead_port().await);
    let revoked = issue(&ca, "revoked", &nobody, Some(&crl_url));
    let fine = issue(&ca, "fine", &nobody, Some(&crl_url));
    crls.set(Behaviour::Serve(ca.crl(&[&revoked]), Duration::ZERO));
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;

    let ocsp_only = checker(&db, &ca, ocsp_settings(RevocationMethod::Ocsp));
    let unknown = ocsp_only
        .check(&read_cert(&fine), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(
        unknown.verdict.status,
        Status::Invalid(Reason::RevocationUnknown)
    );

    let then_crl = checker(&db, &ca, ocsp_settings(RevocationMethod::OcspThenCrl));
    let ok = then_crl
        .check(&read_cert(&fine), &[], Usage::Encrypt, None, now())
        .await;
    assert!(ok.is_valid(), "{}", ok.reason());
    let by_crl = then_crl
        .check(&read_cert(&revoked), &[], Usage::Encrypt, None, now())
        .await;
    assert_eq!(by_crl.verdict.status, Status::Invalid(Reason::Revoked));
}
