//! The personal address book (issue 18): contacts added, edited and deleted by hand; `.vcf`
//! files imported (all or nothing) and exported so they import back; "Add sender to contacts"
//! from a message; and the suggestions the compose page shows while recipients are typed, from
//! contacts, the directory and recent sends, each saying whether it can be encrypted to.
//! (The vCard reader's own cases — folding, escapes, versions — are unit tests in
//! `src/contacts/vcard.rs`.)

use crate::certs;

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

/// An address no other run will use.
fn fresh(label: &str) -> String {
    format!("{}@outside.test", unique(label).replace([' ', ':'], "."))
}

/// Posts a `.vcf` file to the import form, as the browser sends it.
async fn import(browser: &mut Browser, token: &str, vcf: &[u8]) -> Page {
    browser
        .post_files(
            "/contacts/import",
            &[("csrf", token)],
            &[("vcf", "contacts.vcf", "text/vcard", vcf)],
        )
        .await
}

/// The address book narrowed to people whose name or an address contains `needle`.
async fn find(browser: &mut Browser, needle: &str) -> Page {
    let page = browser
        .get(&format!("/contacts?q={}", urlencode(needle)))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

/// Whether the address book page lists `address` on a contact.
fn listed(page: &Page, address: &str) -> bool {
    page.body.contains(&format!("data-address=\"{address}\""))
}

/// The text of the import's report on the page.
fn report(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"import-report\">")
        .unwrap_or_else(|| panic!("no import report: {}", page.body))
        + "id=\"import-report\">".len();
    let end = page.body[at..].find("</p>").unwrap() + at;
    unescape(&page.body[at..end])
}

/// The export, as the browser downloads it.
async fn export(browser: &mut Browser) -> String {
    let page = browser.get("/contacts/export").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/vcard"),
    );
    assert!(
        page.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("contacts.vcf")
    );
    page.body
}

/// `count` cards for fresh people, in the shapes other programs write: vCard 3.0 with a name
/// that needs escaping and a folded note, and 4.0 with two addresses.
fn cards(label: &str, count: usize) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut addresses = Vec::new();
    for i in 0..count {
        let address = fresh(&format!("{label}{i}"));
        if i % 2 == 0 {
            text.push_str(&format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Person{i};{label}\r\nFN:Person{i}\\, {label}\r\n\
                 EMAIL;TYPE=INTERNET:{address}\r\nTEL;TYPE=CELL:+1 555 {i:04}\r\n\
                 NOTE:Imported with the rest\\, number {i}\\; this line is long enough to b\r\n e folded\r\n\
                 END:VCARD\r\n"
            ));
        } else {
            text.push_str(&format!(
                "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:{label} Person{i}\r\nEMAIL;PREF=1:{address}\r\n\
                 EMAIL;TYPE=work:work.{address}\r\nUID:urn:uuid:{address}\r\nEND:VCARD\r\n"
            ));
        }
        addresses.push(address);
    }
    (text, addresses)
}

#[tokio::test]
async fn a_contact_is_added_edited_and_deleted_and_a_bad_address_is_named() {
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let form = browser.get("/contacts/edit").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let token = form.field("csrf");
    let name = unique("Hanna Kowalski");
    let address = fresh("hanna");

    let page = browser
        .post_form(
            "/contacts/save",
            &[
                ("csrf", &token),
                ("name", &name),
                ("addresses", &format!("{address}\nhanna at example")),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        unescape(&page.body).contains("\"hanna at example\" is not an e-mail address"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&name), "what was typed is kept");
    assert!(!listed(&find(&mut browser, &address).await, &address));

    let page = browser
        .post_form(
            "/contacts/save",
            &[
                ("csrf", &token),
                ("name", &name),
                ("addresses", &address.to_uppercase()),
                ("phone", "+48 22 000 00 00"),
                ("notes", "Met at the fair"),
            ],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/contacts?notice=contact-saved")
    );
    let book = browser
        .get(&format!(
            "/contacts?notice=contact-saved&q={}",
            urlencode(&address)
        ))
        .await;
    assert!(book.body.contains("The contact was saved."));
    let at = book.body.find(&name).expect("listed");
    let row = &book.body[at..at + book.body[at..].find("</tr>").unwrap()];
    assert!(row.contains(&address), "stored lower-cased: {row}");
    assert!(row.contains("+48 22 000 00 00") && row.contains("Met at the fair"));
    assert!(
        row.contains("cannot receive encrypted mail</span>: No certificate was found"),
        "{row}"
    );

    let uid_at = book.body[..at].rfind("data-contact=\"").unwrap() + "data-contact=\"".len();
    let uid = unescape(&book.body[uid_at..uid_at + book.body[uid_at..].find('"').unwrap()]);
    let second = fresh("hanna-work");
    let page = browser
        .post_form(
            "/contacts/save",
            &[
                ("csrf", &token),
                ("uid", &uid),
                ("name", &format!("{name} K.")),
                ("addresses", &format!("{address}\n{second}")),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let book = find(&mut browser, &address).await;
    assert!(book.body.contains(&format!("{name} K.")) && listed(&book, &second));
    assert_eq!(
        book.body
            .matches(&format!("data-address=\"{address}\""))
            .count(),
        1
    );

    let page = browser
        .post_form("/contacts/delete", &[("csrf", &token), ("uid", &uid)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/contacts?notice=contact-deleted")
    );
    let book = find(&mut browser, &address).await;
    assert!(!listed(&book, &address) && !listed(&find(&mut browser, &second).await, &second));
    // Saving it from a form left open in another tab does not bring it back.
    let page = browser
        .post_form(
            "/contacts/save",
            &[
                ("csrf", &token),
                ("uid", &uid),
                ("name", &name),
                ("addresses", &address),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("That contact is no longer in your address book")
    );
    assert!(!listed(&find(&mut browser, &address).await, &address));
    // Without the page's token nothing changes.
    let page = browser
        .post_form(
            "/contacts/save",
            &[("csrf", "forged"), ("name", "X"), ("addresses", &address)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!listed(&find(&mut browser, &address).await, &address));
}

#[tokio::test]
async fn a_hundred_contacts_import_and_the_export_imports_back() {
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let token = browser.get("/contacts").await.field("csrf");
    let label = unique("imp").replace([' ', '-'], "");
    let (mut vcf, addresses) = cards(&label, 100);
    // One card without any address: skipped, and said why.
    vcf.push_str(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Only A Phone\r\nTEL:+1 555 0000\r\nEND:VCARD\r\n",
    );
    let page = import(&mut browser, &token, vcf.as_bytes()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        report(&page),
        "100 contacts added, 0 updated, 1 skipped (contact 101 \"Only A Phone\": A contact needs at least one e-mail address.)."
    );
    let first = find(&mut browser, &addresses[0]).await;
    assert!(
        first.body.contains(&format!("Person0, {label}")),
        "escaped comma read"
    );
    assert!(
        first
            .body
            .contains("number 0; this line is long enough to be folded")
    );

    let exported = export(&mut browser).await;
    for address in &addresses {
        assert!(exported.contains(address.as_str()), "{address} exported");
        assert!(exported.contains(&format!("work.{}", addresses[1])));
    }
    // Exported and imported again: the same people, updated, none added twice.
    let page = import(&mut browser, &token, exported.as_bytes()).await;
    let summary = report(&page);
    assert!(
        summary.starts_with("0 contacts added, ") && summary.ends_with(" updated, 0 skipped."),
        "{summary}"
    );
    let book = find(&mut browser, &addresses[7]).await;
    assert_eq!(
        book.body
            .matches(&format!("data-address=\"{}\"", addresses[7]))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_damaged_foreign_or_huge_file_changes_nothing() {
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let token = browser.get("/contacts").await.field("csrf");
    let first = fresh("first-of-damaged");
    let damaged = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:First\r\nEMAIL:{first}\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Second\r\nEMAIL:second"
    );
    let page = import(&mut browser, &token, damaged.as_bytes()).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "Nothing was imported. The file is damaged near contact 2: the card is cut off"
        ),
        "{}",
        page.body
    );
    assert!(
        !export(&mut browser).await.contains(&first),
        "the good first card was not kept"
    );

    let page = import(&mut browser, &token, b"Name,E-mail\nAnn,ann@x.org\n").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("This is not a vCard (.vcf) file"),
        "{}",
        page.body
    );

    let (many, addresses) = cards("many", 10_001);
    assert!(many.len() < 5 * 1024 * 1024);
    let page = import(&mut browser, &token, many.as_bytes()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("more than 10000 contacts"),
        "{}",
        page.body
    );
    assert!(!export(&mut browser).await.contains(&addresses[0]));

    let mut huge = many.into_bytes();
    huge.resize(6 * 1024 * 1024, b'\n');
    let page = import(&mut browser, &token, &huge).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("The file is larger than 5 MB"),
        "{}",
        page.body
    );
    assert!(!export(&mut browser).await.contains(&addresses[0]));
}

/// Mail from an outside sender, delivered to carol.
fn plain_message(from_name: &str, from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: \"{from_name}\" <{from}>\r\nTo: {}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain\r\n\r\nHello.\r\n",
        email("carol")
    )
    .into_bytes()
}

#[tokio::test]
async fn add_sender_to_contacts_in_one_click() {
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let sender = fresh("ingrid");
    let subject = unique("add me");
    deliver_from_outside(
        &sender,
        &email("carol"),
        &plain_message("Ingrid, Q.", &sender, &subject),
    )
    .await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    let inbox = browser.get("/mail?folder=INBOX").await;
    let message = browser
        .get(&format!(
            "/message?folder=INBOX&uid={}",
            inbox.uid_of(&subject)
        ))
        .await;
    assert!(message.body.contains("Add sender to contacts"));
    let fields = [
        ("csrf", message.field("csrf")),
        ("name", "Ingrid, Q.".to_string()),
        ("address", sender.clone()),
    ];
    let page = browser
        .post_form("/contacts/from-message", &as_refs(&fields))
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/contacts?notice=contact-added")
    );
    let book = find(&mut browser, &sender).await;
    assert!(book.body.contains("Ingrid, Q.") && listed(&book, &sender));
    // A second click adds nobody twice.
    let page = browser
        .post_form("/contacts/from-message", &as_refs(&fields))
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/contacts?notice=contact-known")
    );
    let book = find(&mut browser, &sender).await;
    assert_eq!(
        book.body
            .matches(&format!("data-address=\"{sender}\""))
            .count(),
        1
    );
}

/// What the compose page's script hears for `q`.
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
async fn suggestions_come_from_contacts_the_directory_and_recent_sends() {
    let ca = certs::Ca::new("Suggest CA");
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let mut browser = Browser::new(&format!(
        "[pki]\ntrust_anchors = \"{}\"\ndisable_crl_check = true\n",
        anchors.path().display()
    ))
    .await;
    browser.sign_in("carol").await;
    let token = browser.get("/contacts").await.field("csrf");
    let tag = unique("zq").replace([' ', '-'], "");

    // A contact, by hand.
    let contact = fresh("contact");
    browser
        .post_form(
            "/contacts/save",
            &[
                ("csrf", &token),
                ("name", &format!("Jolanta {tag}")),
                ("addresses", &contact),
            ],
        )
        .await;
    // A person in the directory, with a certificate.
    let person = fresh("directory");
    let pem = ca.issue(
        "person",
        None,
        Some(&person),
        "digitalSignature,keyAgreement",
        None,
        30,
    );
    let db_url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", browser._db.path().display()));
    let dir = sealmail_server::directory::Directory::new(
        sealmail_server::db::open(&db_url).await.unwrap(),
    );
    dir.upsert_person(&sealmail_server::directory::Person {
        address: person.clone(),
        display_name: format!("Jerzy {tag}"),
        aliases: Vec::new(),
    })
    .await
    .unwrap();
    dir.set_certificates(&person, &[certs::pem_to_der(&std::fs::read(pem).unwrap())])
        .await
        .unwrap();
    // An address carol sent to (the rig delivers only to its own users).
    let recent = email("bob");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &recent, "", "to be remembered");
    browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await
        .assert_sent();

    let found = suggest(&mut browser, &token, &tag).await;
    assert_eq!(
        found.len(),
        2,
        "the contact and the directory person: {found:?}"
    );
    let by_address = |a: &str| {
        found
            .iter()
            .find(|s| s["address"] == a)
            .unwrap_or_else(|| panic!("{a} not suggested: {found:?}"))
    };
    let c = by_address(&contact);
    assert_eq!(
        (c["name"].as_str(), c["source"].as_str()),
        (Some(format!("Jolanta {tag}").as_str()), Some("contacts"))
    );
    assert_eq!(c["can_encrypt"], false);
    let d = by_address(&person);
    assert_eq!(
        (d["source"].as_str(), d["can_encrypt"].as_bool()),
        (Some("directory"), Some(true))
    );
    let recently = suggest(&mut browser, &token, &recent).await;
    assert_eq!(recently.len(), 1, "{recently:?}");
    assert_eq!(recently[0]["source"], "recent");

    // Part of a name, in any case, finds only that person.
    let found = suggest(
        &mut browser,
        &token,
        &format!("jerzy {}", tag.to_uppercase()),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["address"], person.as_str());
    // Wildcards are text, not patterns.
    assert!(
        suggest(&mut browser, &token, "%")
            .await
            .iter()
            .all(|s| s["address"].as_str().unwrap_or_default().contains('%'))
    );

    // The address book shows the directory person's certificate on a contact with that address.
    browser
        .post_form(
            "/contacts/save",
            &[("csrf", &token), ("name", "Jerzy"), ("addresses", &person)],
        )
        .await;
    let book = find(&mut browser, &person).await;
    let at = book
        .body
        .find(&format!("data-address=\"{person}\""))
        .unwrap();
    let item = &book.body[at..at + book.body[at..].find("</li>").unwrap()];
    assert!(item.contains("can receive encrypted mail"), "{item}");
    assert!(
        item.contains("issued by") && item.contains("Suggest CA"),
        "{item}"
    );

    // Without the page's token, nothing is told.
    let request = Request::get("/api/suggest?q=a")
        .header(header::COOKIE, browser.cookie_header())
        .body(Body::empty())
        .unwrap();
    assert_eq!(browser.send(request).await.status, StatusCode::FORBIDDEN);
}
