//! The certificate directory: imports (PEM, DER, .p7b, LDIF), the lookup order and address
//! matching, list expansion, publishing, and the recipients endpoint through the real router.

use crate::common;

use crate::certs::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use pki::{Certificate, Usage, containers};
use sealmail_server::cli::directory::{ImportArgs, import_command, import_ldif};
use sealmail_server::directory::lookup::{self, Source};
use sealmail_server::directory::{Directory, USER_CERTIFICATE, USER_SMIME_CERTIFICATE, UserSource};

fn der_of(path: &std::path::Path) -> Vec<u8> {
    pem_to_der(&std::fs::read(path).unwrap())
}

/// Both attributes of `person` name the same certificates; returns their fingerprints.
async fn consistent(dir: &Directory, person: &str) -> Vec<[u8; 32]> {
    let mut plain: Vec<[u8; 32]> = dir
        .attribute(person, USER_CERTIFICATE)
        .await
        .unwrap()
        .iter()
        .map(|d| Certificate::from_der(d).unwrap().fingerprint())
        .collect();
    let mut p7: Vec<[u8; 32]> = dir
        .attribute(person, USER_SMIME_CERTIFICATE)
        .await
        .unwrap()
        .iter()
        .flat_map(|v| containers::pkcs7_certificates(v).unwrap())
        .map(|d| Certificate::from_der(&d).unwrap().fingerprint())
        .collect();
    plain.sort();
    p7.sort();
    assert_eq!(
        plain, p7,
        "userCertificate and userSMIMECertificate differ for {person}"
    );
    plain
}

fn import_args(email: &str, files: Vec<std::path::PathBuf>, alias: Vec<String>) -> ImportArgs {
    ImportArgs {
        ldif: None,
        email: Some(email.to_string()),
        name: None,
        alias,
        files,
    }
}

#[tokio::test]
async fn pem_der_p7b_and_ldif_imports_fill_both_attributes_alike() {
    let ca = Ca::new("Import CA");
    let tag = unique("imp");
    let a = format!("a-{tag}@x.test");
    let b = format!("b-{tag}@x.test");
    let c = format!("c-{tag}@x.test");
    let a1 = ca.issue("a1", Some(&a), None, "keyAgreement", None, 365);
    let a2 = ca.issue("a2", None, Some(&a), "digitalSignature", None, 365);
    let b1 = ca.issue("b1", Some(&b), None, "keyAgreement", None, 365);
    let der_file = ca.path("a2.der");
    std::fs::write(&der_file, der_of(&a2)).unwrap();
    let p7b = ca.path("b1.p7b");
    let out = std::process::Command::new("openssl")
        .args(["crl2pkcs7", "-nocrl", "-outform", "DER", "-certfile"])
        .arg(&b1)
        .arg("-certfile")
        .arg(ca.path("ca.pem"))
        .arg("-out")
        .arg(&p7b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tmp = tempfile::tempdir().unwrap();
    let db = database(&tmp).await;
    let dir = Directory::new(db.clone());
    import_command(&dir, import_args(&a, vec![a1.clone()], vec![]))
        .await
        .unwrap();
    import_command(&dir, import_args(&a, vec![der_file], vec![]))
        .await
        .unwrap();
    assert_eq!(
        consistent(&dir, &a).await.len(),
        2,
        "PEM then DER: both kept"
    );
    let lines = import_command(&dir, import_args(&b, vec![p7b], vec![]))
        .await
        .unwrap();
    assert!(lines[0].contains("1 CA certificate"), "{lines:?}");
    assert_eq!(consistent(&dir, &b).await.len(), 1);

    // A certificate for someone else is refused, naming what to do.
    let err = import_command(&dir, import_args(&c, vec![a1.clone()], vec![]))
        .await
        .unwrap_err();
    assert!(err.contains("add --alias"), "{err}");

    // LDIF: userCertificate;binary for one person, a userSMIMECertificate holding a different
    // certificate: both attributes end up with both.
    let c1 = ca.issue("c1", Some(&c), None, "keyAgreement", None, 365);
    let c2 = ca.issue("c2", Some(&c), None, "keyAgreement", None, 365);
    let p7 = containers::pkcs7_certs_only(&[&der_of(&c2)]);
    let ldif = format!(
        "version: 1\n\ndn: CN=C,DC=x\nobjectClass: user\nmail: {c}\ndisplayName: Carol\n\
         userCertificate;binary:: {}\nuserSMIMECertificate;binary:: {}\n\n\
         dn: CN=L,DC=x\nobjectClass: group\nmail: l-{tag}@x.test\nmember: CN=C,DC=x\n",
        B64.encode(der_of(&c1)),
        B64.encode(&p7)
    );
    let lines = import_ldif(&dir, &ldif).await.unwrap();
    assert_eq!(lines[0], "1 people, 1 lists imported");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("held different certificates")),
        "{lines:?}"
    );
    assert_eq!(consistent(&dir, &c).await.len(), 2);
    assert_eq!(
        dir.list_members(&format!("l-{tag}@x.test")).await.unwrap(),
        Some(vec![c.clone()])
    );

    // Garbage is an error, not a panic, and changes nothing.
    let garbage = ca.path("garbage.pem");
    std::fs::write(
        &garbage,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert!(
        import_command(&dir, import_args(&a, vec![garbage], vec![]))
            .await
            .is_err()
    );
    assert_eq!(consistent(&dir, &a).await.len(), 2);
}

#[tokio::test]
async fn lookup_goes_directory_then_contacts_then_harvested_and_matches_aliases() {
    let ca = Ca::new("Lookup CA");
    let stranger = Ca::new("Stranger CA");
    let tag = unique("look");
    let p = format!("p-{tag}@x.test");
    let alias = format!("alias-{tag}@x.test");
    let tmp = tempfile::tempdir().unwrap();
    let db = database(&tmp).await;
    let dir = Directory::new(db.clone());
    let owner = format!("owner-{tag}@x.test");
    // A minute ahead: openssl stamps notBefore with the second each certificate is made.
    let t = sealmail_server::db::now() + 60;
    let check = checker(&db, &ca, settings(5, 60, false));

    // Nothing anywhere.
    let none = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, t).await;
    assert!(none.certificate.is_none());
    assert_eq!(none.reason, format!("No certificate was found for {p}."));

    // Harvested only.
    let harvested = read_cert(&ca.issue("h", Some(&p), None, "keyAgreement", None, 365));
    dir.add_user_certificate(&owner, UserSource::Harvested, &p, &harvested)
        .await
        .unwrap();
    let found = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, t).await;
    assert_eq!(found.source, Some(Source::Harvested));
    // No CRL distribution point: usable (CheckCRL off), with the warning a person can read.
    assert!(found.warning);
    assert!(
        found
            .reason
            .starts_with("The revocation status could not be checked."),
        "{}",
        found.reason
    );

    // A contact beats harvested.
    let contact = read_cert(&ca.issue("k", None, Some(&p), "keyAgreement", None, 365));
    dir.add_user_certificate(&owner, UserSource::Contact, &p, &contact)
        .await
        .unwrap();
    let found = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, t).await;
    assert_eq!(found.source, Some(Source::Contacts));
    assert_eq!(
        found.certificate.unwrap().fingerprint(),
        contact.fingerprint()
    );

    // The directory beats contacts — but an untrusted directory certificate is passed over.
    let untrusted = stranger.issue("u", Some(&p), None, "keyAgreement", None, 365);
    import_command(&dir, import_args(&p, vec![untrusted], vec![]))
        .await
        .unwrap();
    let found = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, t).await;
    assert_eq!(found.source, Some(Source::Contacts), "{}", found.reason);

    // A certificate issued to the alias matches through the person's proxy addresses, and an
    // encryption-only key is preferred over a dual-use one.
    let dual = ca.issue(
        "dual",
        Some(&alias),
        None,
        "digitalSignature,keyAgreement",
        None,
        365,
    );
    let enc = ca.issue("enc", None, Some(&alias), "keyAgreement", None, 365);
    import_command(
        &dir,
        import_args(&p, vec![dual, enc.clone()], vec![alias.clone()]),
    )
    .await
    .unwrap();
    let found = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, t).await;
    assert_eq!(
        found.source,
        Some(Source::DirectoryUserCertificate),
        "{}",
        found.reason
    );
    assert_eq!(
        found.certificate.unwrap().fingerprint(),
        read_cert(&enc).fingerprint()
    );

    // CertMatchingDoNotUseProxies: the alias certificates no longer match; contacts answer.
    let mut strict = settings(5, 60, false);
    strict.cert_matching_do_not_use_proxies = true;
    let strict = checker(&db, &ca, strict);
    let found = lookup::find_certificate(&dir, &strict, &owner, &p, Usage::Encrypt, t).await;
    assert_eq!(found.source, Some(Source::Contacts));

    // Years later everything has expired: no certificate, and the reason says why.
    let later = t + 3 * 365 * 86400;
    let found = lookup::find_certificate(&dir, &check, &owner, &p, Usage::Encrypt, later).await;
    assert!(found.certificate.is_none());
    assert_eq!(
        found.reason,
        format!("No certificate valid now was found for {p}.")
    );
}

#[tokio::test]
async fn publish_writes_both_attributes_and_refuses_strangers_certificates() {
    let ca = Ca::new("Publish CA");
    let tag = unique("pub");
    let me = format!("me-{tag}@x.test");
    let tmp = tempfile::tempdir().unwrap();
    let db = database(&tmp).await;
    let dir = Directory::new(db);
    let sign = read_cert(&ca.issue("s", Some(&me), None, "digitalSignature", None, 365));
    let enc = read_cert(&ca.issue("e", Some(&me), None, "keyAgreement", None, 365));
    let n = dir
        .publish(&me, &[sign.clone(), enc.clone(), ca.certificate()])
        .await
        .unwrap();
    assert_eq!(n, 2, "the CA certificate is not published as mine");
    let mut want = vec![sign.fingerprint(), enc.fingerprint()];
    want.sort();
    assert_eq!(consistent(&dir, &me).await, want);
    // Publishing again replaces the set, in both attributes.
    dir.publish(&me, std::slice::from_ref(&enc)).await.unwrap();
    assert_eq!(consistent(&dir, &me).await, vec![enc.fingerprint()]);
    let other = read_cert(&ca.issue(
        "o",
        Some("someone@else.test"),
        None,
        "keyAgreement",
        None,
        365,
    ));
    let err = dir.publish(&me, &[other]).await.unwrap_err();
    assert!(err.to_string().contains("not for your address"), "{err}");
    assert_eq!(consistent(&dir, &me).await, vec![enc.fingerprint()]);
}

/// A JSON POST as the browser's own page sends it.
async fn post_json(
    browser: &mut common::Browser,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let page = browser.post_json(path, token, &body).await;
    let json = serde_json::from_str(&page.body).unwrap_or(serde_json::Value::Null);
    (page.status, json)
}

#[tokio::test]
async fn the_recipients_endpoint_expands_lists_and_answers_per_recipient() {
    let ca = Ca::new("Endpoint CA");
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let extra = format!(
        "\n[pki]\ntrust_anchors = \"{}\"\nrecipient_limit = 4\ndisable_crl_check = true\n",
        anchors.path().display()
    );
    let mut browser = common::Browser::new(&extra).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    let db_url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", browser._db.path().display()));
    let dir = Directory::new(sealmail_server::db::open(&db_url).await.unwrap());

    let tag = unique("ep");
    let (x, y, z) = (
        format!("x-{tag}@x.test"),
        format!("y-{tag}@x.test"),
        format!("z-{tag}@x.test"),
    );
    let (team, sub) = (format!("team-{tag}@x.test"), format!("sub-{tag}@x.test"));
    let xc = ca.issue("x", Some(&x), None, "keyAgreement", None, 365);
    import_command(&dir, import_args(&x, vec![xc.clone()], vec![]))
        .await
        .unwrap();
    let yc = ca.issue("y", Some(&y), None, "keyAgreement", None, 365);
    import_command(&dir, import_args(&y, vec![yc], vec![]))
        .await
        .unwrap();
    // team → x, sub; sub → y, z, team (a loop).
    dir.upsert_list(&team, "Team", &[x.clone(), sub.clone()])
        .await
        .unwrap();
    dir.upsert_list(&sub, "Sub", &[y.clone(), z.clone(), team.clone()])
        .await
        .unwrap();

    // The sender publishes their own certificate through the endpoint.
    let me = common::email("alice");
    let mine = ca.issue("me", Some(&me), None, "keyAgreement", None, 365);
    let (status, json) = post_json(
        &mut browser,
        "/api/certificates/publish",
        &token,
        serde_json::json!({ "certificates": [B64.encode(der_of(&mine))] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["published"], 1);

    let (status, json) = post_json(
        &mut browser,
        "/api/recipients",
        &token,
        serde_json::json!({ "recipients": [team] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let list = json["recipients"].as_array().unwrap();
    let mut addresses: Vec<&str> = list
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(addresses, [x.as_str(), y.as_str(), z.as_str()]);
    let answer = |a: &str| list.iter().find(|r| r["address"] == a).unwrap().clone();
    assert_eq!(answer(&x)["status"], "ok");
    assert_eq!(answer(&x)["source"], "directory userCertificate");
    assert_eq!(answer(&x)["certificate"], B64.encode(der_of(&xc)));
    assert_eq!(answer(&x)["via"], team.as_str());
    assert_eq!(answer(&y)["via"], sub.as_str());
    assert_eq!(answer(&z)["status"], "none");
    assert_eq!(
        answer(&z)["reason"],
        format!("No certificate was found for {z}.")
    );
    assert!(
        json["problems"][0]
            .as_str()
            .unwrap()
            .contains("contains itself"),
        "{json}"
    );
    assert_eq!(json["sender"]["status"], "ok", "{json}");
    assert_eq!(json["sender"]["certificate"], B64.encode(der_of(&mine)));

    // More than the limit after expansion.
    let (status, json) = post_json(
        &mut browser,
        "/api/recipients",
        &token,
        serde_json::json!({ "recipients": [team, "a@o.test", "b@o.test"] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("more than 4 recipients"),
        "{json}"
    );

    // Without the CSRF token, or from another site: refused.
    let (status, _) = post_json(
        &mut browser,
        "/api/recipients",
        "forged",
        serde_json::json!({ "recipients": [x] }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Adding a verified sender's certificate to contacts.
    let w = format!("w-{tag}@x.test");
    let wc = ca.issue(
        "w",
        None,
        Some(&w),
        "digitalSignature,keyAgreement",
        None,
        365,
    );
    let (status, json) = post_json(
        &mut browser,
        "/api/contacts/certificates",
        &token,
        serde_json::json!({ "certificates": [std::fs::read_to_string(&wc).unwrap()] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["added"][0]["address"], w.as_str());
    let (_, json) = post_json(
        &mut browser,
        "/api/recipients",
        &token,
        serde_json::json!({ "recipients": [w] }),
    )
    .await;
    assert_eq!(json["recipients"][0]["source"], "contacts", "{json}");

    // No session: a JSON 401, not a redirect to the sign-in page.
    let anonymous = Request::post("/api/recipients")
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(r#"{"recipients":[]}"#))
        .unwrap();
    let page = browser.send(anonymous).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("\"error\""), "{}", page.body);
    // From another site, even with the right token: refused before the handler runs.
    let cookies = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let cross = Request::post("/api/certificates/publish")
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "cross-site")
        .header("x-csrf-token", &token)
        .body(Body::from(r#"{"certificates":[]}"#))
        .unwrap();
    assert_eq!(browser.send(cross).await.status, StatusCode::FORBIDDEN);
}
