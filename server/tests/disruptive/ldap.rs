//! The live LDAP directory: the rig's OpenLDAP (`scripts/rig ldap-start`) with entries each test
//! adds through `scripts/rig ldap-add`, looked up through the real router as the compose page
//! does. The outage test stops and stalls that slapd, so it holds the rig's servers alone; the
//! others share them.

use crate::certs::{Ca, pem_to_der};
use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use pki::containers;

fn der_of(path: &std::path::Path) -> Vec<u8> {
    pem_to_der(&std::fs::read(path).unwrap())
}

/// `[directory]` for the rig's slapd, and `[pki]` trusting `ca`.
fn config(ca: &Ca, anchors: &tempfile::TempDir, directory_extra: &str, pki_extra: &str) -> String {
    config_for(
        &rig("RIG_LDAP_URL"),
        ca,
        anchors,
        directory_extra,
        pki_extra,
    )
}

/// [`config`] reaching slapd at `url`.
fn config_for(
    url: &str,
    ca: &Ca,
    anchors: &tempfile::TempDir,
    directory_extra: &str,
    pki_extra: &str,
) -> String {
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    format!(
        "\n[pki]\ntrust_anchors = \"{anchors}\"\ndisable_crl_check = true\n{pki_extra}\n\
         [directory]\nldap_url = \"{url}\"\nbind_dn = \"{dn}\"\nbind_password = \"{pw}\"\n\
         base_dn = \"{base}\"\n{directory_extra}\n",
        anchors = anchors.path().display(),
        dn = rig("RIG_LDAP_BIND_DN"),
        pw = rig("RIG_LDAP_BIND_PASSWORD"),
        base = rig("RIG_LDAP_BASE_DN"),
    )
}

/// Adds entries to the rig's directory.
fn ldap_add(ldif: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ldif).unwrap();
    rig_command(&["ldap-add", file.path().to_str().unwrap()]);
}

/// An LDIF person `uid=<uid>` with `mail`, `proxyAddresses` and any extra lines.
fn person_ldif(uid: &str, name: &str, address: &str, aliases: &[&str], extra: &str) -> String {
    let mut out = format!(
        "dn: uid={uid},ou=people,{base}\nobjectClass: inetOrgPerson\nobjectClass: sealmailRecipient\n\
         uid: {uid}\ncn: {name}\nsn: {name}\ndisplayName: {name}\nmail: {address}\n\
         proxyAddresses: SMTP:{address}\n",
        base = rig("RIG_LDAP_BASE_DN"),
    );
    for a in aliases {
        out.push_str(&format!("proxyAddresses: smtp:{a}\n"));
    }
    out.push_str(extra);
    out.push('\n');
    out
}

fn group_ldif(cn: &str, address: Option<&str>, member_dns: &[String]) -> String {
    let mut out = format!(
        "dn: cn={cn},ou=groups,{base}\nobjectClass: groupOfNames\nobjectClass: sealmailRecipient\ncn: {cn}\n",
        base = rig("RIG_LDAP_BASE_DN"),
    );
    if let Some(a) = address {
        out.push_str(&format!("mail: {a}\n"));
    }
    for m in member_dns {
        out.push_str(&format!("member: {m}\n"));
    }
    out.push('\n');
    out
}

fn person_dn(uid: &str) -> String {
    format!("uid={uid},ou=people,{}", rig("RIG_LDAP_BASE_DN"))
}

fn group_dn(cn: &str) -> String {
    format!("cn={cn},ou=groups,{}", rig("RIG_LDAP_BASE_DN"))
}

async fn recipients(
    browser: &mut Browser,
    token: &str,
    to: &[&str],
) -> (StatusCode, serde_json::Value) {
    let page = browser
        .post_json(
            "/api/recipients",
            token,
            &serde_json::json!({ "recipients": to }),
        )
        .await;
    let json = serde_json::from_str(&page.body).unwrap_or(serde_json::Value::Null);
    (page.status, json)
}

fn answer_for(json: &serde_json::Value, address: &str) -> serde_json::Value {
    json["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no answer for {address} in {json}"))
        .clone()
}

async fn suggest(browser: &mut Browser, token: &str, q: &str) -> Vec<serde_json::Value> {
    let request = Request::get(format!("/api/suggest?q={}", urlencode(q)))
        .header(header::COOKIE, browser.cookie_header())
        .header("x-csrf-token", token)
        .body(Body::empty())
        .unwrap();
    let page = browser.send(request).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    answer["suggestions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn people_are_found_by_mail_and_by_alias_with_their_directory_certificates() {
    let _shared = servers_shared().await;
    let ca = Ca::new("LDAP CA");
    let anchors = tempfile::tempdir().unwrap();
    let tag = unique("ld");
    let domain = rig("RIG_DOMAIN");
    let (pia, quinn) = (
        format!("pia-{tag}@{domain}"),
        format!("quinn-{tag}@{domain}"),
    );
    let alias = format!("pia.alias-{tag}@{domain}");
    let pia_cert = der_of(&ca.issue("pia", Some(&pia), None, "keyEncipherment", None, 365));
    let quinn_cert = der_of(&ca.issue("quinn", None, Some(&quinn), "keyEncipherment", None, 365));
    let p7 = containers::pkcs7_certs_only(&[quinn_cert.as_slice()]);
    // rita's issuer is known only from her own userSMIMECertificate set, as Outlook publishes
    // it: the anchor is the root.
    let sub = Ca::intermediate(&ca, "LDAP Sub CA");
    let rita = format!("rita-{tag}@{domain}");
    let rita_cert = der_of(&sub.issue("rita", None, Some(&rita), "keyEncipherment", None, 365));
    let rita_p7 = containers::pkcs7_certs_only(&[rita_cert.as_slice(), sub.der().as_slice()]);
    ldap_add(&format!(
        "{}{}{}",
        person_ldif(
            &format!("rita-{tag}"),
            &format!("Rita {tag}"),
            &rita,
            &[],
            &format!("userSMIMECertificate:: {}\n", B64.encode(&rita_p7)),
        ),
        person_ldif(
            &format!("pia-{tag}"),
            &format!("Piaf {tag}"),
            &pia,
            &[&alias],
            &format!("userCertificate;binary:: {}\n", B64.encode(&pia_cert)),
        ),
        person_ldif(
            &format!("quinn-{tag}"),
            &format!("Quinn {tag}"),
            &quinn,
            &[],
            &format!("userSMIMECertificate:: {}\n", B64.encode(&p7)),
        ),
    ));

    let mut browser = Browser::new(&config(&ca, &anchors, "", "")).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");

    // By mail, by an alias in proxyAddresses (any case), and from userSMIMECertificate.
    let alias_typed = alias.to_uppercase();
    let (status, json) = recipients(&mut browser, &token, &[&pia, &alias_typed, &quinn]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    for address in [pia.as_str(), alias.as_str()] {
        let a = answer_for(&json, address);
        assert_eq!(a["status"], "ok", "{json}");
        assert_eq!(a["source"], "directory userCertificate", "{json}");
        assert_eq!(a["certificate"], B64.encode(&pia_cert), "{json}");
    }
    let q = answer_for(&json, &quinn);
    assert_eq!(q["status"], "ok", "{json}");
    assert_eq!(q["source"], "directory userSMIMECertificate", "{json}");
    assert_eq!(q["certificate"], B64.encode(&quinn_cert), "{json}");
    assert!(json["problems"].as_array().unwrap().is_empty(), "{json}");
    let (_, json) = recipients(&mut browser, &token, &[&rita]).await;
    let r = answer_for(&json, &rita);
    assert_eq!(r["status"], "ok", "{json}");
    assert_eq!(r["certificate"], B64.encode(&rita_cert), "{json}");
    assert_eq!(r["chain"][0], B64.encode(sub.der()), "{json}");

    // alice is in LDAP without a certificate; the one she publishes through Sealmail counts.
    let me = email("alice");
    let mine = der_of(&ca.issue("alice", Some(&me), None, "keyEncipherment", None, 365));
    let page = browser
        .post_json(
            "/api/certificates/publish",
            &token,
            &serde_json::json!({ "certificates": [B64.encode(&mine)] }),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (_, json) = recipients(&mut browser, &token, &[&me]).await;
    assert_eq!(json["recipients"][0]["status"], "ok", "{json}");
    assert_eq!(
        json["recipients"][0]["certificate"],
        B64.encode(&mine),
        "{json}"
    );

    // The address book search finds them by name, and says they can receive encrypted mail.
    let found = suggest(&mut browser, &token, &format!("piaf {tag}")).await;
    let pia_found = found
        .iter()
        .find(|s| s["address"] == pia.as_str())
        .unwrap_or_else(|| panic!("{found:?}"));
    assert_eq!(pia_found["source"], "directory");
    assert_eq!(pia_found["name"], format!("Piaf {tag}"));
    assert_eq!(pia_found["can_encrypt"], true);
}

#[tokio::test]
async fn groups_expand_nested_once_with_a_loop_noted_and_the_limit_kept() {
    let _shared = servers_shared().await;
    let ca = Ca::new("LDAP group CA");
    let anchors = tempfile::tempdir().unwrap();
    let tag = unique("lg");
    let domain = rig("RIG_DOMAIN");
    let m = |n: &str| format!("{n}-{tag}@{domain}");
    let (m1, m2, m3) = (m("m1"), m("m2"), m("m3"));
    let (g1, g2) = (m("g1"), m("g2"));
    let m1_cert = der_of(&ca.issue("m1", Some(&m1), None, "keyEncipherment", None, 365));
    // g1 → m1, g2; g2 → m2, g1 (a loop), g3; g3 has no address of its own → m3, m1.
    let uid = |n: &str| format!("{n}-{tag}");
    // slapd does not check that a member exists, so the loop goes in with one ldapadd.
    let ldif = [
        person_ldif(
            &uid("m1"),
            "M One",
            &m1,
            &[],
            &format!("userCertificate;binary:: {}\n", B64.encode(&m1_cert)),
        ),
        person_ldif(&uid("m2"), "M Two", &m2, &[], ""),
        person_ldif(&uid("m3"), "M Three", &m3, &[], ""),
        group_ldif(
            &uid("g3"),
            None,
            &[person_dn(&uid("m3")), person_dn(&uid("m1"))],
        ),
        group_ldif(
            &uid("g2"),
            Some(&g2),
            &[
                person_dn(&uid("m2")),
                group_dn(&uid("g1")),
                group_dn(&uid("g3")),
            ],
        ),
        group_ldif(
            &uid("g1"),
            Some(&g1),
            &[person_dn(&uid("m1")), group_dn(&uid("g2"))],
        ),
    ]
    .concat();
    ldap_add(&ldif);

    let mut browser = Browser::new(&config(&ca, &anchors, "", "recipient_limit = 3\n")).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");

    let (status, json) = recipients(&mut browser, &token, &[&g1]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let mut got: Vec<&str> = json["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = [m1.as_str(), m2.as_str(), m3.as_str()];
    want.sort();
    assert_eq!(got, want, "{json}");
    assert_eq!(answer_for(&json, &m1)["via"], g1.as_str());
    assert_eq!(answer_for(&json, &m2)["via"], g2.as_str());
    assert_eq!(answer_for(&json, &m1)["status"], "ok", "{json}");
    assert_eq!(answer_for(&json, &m2)["status"], "none", "{json}");
    let problems = json["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p
            .as_str()
            .unwrap()
            .contains(&format!("{g1} contains itself"))),
        "{json}"
    );

    // One more recipient than the limit, once the groups are expanded.
    let other = format!("other-{tag}@outside.test");
    let (status, json) = recipients(&mut browser, &token, &[&g1, &other]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("more than 3 recipients"),
        "{json}"
    );
}

#[tokio::test]
async fn filter_syntax_in_an_address_or_a_search_matches_nothing() {
    let _shared = servers_shared().await;
    let ca = Ca::new("LDAP injection CA");
    let anchors = tempfile::tempdir().unwrap();
    let mut browser = Browser::new(&config(&ca, &anchors, "", "")).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");

    // Unescaped, "*)(mail=*" would match every entry with a mail address.
    let injected = "*)(mail=*";
    let (status, json) = recipients(&mut browser, &token, &[injected]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let a = &json["recipients"][0];
    assert_eq!(a["status"], "none", "{json}");
    assert_eq!(
        a["reason"],
        format!("No certificate was found for {injected}.")
    );
    assert!(json["problems"].as_array().unwrap().is_empty(), "{json}");

    // The same as a search: the rig's people all have names and addresses, none begins with "*".
    for q in ["*", injected, "a*)(|(cn=*"] {
        let found = suggest(&mut browser, &token, q).await;
        assert!(
            found.iter().all(|s| s["source"] != "directory"),
            "{q}: {found:?}"
        );
    }
    // While a plain prefix does find the rig's people.
    let found = suggest(&mut browser, &token, "Carol Exa").await;
    assert!(
        found
            .iter()
            .any(|s| s["source"] == "directory" && s["address"] == email("carol")),
        "{found:?}"
    );
}

#[tokio::test]
async fn ldaps_and_starttls_reach_the_directory_only_with_its_certificate_trusted() {
    let _shared = servers_shared().await;
    let ca = Ca::new("LDAP TLS CA");
    let trust_rig = format!("ca_file = \"{}\"\n", rig("RIG_TLS_CA"));
    let cases = [
        (rig("RIG_LDAPS_URL"), trust_rig.clone(), true),
        (
            rig("RIG_LDAP_URL"),
            format!("starttls = true\n{trust_rig}"),
            true,
        ),
        // The rig's certificate is self-signed: without ca_file it is not trusted.
        (rig("RIG_LDAPS_URL"), String::new(), false),
        (rig("RIG_LDAP_URL"), "starttls = true\n".to_string(), false),
    ];
    for (url, directory, trusted) in cases {
        let anchors = tempfile::tempdir().unwrap();
        let mut browser = Browser::new(&config_for(&url, &ca, &anchors, &directory, "")).await;
        let inbox = browser.sign_in("alice").await;
        let token = inbox.field("csrf");
        let (status, json) = recipients(&mut browser, &token, &[&email("carol")]).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let problems = json["problems"].as_array().unwrap();
        let found = suggest(&mut browser, &token, "Carol Exa").await;
        let from_ldap = found
            .iter()
            .any(|s| s["source"] == "directory" && s["address"] == email("carol"));
        if trusted {
            assert!(problems.is_empty(), "{url} {directory}: {json}");
            assert!(from_ldap, "{url} {directory}: {found:?}");
        } else {
            assert!(
                problems[0]
                    .as_str()
                    .unwrap()
                    .starts_with("The directory could not be reached"),
                "{url} {directory}: {json}"
            );
            assert!(!from_ldap, "{url} {directory}: {found:?}");
        }
    }
}

#[tokio::test]
async fn a_malformed_certificate_in_the_directory_is_named_as_such() {
    let _shared = servers_shared().await;
    let ca = Ca::new("LDAP malformed CA");
    let anchors = tempfile::tempdir().unwrap();
    let tag = unique("lm");
    let sam = format!("sam-{tag}@{}", rig("RIG_DOMAIN"));
    // userSMIMECertificate has binary syntax: slapd stores whatever it is given.
    ldap_add(&person_ldif(
        &format!("sam-{tag}"),
        "Sam",
        &sam,
        &[],
        &format!(
            "userSMIMECertificate:: {}\n",
            B64.encode(b"not a PKCS#7 certificate set")
        ),
    ));
    let mut browser = Browser::new(&config(&ca, &anchors, "", "")).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    let (status, json) = recipients(&mut browser, &token, &[&sam]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let a = &json["recipients"][0];
    assert_eq!(a["status"], "none", "{json}");
    assert_eq!(
        a["reason"],
        format!(
            "The directory entry for {sam} holds a certificate that could not be read (it is \
             malformed); ask your administrator to replace it."
        )
    );
}

/// Brings the rig's slapd back however the test ends (stopping resumes a paused one first).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rig");
        for command in ["ldap-stop", "ldap-start"] {
            // No assertion here: a panic while a failed test unwinds would abort the run.
            let _ = std::process::Command::new(&script)
                .arg(command)
                .env("STATE_DIR", rig("RIG_STATE_DIR"))
                .status();
        }
    }
}

/// Adds `cert` (a PEM file) to the signed-in user's contacts.
async fn add_contact(browser: &mut Browser, token: &str, cert: &std::path::Path) {
    let page = browser
        .post_json(
            "/api/contacts/certificates",
            token,
            &serde_json::json!({ "certificates": [std::fs::read_to_string(cert).unwrap()] }),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[tokio::test]
async fn a_stalled_or_stopped_directory_is_reported_and_contacts_are_used() {
    let _alone = servers_alone().await;
    let ca = Ca::new("LDAP outage CA");
    let anchors = tempfile::tempdir().unwrap();
    let tag = unique("lo");
    let domain = rig("RIG_DOMAIN");
    let rae = format!("rae-{tag}@{domain}");
    let in_ldap = der_of(&ca.issue("ldap", Some(&rae), None, "keyEncipherment", None, 365));
    let in_contacts = ca.issue("contact", None, Some(&rae), "keyEncipherment", None, 365);
    ldap_add(&person_ldif(
        &format!("rae-{tag}"),
        "Rae",
        &rae,
        &[],
        &format!("userCertificate;binary:: {}\n", B64.encode(&in_ldap)),
    ));
    // No cache, a short deadline: each lookup below asks the directory afresh.
    let directory = "timeout_seconds = 2\ncache_seconds = 0\n";
    let conf = config(&ca, &anchors, directory, "");

    let mut browser = Browser::new(&conf).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    add_contact(&mut browser, &token, &in_contacts).await;
    let (_, json) = recipients(&mut browser, &token, &[&rae]).await;
    assert_eq!(
        json["recipients"][0]["source"], "directory userCertificate",
        "{json}"
    );

    let _restore = Restore;
    // Stalled: slapd accepts the connection and never answers.
    rig_command(&["pause-ldap"]);
    let (status, json) = recipients(&mut browser, &token, &[&rae]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let a = &json["recipients"][0];
    assert_eq!(a["status"], "ok", "{json}");
    assert_eq!(a["source"], "contacts", "{json}");
    assert_eq!(a["certificate"], B64.encode(der_of(&in_contacts)), "{json}");
    let problem = json["problems"][0].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("The directory could not be reached"),
        "{json}"
    );
    assert!(problem.contains("did not answer within 2 s"), "{json}");
    assert!(
        problem.contains("certificates from your contacts"),
        "{json}"
    );
    // The address book search still answers, from the user's own sources.
    suggest(&mut browser, &token, "rae").await;
    rig_command(&["resume-ldap"]);

    // Stopped: nothing listens. A new server, so nothing is remembered from the stall.
    rig_command(&["ldap-stop"]);
    let mut browser = Browser::new(&conf).await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    add_contact(&mut browser, &token, &in_contacts).await;
    let (status, json) = recipients(&mut browser, &token, &[&rae]).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["recipients"][0]["source"], "contacts", "{json}");
    let problem = json["problems"][0].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("The directory could not be reached"),
        "{json}"
    );
    assert!(problem.contains(&rig("RIG_LDAP_URL")), "{json}");
}
