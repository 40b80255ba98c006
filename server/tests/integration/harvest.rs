//! Certificates through their life (issue 19): a valid, trusted signature files its signer's
//! certificate in the reader's address book, so writing back can be encrypted without any
//! import; a bad one files nothing; a signature made without certificates verifies once the
//! signer's certificate is known. Real mail through the rig, signed by `openssl cms -sign`.

use crate::certs;

use crate::common::*;
use axum::http::StatusCode;

/// A fresh outside correspondent's address, so runs sharing a database never meet.
fn correspondent(label: &str) -> String {
    format!("{}@outside.test", unique(label))
}

/// A certificate from `ca` for `address`, able to sign and to be encrypted to; its files are
/// `<file>.pem` and `<file>.key` in the CA's folder.
fn issue_for(ca: &certs::Ca, file: &str, address: &str) {
    ca.issue(
        file,
        None,
        Some(address),
        "digitalSignature,keyAgreement",
        None,
        30,
    );
}

/// A whole message from `from` to carol, clear-signed by openssl with `<signer>.pem` and
/// `<signer>.key` in `ca`'s folder; `extra` goes to `openssl cms -sign` (e.g. `-nocerts`).
fn signed_message(
    ca: &certs::Ca,
    signer: &str,
    from: &str,
    subject: &str,
    extra: &[&str],
) -> Vec<u8> {
    let dir = ca.dir.path();
    std::fs::write(
        dir.join("in.txt"),
        "Content-Type: text/plain\r\n\r\nHello from outside.\r\n",
    )
    .unwrap();
    let (cert, key) = (format!("{signer}.pem"), format!("{signer}.key"));
    let mut args = vec!["cms", "-sign", "-in", "in.txt", "-signer", &cert];
    args.extend_from_slice(&["-inkey", &key, "-md", "sha256", "-out", "signed.eml"]);
    args.extend_from_slice(extra);
    certs::openssl(dir, &args);
    let full = std::fs::read(dir.join("signed.eml")).unwrap();
    // openssl writes MIME-Version first; the entity starts at its Content-Type.
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    let mut message = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n",
        email("carol")
    )
    .into_bytes();
    message.extend(&full[start..]);
    message
}

/// A server that trusts only `ca`, without CRLs; the folder of anchors must outlive it.
async fn server_trusting(ca: &certs::Ca) -> (tempfile::TempDir, Browser) {
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let config = format!(
        "[pki]\ntrust_anchors = \"{}\"\ndisable_crl_check = true\n",
        anchors.path().display()
    );
    (anchors, Browser::new(&config).await)
}

/// A JSON POST as the browser's own page sends it.
async fn post_json(
    browser: &mut Browser,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let page = browser.post_json(path, token, &body).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

/// What the compose page would hear about writing to `address`: its status and source.
async fn encryption_to(browser: &mut Browser, token: &str, address: &str) -> (String, String) {
    let answer = post_json(
        browser,
        "/api/recipients",
        token,
        serde_json::json!({ "recipients": [address] }),
    )
    .await;
    let recipient = &answer["recipients"][0];
    (
        recipient["status"].as_str().unwrap_or_default().to_string(),
        recipient["source"].as_str().unwrap_or_default().to_string(),
    )
}

/// Opens the message in carol's Inbox whose subject is `subject`.
async fn open(browser: &mut Browser, subject: &str) -> Page {
    let inbox = browser.get("/mail?folder=INBOX").await;
    let uid = inbox.uid_of(subject);
    let page = browser
        .get(&format!("/message?folder=INBOX&uid={uid}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

/// The address book's row for `address` (its `<tr>` … `</tr>`), if it lists one.
fn address_book_row(page: &Page, address: &str) -> Option<String> {
    let at = page.body.find(&format!("data-address=\"{address}\""))?;
    let end = page.body[at..].find("</tr>")? + at;
    Some(page.body[at..end].to_string())
}

#[tokio::test]
async fn a_valid_signature_files_its_certificate_and_a_bad_one_files_nothing() {
    let ca = certs::Ca::new("Harvest CA");
    let stranger = certs::Ca::new("Stranger CA");
    let (good, altered, untrusted) = (
        correspondent("erin"),
        correspondent("frank"),
        correspondent("grace"),
    );
    issue_for(&ca, "erin", &good);
    issue_for(&ca, "frank", &altered);
    issue_for(&stranger, "grace", &untrusted);
    let subject = unique("harvest");
    let carol = email("carol");

    let message = signed_message(&ca, "erin", &good, &format!("{subject} good"), &[]);
    deliver_from_outside(&good, &carol, &message).await;
    // Signed by frank, then changed on the way: the content no longer matches.
    let message = signed_message(&ca, "frank", &altered, &format!("{subject} altered"), &[]);
    let text = String::from_utf8(message).unwrap();
    let tampered = text.replacen("Hello from outside.", "Hello from elsewhere", 1);
    assert_ne!(tampered, text);
    deliver_from_outside(&altered, &carol, tampered.as_bytes()).await;
    let message = signed_message(
        &stranger,
        "grace",
        &untrusted,
        &format!("{subject} untrusted"),
        &[],
    );
    deliver_from_outside(&untrusted, &carol, &message).await;
    assert_count_settles("carol", "INBOX", &subject, 3).await;

    let (_anchors, mut browser) = server_trusting(&ca).await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");
    for address in [&good, &altered, &untrusted] {
        assert_eq!(encryption_to(&mut browser, &token, address).await.0, "none");
    }

    for (what, address, why) in [
        ("altered", &altered, "altered after it was signed"),
        ("untrusted", &untrusted, "untrusted source"),
    ] {
        let page = open(&mut browser, &format!("{subject} {what}")).await;
        assert!(page.body.contains("smime-banner invalid"), "{what}");
        assert!(page.body.contains(why), "{what}: {}", page.body);
        assert_eq!(
            encryption_to(&mut browser, &token, address).await.0,
            "none",
            "{what} harvested"
        );
    }

    let page = open(&mut browser, &format!("{subject} good")).await;
    assert!(page.body.contains("smime-banner valid"), "{}", page.body);
    // Writing back now offers encryption, with nothing imported.
    assert_eq!(
        encryption_to(&mut browser, &token, &good).await,
        ("ok".to_string(), "signed mail".to_string())
    );

    let book = browser.get("/contacts").await;
    assert_eq!(book.status, StatusCode::OK, "{}", book.body);
    let row = address_book_row(&book, &good)
        .unwrap_or_else(|| panic!("{good} is not listed: {}", book.body));
    assert!(row.contains("CN=erin"), "{row}");
    assert!(row.contains("CN=Harvest CA"), "{row}");
    assert!(row.contains("value=\"harvested\""), "{row}");
    assert!(address_book_row(&book, &altered).is_none());
    assert!(address_book_row(&book, &untrusted).is_none());
    // Opening it again keeps one entry.
    open(&mut browser, &format!("{subject} good")).await;
    let book = browser.get("/contacts").await;
    assert_eq!(
        book.body
            .matches(&format!("data-address=\"{good}\""))
            .count(),
        1
    );

    let fingerprint = {
        let at = row.find("name=\"fingerprint\" value=\"").unwrap() + 26;
        row[at..at + 64].to_string()
    };
    let removed = browser
        .post_form(
            "/contacts/remove",
            &[
                ("csrf", &token),
                ("source", "harvested"),
                ("fingerprint", &fingerprint),
            ],
        )
        .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/contacts?notice=removed"),
        "{}",
        removed.body
    );
    let book = browser.get("/contacts?notice=removed").await;
    assert!(book.body.contains("removed from your address book"));
    assert!(address_book_row(&book, &good).is_none(), "{}", book.body);
    assert_eq!(encryption_to(&mut browser, &token, &good).await.0, "none");

    // A forged token removes nothing.
    open(&mut browser, &format!("{subject} good")).await;
    let forged = browser
        .post_form(
            "/contacts/remove",
            &[
                ("csrf", "forged"),
                ("source", "harvested"),
                ("fingerprint", &fingerprint),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(encryption_to(&mut browser, &token, &good).await.0, "ok");
}

#[tokio::test]
async fn a_signature_without_certificates_verifies_once_the_signers_certificate_is_known() {
    let ca = certs::Ca::new("No Certs CA");
    let (harvested, contact) = (correspondent("heidi"), correspondent("ivan"));
    issue_for(&ca, "heidi", &harvested);
    issue_for(&ca, "ivan", &contact);
    let subject = unique("nocerts");
    let carol = email("carol");
    for (signer, address) in [("heidi", &harvested), ("ivan", &contact)] {
        let bare = signed_message(
            &ca,
            signer,
            address,
            &format!("{subject} {signer} bare"),
            &["-nocerts"],
        );
        assert!(!String::from_utf8_lossy(&bare).is_empty());
        deliver_from_outside(address, &carol, &bare).await;
    }
    let full = signed_message(
        &ca,
        "heidi",
        &harvested,
        &format!("{subject} heidi full"),
        &[],
    );
    deliver_from_outside(&harvested, &carol, &full).await;
    assert_count_settles("carol", "INBOX", &subject, 3).await;

    let (_anchors, mut browser) = server_trusting(&ca).await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");

    // Unknown signer: the missing certificate is said plainly, and nothing is kept.
    for signer in ["heidi", "ivan"] {
        let page = open(&mut browser, &format!("{subject} {signer} bare")).await;
        assert!(page.body.contains("smime-banner invalid"), "{signer}");
        assert!(
            page.body
                .contains("The signer&#39;s certificate is not included in the message")
                || page
                    .body
                    .contains("The signer's certificate is not included in the message"),
            "{signer}: {}",
            page.body
        );
    }
    assert_eq!(
        encryption_to(&mut browser, &token, &harvested).await.0,
        "none"
    );

    // Known from a signature that carried it (harvested).
    let page = open(&mut browser, &format!("{subject} heidi full")).await;
    assert!(page.body.contains("smime-banner valid"), "{}", page.body);
    let page = open(&mut browser, &format!("{subject} heidi bare")).await;
    assert!(page.body.contains("smime-banner valid"), "{}", page.body);

    // Known from contacts: added as "Add sender's certificate to contacts" adds it.
    let pem = std::fs::read_to_string(ca.path("ivan.pem")).unwrap();
    let added = post_json(
        &mut browser,
        "/api/contacts/certificates",
        &token,
        serde_json::json!({ "certificates": [pem] }),
    )
    .await;
    assert_eq!(added["added"][0]["address"], contact.as_str(), "{added}");
    let page = open(&mut browser, &format!("{subject} ivan bare")).await;
    assert!(page.body.contains("smime-banner valid"), "{}", page.body);
    // A certificate the server offered was known already: it is not harvested as well.
    let book = browser.get("/contacts").await;
    let row = address_book_row(&book, &contact).unwrap();
    assert!(row.contains("value=\"contact\""), "{row}");
    assert_eq!(
        book.body
            .matches(&format!("data-address=\"{contact}\""))
            .count(),
        1,
        "{}",
        book.body
    );
}
