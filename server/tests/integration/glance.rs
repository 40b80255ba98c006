//! Security at a glance (issue 17): the folder list and search results say which messages are
//! signed and which encrypted, from IMAP BODYSTRUCTURE. Real mail through the rig, made by
//! `openssl cms`.

use crate::certs;

use crate::common::*;

/// `openssl cms` output for a small text entity, as a whole message from outside to carol.
fn made_by_openssl(ca: &certs::Ca, subject: &str, args: &[&str]) -> Vec<u8> {
    let dir = ca.dir.path();
    std::fs::write(
        dir.join("in.txt"),
        "Content-Type: text/plain\r\n\r\nHello from outside.\r\n",
    )
    .unwrap();
    let mut all = vec!["cms", "-in", "in.txt", "-out", "out.eml"];
    all.extend_from_slice(args);
    certs::openssl(dir, &all);
    let full = std::fs::read(dir.join("out.eml")).unwrap();
    // openssl writes MIME-Version first; the entity starts at its Content-Type.
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    let mut message = format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {}\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\n",
        email("carol")
    )
    .into_bytes();
    message.extend(&full[start..]);
    message
}

fn plain(subject: &str) -> Vec<u8> {
    format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {}\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nNothing sealed here.\r\n",
        email("carol")
    )
    .into_bytes()
}

/// The list row (`<tr` … `</tr>`) whose subject contains `subject`.
fn row<'a>(page: &'a Page, subject: &str) -> &'a str {
    let at = page
        .body
        .find(subject)
        .unwrap_or_else(|| panic!("{subject} is not listed:\n{}", page.body));
    let start = page.body[..at].rfind("<tr").expect("inside a row");
    let end = page.body[at..].find("</tr>").expect("row closes") + at;
    &page.body[start..end]
}

fn assert_marks(page: &Page, subject: &str, signed: bool, encrypted: bool) {
    let row = row(page, subject);
    assert_eq!(row.contains("Signed."), signed, "{subject}: {row}");
    assert_eq!(row.contains("Encrypted."), encrypted, "{subject}: {row}");
}

#[tokio::test]
async fn the_list_and_search_results_mark_signed_and_encrypted_mail() {
    let ca = certs::Ca::new("Glance CA");
    ca.issue(
        "olivia",
        None,
        Some("olivia@outside.test"),
        "digitalSignature,keyAgreement",
        None,
        30,
    );
    ca.issue(
        "carol",
        None,
        Some(&email("carol")),
        "digitalSignature,keyAgreement",
        None,
        30,
    );
    let marker = unique("glance");
    let sign = ["-sign", "-signer", "olivia.pem", "-inkey", "olivia.key"];
    let mut opaque = sign.to_vec();
    opaque.push("-nodetach");
    let encrypt = ["-encrypt", "-aes-256-cbc", "carol.pem"];
    let messages = [
        (
            "clear",
            made_by_openssl(&ca, &format!("{marker} clear"), &sign),
        ),
        (
            "opaque",
            made_by_openssl(&ca, &format!("{marker} opaque"), &opaque),
        ),
        (
            "sealed",
            made_by_openssl(&ca, &format!("{marker} sealed"), &encrypt),
        ),
        ("plain", plain(&format!("{marker} plain"))),
    ];
    for (_, message) in &messages {
        deliver_from_outside("olivia@outside.test", &email("carol"), message).await;
    }
    assert_count_settles("carol", "INBOX", &marker, 4).await;

    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let inbox = browser.get("/mail?folder=INBOX").await;
    let here = browser
        .get(&format!("/search?q={marker}&field=subject&folder=INBOX"))
        .await;
    let everywhere = browser
        .get(&format!("/search?q={marker}&field=subject&scope=all"))
        .await;
    for page in [&inbox, &here, &everywhere] {
        assert!(page.status.is_success(), "{}", page.body);
        assert_marks(page, &format!("{marker} clear"), true, false);
        assert_marks(page, &format!("{marker} opaque"), true, false);
        assert_marks(page, &format!("{marker} sealed"), false, true);
        assert_marks(page, &format!("{marker} plain"), false, false);
    }
}
