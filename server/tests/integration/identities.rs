//! Identities (issue 18): the From addresses a user sends as. Added and removed on the
//! Identities page as the admin's `[identities] user_addresses` allows; a From that is not the
//! user's refused by the server with the reason; the chosen identity's name and address are the
//! From the recipient reads; a reply is written from the address the message came to; and the
//! directory's aliases are identities without anyone adding them.

use crate::certs;

use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;

/// A server allowing users to add addresses in their own domain.
const DOMAIN_ADDRESSES: &str = "[identities]\nuser_addresses = \"domain\"\n";

/// An address in the rig's domain no other run uses (mail to it is not delivered: it is only a
/// From).
fn fresh(label: &str) -> String {
    format!(
        "{}@{}",
        unique(label).to_ascii_lowercase().replace([' ', ':'], "."),
        rig("RIG_DOMAIN")
    )
}

/// Adds `address` on the Identities page as the user does.
async fn add(browser: &mut Browser, address: &str, name: &str, signature: &str) -> Page {
    let page = browser.get("/identities").await;
    let token = page.field("csrf");
    browser
        .post_form(
            "/identities/save",
            &[
                ("csrf", &token),
                ("address", address),
                ("name", name),
                ("signature", signature),
            ],
        )
        .await
}

/// Removes an added address and makes the sign-in address the default again: with
/// PostgreSQL the database outlives the run, and alice's identities must not pile up.
async fn tidy(browser: &mut Browser, address: &str) {
    let page = browser.get("/identities").await;
    let token = page.field("csrf");
    for (path, address) in [
        ("/identities/default", email("alice")),
        ("/identities/remove", address.to_string()),
    ] {
        let done = browser
            .post_form(path, &[("csrf", &token), ("address", &address)])
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }
}

/// Whether the Identities page lists `address` as one of the user's identities.
fn listed(page: &Page, address: &str) -> bool {
    page.body
        .contains(&format!("name=\"address\" value=\"{address}\""))
}

/// The text of the error the page shows.
fn error(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"identity-error\">")
        .unwrap_or_else(|| panic!("no error shown: {}", page.body))
        + "id=\"identity-error\">".len();
    let end = page.body[at..].find("</p>").unwrap() + at;
    unescape(&page.body[at..end])
}

/// The page as people read it (askama writes `<` as `&#60;`).
fn text(page: &Page) -> String {
    unescape(&page.body.replace("&#60;", "<").replace("&#62;", ">"))
}

/// Whether the compose page offers `address` in From, chosen.
fn chosen_from(page: &Page) -> Option<String> {
    let select = page.body.find("<select id=\"from\"")?;
    let end = page.body[select..].find("</select>")? + select;
    page.body[select..end]
        .split("<option ")
        .find(|o| o.contains(" selected>"))
        .and_then(|o| o.split('"').nth(1))
        .map(unescape)
}

/// The message body the compose page starts with.
fn body_text(page: &Page) -> String {
    let at = page.body.find("name=\"body\"").expect("a body field");
    let start = page.body[at..].find('>').unwrap() + at + 1;
    let end = page.body[start..].find("</textarea>").unwrap() + start;
    unescape(
        &page.body[start..end]
            .replace("&#60;", "<")
            .replace("&#62;", ">"),
    )
}

#[tokio::test]
async fn identities() {
    adding_and_removing_follows_the_admin_setting().await;
    the_server_refuses_a_from_that_is_not_yours().await;
    the_recipient_reads_the_name_and_address_chosen().await;
    a_reply_is_written_from_the_address_it_came_to().await;
    a_signed_message_is_sent_from_the_identity_its_signature_names().await;
    the_directory_aliases_are_identities_without_adding_them().await;
    the_live_directorys_proxy_addresses_are_identities().await;
}

async fn adding_and_removing_follows_the_admin_setting() {
    let mut browser = Browser::new(DOMAIN_ADDRESSES).await;
    browser.sign_in("alice").await;
    let page = browser.get("/identities").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(listed(&page, &email("alice")), "{}", page.body);

    let sales = fresh("sales");
    let added = add(&mut browser, &sales, "Alice Sales", "Alice\nSales team").await;
    assert_eq!(
        added.location.as_deref(),
        Some("/identities?notice=identity-added"),
        "{}",
        added.body
    );
    let page = browser.get("/identities").await;
    assert!(listed(&page, &sales), "{}", page.body);
    assert!(
        text(&page).contains(&format!("Alice Sales <{sales}>")),
        "{}",
        page.body
    );

    // Refused, each with its reason, and nothing kept.
    let outside = fresh("elsewhere").replace(&rig("RIG_DOMAIN"), "outside.test");
    let refused = add(&mut browser, &outside, "", "").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error(&refused).contains(&format!(
            "you can add addresses at {} only",
            rig("RIG_DOMAIN")
        )),
        "{}",
        error(&refused)
    );
    let refused = add(&mut browser, "not an address", "", "").await;
    assert!(error(&refused).contains("is not an e-mail address"));
    let long = "x".repeat(sealmail_server::identities::MAX_SIGNATURE + 1);
    let other = fresh("long");
    let refused = add(&mut browser, &other, "", &long).await;
    assert!(
        error(&refused).contains("signature is too long"),
        "{}",
        error(&refused)
    );
    let page = browser.get("/identities").await;
    assert!(!listed(&page, &outside) && !listed(&page, &other));

    // The sign-in address stays; an added one goes.
    let token = page.field("csrf");
    let refused = browser
        .post_form(
            "/identities/remove",
            &[("csrf", &token), ("address", &email("alice"))],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error(&refused).contains("cannot be removed"));
    let removed = browser
        .post_form(
            "/identities/remove",
            &[("csrf", &token), ("address", &sales)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let page = browser.get("/identities").await;
    assert!(!listed(&page, &sales) && listed(&page, &email("alice")));

    // A server that allows no addresses of the user's own offers no way to add one.
    let mut strict = Browser::new("").await;
    strict.sign_in("alice").await;
    let page = strict.get("/identities").await;
    assert!(page.body.contains("does not let you add addresses"));
    let refused = add(&mut strict, &fresh("strict"), "", "").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error(&refused).contains("your organization does not let you add addresses"));
}

async fn the_server_refuses_a_from_that_is_not_yours() {
    let mut browser = Browser::new(DOMAIN_ADDRESSES).await;
    browser.sign_in("alice").await;
    let subject = unique("forged from");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    // bob's address is in the domain, but alice never added it: not hers.
    fields.push(("from", email("bob")));
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        text(&page).contains(&format!(
            "You may not send as {}: it is not one of your identities",
            email("bob")
        )),
        "{}",
        page.body
    );
    // The sealed path refuses it the same way, before looking at the message.
    let token = form.field("csrf");
    let send_id = form.field("send_id");
    let sealed = browser
        .post_sealed(
            &[
                ("csrf", &token),
                ("send_id", &send_id),
                ("to", &email("bob")),
                ("subject", &subject),
                ("from", &email("bob")),
            ],
            b"Content-Type: text/plain\r\n\r\nnot really sealed\r\n",
        )
        .await;
    assert_eq!(
        sealed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        sealed.body
    );
    assert!(
        sealed.body.contains("You may not send as"),
        "{}",
        sealed.body
    );
    // Settled: nothing went out.
    assert_count_settles("bob", "INBOX", &subject, 0).await;
}

async fn the_recipient_reads_the_name_and_address_chosen() {
    let mut browser = Browser::new(DOMAIN_ADDRESSES).await;
    browser.sign_in("alice").await;
    let sales = fresh("sales");
    add(&mut browser, &sales, "Alice Sales", "Sales team").await;

    // The compose page offers it.
    let form = browser.get("/compose").await;
    assert!(
        chosen_from(&form).is_some(),
        "no From selector: {}",
        form.body
    );
    assert!(
        form.body.contains(&format!("value=\"{sales}\"")),
        "{}",
        form.body
    );

    let subject = unique("from an identity");
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields.push(("from", sales.clone()));
    browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await
        .assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    let raw = fetch_matching("bob", "INBOX", &subject).await.remove(0);
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let from = message.from().and_then(|f| f.first()).expect("a From");
    assert_eq!(from.name(), Some("Alice Sales"));
    assert_eq!(from.address(), Some(sales.as_str()));
    tidy(&mut browser, &sales).await;
}

async fn a_reply_is_written_from_the_address_it_came_to() {
    let mut browser = Browser::new(DOMAIN_ADDRESSES).await;
    browser.sign_in("alice").await;
    let sales = fresh("sales");
    add(&mut browser, &sales, "Alice Sales", "Sales team\nExample").await;

    // The new identity becomes the default: a new message starts from it, signed.
    let page = browser.get("/identities").await;
    let token = page.field("csrf");
    let made = browser
        .post_form(
            "/identities/default",
            &[("csrf", &token), ("address", &sales)],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let form = browser.get("/compose").await;
    assert_eq!(chosen_from(&form), Some(sales.clone()));
    assert!(
        body_text(&form).contains("-- \nSales team\nExample"),
        "{}",
        body_text(&form)
    );

    // Mail to the sign-in address is answered from it, though the default is another.
    let subject = unique("addressed to alice");
    let message = format!(
        "From: Bob <{bob}>\r\nTo: {alice}\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.test>\r\n\r\nHello\r\n",
        bob = email("bob"),
        alice = email("alice"),
        id = unique("m").replace([' ', ':'], "."),
    );
    deliver_from_outside(&email("bob"), &email("alice"), message.as_bytes()).await;
    assert_count_settles("alice", "INBOX", &subject, 1).await;
    let inbox = browser.get("/mail?folder=INBOX").await;
    let uid = inbox.uid_of(&subject);
    let reply = browser
        .get(&format!("/compose?mode=reply&folder=INBOX&uid={uid}"))
        .await;
    assert_eq!(chosen_from(&reply), Some(email("alice")));

    // And mail to the identity from the identity, its signature above the quote.
    let subject = unique("addressed to sales");
    let message = format!(
        "From: Bob <{bob}>\r\nTo: Sales <{sales}>\r\nCc: {alice}\r\nSubject: {subject}\r\n\r\nHello sales\r\n",
        bob = email("bob"),
        alice = email("alice"),
    );
    deliver_from_outside(&email("bob"), &email("alice"), message.as_bytes()).await;
    assert_count_settles("alice", "INBOX", &subject, 1).await;
    let inbox = browser.get("/mail?folder=INBOX").await;
    let uid = inbox.uid_of(&subject);
    let reply = browser
        .get(&format!("/compose?mode=all&folder=INBOX&uid={uid}"))
        .await;
    assert_eq!(chosen_from(&reply), Some(sales.clone()));
    let body = body_text(&reply);
    let signature = body.find("-- \nSales team").expect("the signature");
    let quote = body.find("> Hello sales").expect("the quote");
    assert!(signature < quote, "{body}");
    // Reply all leaves out every address that is alice's, not only her sign-in address.
    assert!(!reply.field("cc").contains(&email("alice")));
    assert!(!reply.field("to").contains(&sales));
    tidy(&mut browser, &sales).await;
}

async fn the_directory_aliases_are_identities_without_adding_them() {
    // A user of their own: the directory entry written here must not change anyone else's.
    let name = unique("idn").to_ascii_lowercase().replace([' ', ':'], ".");
    let address = format!("{name}@{}", rig("RIG_DOMAIN"));
    let password = format!("{name}-pw");
    rig_command(&["add-user", &address, &password]);
    let alias = format!("{name}.alias@{}", rig("RIG_DOMAIN"));

    // The admin allows no addresses of the user's own: the directory's still count.
    let mut browser = Browser::new("").await;
    let db_url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", browser._db.path().display()));
    let dir = sealmail_server::directory::Directory::new(
        sealmail_server::db::open(&db_url).await.unwrap(),
    );
    dir.upsert_person(&sealmail_server::directory::Person {
        address: address.clone(),
        display_name: "Dana Directory".into(),
        aliases: vec![alias.clone()],
    })
    .await
    .unwrap();
    // Dovecot rereads its passwd-file at most once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let login = browser.get("/login").await;
        let token = login.field("login_token");
        let page = browser
            .post_form(
                "/login",
                &[
                    ("email", &address),
                    ("password", &password),
                    ("login_token", &token),
                ],
            )
            .await;
        if page.status == StatusCode::SEE_OTHER {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new user cannot sign in: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = browser.get("/identities").await;
    assert!(listed(&page, &alias), "{}", page.body);
    assert!(page.body.contains("from the directory"));
    assert!(
        text(&page).contains(&format!("Dana Directory <{alias}>")),
        "{}",
        page.body
    );

    let subject = unique("from the alias");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields.push(("from", alias.clone()));
    browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await
        .assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    let raw = fetch_matching("bob", "INBOX", &subject).await.remove(0);
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let from = message.from().and_then(|f| f.first()).expect("a From");
    assert_eq!(from.address(), Some(alias.as_str()));
    assert_eq!(from.name(), Some("Dana Directory"));
}

/// A clear-signed entity made by openssl with `<signer>.pem` in `ca`'s folder, over `content`.
fn signed_entity(ca: &certs::Ca, signer: &str, content: &str) -> Vec<u8> {
    let dir = ca.dir.path();
    std::fs::write(dir.join("in.txt"), content).unwrap();
    let (cert, key) = (format!("{signer}.pem"), format!("{signer}.key"));
    certs::openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-in",
            "in.txt",
            "-signer",
            &cert,
            "-inkey",
            &key,
            "-md",
            "sha256",
            "-out",
            "signed.eml",
        ],
    );
    let full = std::fs::read(dir.join("signed.eml")).unwrap();
    // openssl writes MIME-Version first; the entity starts at its Content-Type.
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    full[start..].to_vec()
}

async fn a_signed_message_is_sent_from_the_identity_its_signature_names() {
    let sales = fresh("signed");
    let ca = certs::Ca::new("Identities CA");
    ca.issue(
        "sales",
        None,
        Some(&sales),
        "digitalSignature,keyAgreement",
        None,
        30,
    );
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let config = format!(
        "{DOMAIN_ADDRESSES}[pki]\ntrust_anchors = \"{}\"\ndisable_crl_check = true\n",
        anchors.path().display()
    );
    let mut browser = Browser::new(&config).await;
    browser.sign_in("alice").await;
    add(&mut browser, &sales, "Alice Signed", "").await;

    // Signed with the identity's own digital ID, its From protected inside the signature.
    let entity = signed_entity(
        &ca,
        "sales",
        &format!("From: {sales}\r\nContent-Type: text/plain\r\n\r\nsigned by sales\r\n"),
    );
    let subject = unique("signed as an identity");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    // Sent as the sign-in address, the signature's From is not the message's: refused.
    fields.push(("from", email("alice")));
    let page = browser.post_sealed(&as_refs(&fields), &entity).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            "says inside its signature that it is from {sales}"
        )),
        "{}",
        page.body
    );
    // Sent as the identity it names: delivered from it.
    fields.pop();
    fields.push(("from", sales.clone()));
    let page = browser.post_sealed(&as_refs(&fields), &entity).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    let raw = fetch_matching("bob", "INBOX", &subject).await.remove(0);
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let from = message.from().and_then(|f| f.first()).expect("a From");
    assert_eq!(from.name(), Some("Alice Signed"));
    assert_eq!(from.address(), Some(sales.as_str()));
    tidy(&mut browser, &sales).await;
}

async fn the_live_directorys_proxy_addresses_are_identities() {
    // The rig's slapd gives each user `proxyAddresses: smtp:<name>.example@<domain>`.
    let directory = format!(
        "[directory]\nldap_url = \"{url}\"\nbind_dn = \"{dn}\"\nbind_password = \"{pw}\"\nbase_dn = \"{base}\"\n",
        url = rig("RIG_LDAP_URL"),
        dn = rig("RIG_LDAP_BIND_DN"),
        pw = rig("RIG_LDAP_BIND_PASSWORD"),
        base = rig("RIG_LDAP_BASE_DN"),
    );
    let mut browser = Browser::new(&directory).await;
    browser.sign_in("alice").await;
    let alias = format!("alice.example@{}", rig("RIG_DOMAIN"));
    let page = browser.get("/identities").await;
    assert!(listed(&page, &alias), "{}", page.body);
    assert!(
        text(&page).contains(&format!("{alias}: from the directory")),
        "{}",
        page.body
    );
    let form = browser.get("/compose").await;
    assert!(
        form.body.contains(&format!("value=\"{alias}\"")),
        "{}",
        form.body
    );
}
