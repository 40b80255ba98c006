//! What Sealmail asks of the IMAP server, read off the wire: it does not search for what it has
//! just stored, since the server says where it put it (RFC 4315 APPENDUID).

use crate::common::proxy::CountingProxy;
use crate::common::*;

#[tokio::test]
async fn a_saved_draft_and_a_sent_copy_are_not_searched_for() {
    let proxy = CountingProxy::start(rig("RIG_IMAP_PORT").parse().expect("port")).await;
    let mut browser = Browser::through_imap_proxy(proxy.port, "").await;
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

    let send = draft_send_fields(
        &reopened,
        email("bob"),
        subject.clone(),
        "stored where the server said",
    );
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
