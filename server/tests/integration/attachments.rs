//! Downloading one attachment fetches that part from the IMAP server (`BODY.PEEK[section]`), not
//! the whole message, and still gives exactly the bytes the sender attached: for nested
//! multiparts, an inline image, a forwarded message, quoted-printable text and clear-signed
//! mail. A link whose section or digest was tampered with still gives the right part, read
//! from the whole message, and nothing a link carries reaches the IMAP command unchecked.

use crate::certs;
use crate::common::proxy::CountingProxy;
use crate::common::*;
use axum::http::StatusCode;

/// Every `/attachment?…` link on a page, in order.
fn attachment_links(page: &Page) -> Vec<String> {
    page.body
        .match_indices("/attachment?")
        .map(|(at, _)| {
            let end = page.body[at..]
                .find(['"', '\''])
                .map_or(page.body.len(), |e| e + at);
            unescape(&page.body[at..end])
        })
        .collect()
}

#[tokio::test]
async fn one_attachment_is_fetched_alone_and_is_exactly_what_was_attached() {
    let proxy = CountingProxy::start(rig("RIG_IMAP_PORT").parse().expect("port")).await;
    let mut browser = Browser::through_imap_proxy(proxy.port, "").await;
    let marker = unique("parts");
    let pdf: Vec<u8> = (0..=255u8).cycle().take(40_000).collect();
    let png: Vec<u8> = (0..3_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let forwarded =
        "From: someone@outside.test\r\nSubject: the forwarded one\r\n\r\nForwarded words.\r\n";
    let csv = "name,amount\r\nwidget,=E2=82=AC5\r\n";
    let nested = format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {carol}\r\nSubject: {marker} nested\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n\
         --a\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee the logo.\r\n\
         --b\r\nContent-Type: multipart/related; boundary=\"c\"\r\n\r\n\
         --c\r\nContent-Type: text/html\r\n\r\n<p>See <img src=\"cid:logo@outside.test\"></p>\r\n\
         --c\r\nContent-Type: image/png\r\nContent-ID: <logo@outside.test>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{png64}--c--\r\n--b--\r\n\
         --a\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{pdf64}\
         --a\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{forwarded}\
         --a\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Disposition: attachment; filename=\"sums.csv\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{csv}--a--\r\n",
        carol = email("carol"),
        png64 = base64_lines(&png),
        pdf64 = base64_lines(&pdf),
    );

    // Clear-signed by openssl: the attachment sits inside the signed entity.
    let ca = certs::Ca::new("Parts CA");
    ca.issue(
        "olivia",
        None,
        Some("olivia@outside.test"),
        "digitalSignature",
        None,
        30,
    );
    let dir = ca.dir.path();
    std::fs::write(
        dir.join("entity.txt"),
        format!(
            "Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\n\
             Signed, with a file.\r\n--s\r\nContent-Type: application/pdf\r\n\
             Content-Disposition: attachment; filename=\"signed.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}--s--\r\n",
            base64_lines(&pdf[..5_000])
        ),
    )
    .expect("write entity");
    certs::openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-in",
            "entity.txt",
            "-out",
            "signed.eml",
            "-signer",
            "olivia.pem",
            "-inkey",
            "olivia.key",
        ],
    );
    let signed_out = std::fs::read(dir.join("signed.eml")).expect("signed");
    let start = String::from_utf8_lossy(&signed_out)
        .find("Content-Type")
        .expect("entity");
    let mut signed = format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {}\r\nSubject: {marker} signed\r\n\
         MIME-Version: 1.0\r\n",
        email("carol")
    )
    .into_bytes();
    signed.extend(&signed_out[start..]);

    for message in [nested.as_bytes(), &signed] {
        deliver_from_outside("olivia@outside.test", &email("carol"), message).await;
    }
    assert_count_settles("carol", "INBOX", &marker, 2).await;
    let inbox = browser.sign_in("carol").await;

    let open = |subject: &str| format!("/message?folder=INBOX&uid={}", inbox.uid_of(subject));
    let page = browser.get(&open(&format!("{marker} nested"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let links = attachment_links(&page);
    let signed_page = browser.get(&open(&format!("{marker} signed"))).await;
    assert!(
        signed_page.body.contains("smime-banner"),
        "{}",
        signed_page.body
    );
    let signed_links = attachment_links(&signed_page);
    assert!(
        links
            .iter()
            .chain(&signed_links)
            .all(|l| l.contains("&section=")),
        "{links:?} {signed_links:?}"
    );

    let before = proxy.client_said().len();
    let mut downloads = Vec::new();
    for link in links.iter().chain(&signed_links) {
        let got = browser.get(link).await;
        assert_eq!(got.status, StatusCode::OK, "{link}: {}", got.body);
        downloads.push(got.bytes);
    }
    // The line break before a boundary belongs to the boundary.
    let expected: Vec<&[u8]> = vec![
        &pdf,
        forwarded.trim_end().as_bytes(),
        "name,amount\r\nwidget,€5".as_bytes(),
        &pdf[..5_000],
    ];
    for wanted in &expected {
        assert!(
            downloads.iter().any(|d| d.as_slice() == *wanted),
            "no download gave {} bytes starting {:?}; they gave {:?}",
            wanted.len(),
            String::from_utf8_lossy(&wanted[..20.min(wanted.len())]),
            downloads
                .iter()
                .map(
                    |d| String::from_utf8_lossy(&d[..40.min(d.len())]).into_owned()
                        + &format!(" ({})", d.len())
                )
                .collect::<Vec<_>>()
        );
    }
    assert!(
        downloads.iter().any(|d| d.as_slice() == png.as_slice()),
        "the inline image is fetched alone too"
    );
    let said = proxy.client_said()[before..].to_ascii_uppercase();
    assert!(
        !said.contains("BODY.PEEK[]"),
        "a whole message was fetched: {said}"
    );
    assert!(said.contains("BODY.PEEK[2]"), "{said}");
    assert!(
        said.contains("BODY.PEEK[1.2]"),
        "the signed entity's part: {said}"
    );

    // A link tampered with still gives the right part, read from the whole message; what it
    // carries never reaches the command unchecked.
    let report = links
        .iter()
        .find(|l| l.contains("&section=2&"))
        .expect("the PDF's link");
    let section_at = report.find("&section=").expect("section");
    let plain_part = &report[..section_at];
    for tampered in [
        format!("{plain_part}&section=2&sum=00000000000000000000000000000000"),
        format!(
            "{plain_part}&section=3&sum={}",
            &report[report.find("&sum=").expect("sum") + 5..]
        ),
        format!("{plain_part}&section=2%5D%20BODY%5B%5D&sum=0"),
        format!("{plain_part}&section=2%0D%0AA1%20LOGOUT&sum=0"),
        plain_part.to_string(),
    ] {
        let got = browser.get(&tampered).await;
        assert_eq!(got.status, StatusCode::OK, "{tampered}: {}", got.body);
        assert_eq!(got.bytes, pdf, "{tampered}");
    }
    let said = proxy.client_said().to_ascii_uppercase();
    assert!(
        !said.contains("LOGOUT\r\nA1") && !said.contains("] BODY["),
        "{said}"
    );
}
