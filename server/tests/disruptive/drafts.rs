//! Drafts the page saves by itself (`POST /compose/draft`): one copy in Drafts however often it
//! saves, encrypted drafts kept without their text, and a failing mailbox that loses nothing.
//! One test at a time: the last part stops the rig's Dovecot.

use crate::certs;

use crate::common::*;
use axum::http::StatusCode;
use mail_parser::{MessageParser, MimeHeaders};

#[tokio::test]
async fn drafts_saved_by_the_page_stay_single_and_survive_a_failing_mailbox() {
    let _alone = servers_alone().await;
    saves_replace_the_previous_copy_and_keep_its_attachments().await;
    an_encrypted_draft_is_kept_without_its_text_and_reopens_with_its_header_fields().await;
    a_stalled_mailbox_keeps_the_old_copy_and_says_so().await;
}

/// The JSON answer of a draft save.
fn answer(page: &Page) -> serde_json::Value {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    serde_json::from_str(&page.body).expect("a JSON answer")
}

fn body_of(raw: &[u8]) -> String {
    let message = MessageParser::default().parse(raw).expect("parses");
    message.body_text(0).unwrap_or_default().into_owned()
}

async fn saves_replace_the_previous_copy_and_keep_its_attachments() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("autosaved");
    let form = browser.get("/compose").await;
    let (csrf, send_id) = (form.field("csrf"), form.field("send_id"));
    let bob = email("bob");

    let first = answer(
        &browser
            .post_draft(
                &[
                    ("csrf", &csrf),
                    ("send_id", &send_id),
                    ("to", &bob),
                    ("subject", &subject),
                    ("body", "first words"),
                ],
                &[("plan.txt", b"step one")],
                None,
            )
            .await,
    );
    let mut uid = first["draft_uid"].as_u64().expect("draft_uid").to_string();
    assert!(first["saved_at"].as_i64().is_some(), "{first}");
    let kept = &first["kept"][0];
    assert_eq!(kept["name"], "plan.txt", "{first}");
    let part = kept["part"].to_string();

    // Later saves keep the attachment as a part of the draft they replace, as the page does.
    for n in 2..=4 {
        let text = format!("words of save {n}");
        let saved = answer(
            &browser
                .post_draft(
                    &[
                        ("csrf", &csrf),
                        ("send_id", &send_id),
                        ("draft_uid", &uid),
                        ("source_folder", "Drafts"),
                        ("source_uid", &uid),
                        ("keep_part", &part),
                        ("to", &bob),
                        ("subject", &subject),
                        ("body", &text),
                    ],
                    &[],
                    None,
                )
                .await,
        );
        let new_uid = saved["draft_uid"].as_u64().expect("draft_uid").to_string();
        assert_ne!(new_uid, uid, "each save is a new copy");
        uid = new_uid;
        assert_eq!(saved["kept"][0]["name"], "plan.txt", "{saved}");
    }
    // A save that lost track of the draft's uid (the page was closed mid-save) still replaces
    // it: the form's send id names it.
    answer(
        &browser
            .post_draft(
                &[
                    ("csrf", &csrf),
                    ("send_id", &send_id),
                    ("to", &bob),
                    ("subject", &subject),
                    ("body", "the last words"),
                ],
                &[],
                None,
            )
            .await,
    );
    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let kept = fetch_matching("alice", "Drafts", &subject).await;
    assert!(body_of(&kept[0]).contains("the last words"));

    // Without the page's token nothing is saved.
    let forged = browser
        .post_draft(
            &[
                ("csrf", "not-the-token"),
                ("send_id", &send_id),
                ("subject", &subject),
                ("body", "forged"),
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_count_settles("alice", "Drafts", &subject, 1).await;
}

/// An AES-256-CBC enveloped-data entity, as the browser's module makes one, for a throw-away
/// certificate: the server never opens it.
fn enveloped_entity(secret: &str) -> Vec<u8> {
    let ca = certs::Ca::new("Draft owner");
    let dir = ca.dir.path();
    std::fs::write(
        dir.join("in.txt"),
        format!("Content-Type: text/plain\r\n\r\n{secret}\r\n"),
    )
    .unwrap();
    certs::openssl(
        dir,
        &[
            "cms", "-encrypt", "-aes256", "-in", "in.txt", "-out", "out.eml", "ca.pem",
        ],
    );
    let full = std::fs::read(dir.join("out.eml")).unwrap();
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    full[start..].to_vec()
}

async fn an_encrypted_draft_is_kept_without_its_text_and_reopens_with_its_header_fields() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("sealed-draft");
    let form = browser.get("/compose").await;
    let (csrf, send_id) = (form.field("csrf"), form.field("send_id"));
    let typed_to = "Bob, not yet an address";
    let fields = [
        ("csrf", csrf.as_str()),
        ("send_id", send_id.as_str()),
        ("to", typed_to),
        ("subject", subject.as_str()),
        // A page that sent its text along anyway: the server must not keep it.
        ("body", "plaintext that must not be stored"),
    ];
    let saved = answer(
        &browser
            .post_draft(
                &fields,
                &[("leak.txt", b"attachment that must not be stored")],
                Some(&enveloped_entity("sealed words")),
            )
            .await,
    );
    assert_eq!(saved["encrypted"], true);
    let uid = saved["draft_uid"].as_u64().expect("draft_uid").to_string();

    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let raw = fetch_matching("alice", "Drafts", &subject).await.remove(0);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("must not be stored"), "{text}");
    assert!(!text.contains("leak.txt"), "{text}");
    let message = MessageParser::default().parse(&raw).unwrap();
    assert!(
        message
            .content_type()
            .is_some_and(|ct| ct.ctype() == "application" && ct.subtype() == Some("pkcs7-mime")),
        "{text}"
    );
    assert_eq!(message.subject(), Some(subject.as_str()));

    // Reopened, the server fills the header fields as typed and leaves the body to the browser.
    let page = browser
        .get(&format!("/compose?mode=draft&folder=Drafts&uid={uid}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = page
        .body
        .find("data-sealed-draft=\"")
        .expect("the page fetches the draft")
        + 19;
    let href = unescape(&page.body[at..at + page.body[at..].find('"').unwrap()]);
    assert_eq!(href, format!("/message/raw?folder=Drafts&uid={uid}"));
    assert_eq!(page.field("to"), typed_to);
    assert_eq!(page.field("draft_uid"), uid);
    assert_eq!(page.field("sealed_draft"), "1");
    assert!(page.body.contains("The subject is not encrypted."));
    assert!(
        !page.body.contains("is encrypted and is not quoted"),
        "no placeholder as body"
    );

    // The page could not open it (no digital ID here): a plain save would store an empty body
    // in its place, so it is refused and the encrypted copy stays.
    let mut plain: Vec<(&str, &str)> = fields.to_vec();
    plain.push(("draft_uid", &uid));
    plain.push(("sealed_draft", "1"));
    plain.retain(|(k, _)| *k != "body");
    let refused = browser.post_draft(&plain, &[], None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("Nothing was saved"),
        "{}",
        refused.body
    );

    // An entity that is not encrypted is not an encrypted draft.
    let readable = b"Content-Type: text/plain\r\n\r\nreadable text\r\n";
    let not_sealed = browser.post_draft(&plain[..4], &[], Some(readable)).await;
    assert_eq!(
        not_sealed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_sealed.body
    );
    assert!(not_sealed.body.contains("not saved"), "{}", not_sealed.body);

    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let still = fetch_matching("alice", "Drafts", &subject).await.remove(0);
    assert_eq!(still, raw, "the encrypted draft is untouched");
}

async fn a_stalled_mailbox_keeps_the_old_copy_and_says_so() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("stalled-draft");
    let form = browser.get("/compose").await;
    let (csrf, send_id) = (form.field("csrf"), form.field("send_id"));
    let save = |body: &'static str, uid: Option<String>| {
        let mut fields = vec![
            ("csrf", csrf.clone()),
            ("send_id", send_id.clone()),
            ("subject", subject.clone()),
            ("body", body.to_string()),
        ];
        if let Some(uid) = uid {
            fields.push(("draft_uid", uid));
        }
        fields
    };
    let first = answer(
        &browser
            .post_draft(&as_refs(&save("saved before", None)), &[], None)
            .await,
    );
    let uid = first["draft_uid"].to_string();
    assert_count_settles("alice", "Drafts", &subject, 1).await;

    rig_command(&["pause-dovecot"]);
    let failed = browser
        .post_draft(
            &as_refs(&save("typed while the mailbox stalled", Some(uid.clone()))),
            &[],
            None,
        )
        .await;
    rig_command(&["resume-dovecot"]);
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert!(
        failed.body.contains("Your draft was not saved") && failed.body.contains("still in Drafts"),
        "{}",
        failed.body
    );
    // The copy saved before is there (the stalled append may land too once Dovecot resumes).
    let copies = fetch_matching("alice", "Drafts", &subject).await;
    assert!(
        copies
            .iter()
            .any(|raw| body_of(raw).contains("saved before")),
        "the earlier copy was lost"
    );

    // The next save leaves exactly one copy, the newest.
    answer(
        &browser
            .post_draft(&as_refs(&save("saved after", Some(uid))), &[], None)
            .await,
    );
    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let kept = fetch_matching("alice", "Drafts", &subject).await;
    assert!(body_of(&kept[0]).contains("saved after"));
}
