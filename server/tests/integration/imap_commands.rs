//! What Sealmail asks of the IMAP server, read off the wire: it does not search for what it has
//! just stored, since the server says where it put it (RFC 4315 APPENDUID).

use crate::common::proxy::CountingProxy;
use crate::common::*;

#[tokio::test]
async fn a_saved_draft_and_a_sent_copy_are_not_searched_for() {
    let imap = rig("RIG_IMAP_PORT");
    let proxy = CountingProxy::start(imap.parse().expect("port")).await;
    // In the clear, so the proxy can read the commands.
    let mut browser = Browser::with_config(
        |text| {
            text.replace(
                &format!("port = {imap}\n        security = \"starttls\""),
                &format!("port = {}\n        security = \"plain\"", proxy.port),
            )
        },
        "",
    )
    .await;
    browser.sign_in("alice").await;
    let subject = unique("uidplus");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[7].1 = "save".into();
    let saved = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    let location = saved.location.expect("redirect to the saved draft");
    // The draft reopens from the UID the server gave.
    let reopened = browser.get(&location).await;
    assert!(reopened.body.contains("Draft saved."), "{}", reopened.body);
    assert!(reopened.body.contains(&subject), "{}", reopened.body);

    let send = vec![
        ("csrf", reopened.field("csrf")),
        ("send_id", reopened.field("send_id")),
        ("draft_uid", reopened.field("draft_uid")),
        ("source_folder", reopened.field("source_folder")),
        ("source_uid", reopened.field("source_uid")),
        ("to", email("bob")),
        ("subject", subject.clone()),
        ("body", "stored where the server said".into()),
        ("action", "send".into()),
    ];
    browser
        .post_multipart("/compose", &as_refs(&send), &[])
        .await
        .assert_sent();
    assert_count_settles("alice", "Sent", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;

    let said = proxy.client_said().to_ascii_uppercase();
    assert_eq!(said.matches(" APPEND ").count(), 2, "{said}");
    assert!(!said.contains("HEADER MESSAGE-ID"), "{said}");
}
