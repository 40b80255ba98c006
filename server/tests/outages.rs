//! What the user sees when the mail servers fail. One test at a time: they stop real servers.

mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn outages_lose_nothing_and_send_nothing_twice() {
    smtp_outage_keeps_the_draft_and_the_retry_sends_once().await;
    imap_restart_mid_session_is_invisible().await;
}

async fn smtp_outage_keeps_the_draft_and_the_retry_sends_once() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("outage");
    let form = browser.get("/compose").await;
    let bob = email("bob");
    let fields = compose_fields(&form, &bob, "", &subject);
    let refs = as_refs(&fields);

    rig_command(&["stop-postfix"]);
    let failed = browser
        .post_multipart("/compose", &refs, &[("data.bin", &[1, 2, 3, 0, 255])])
        .await;
    rig_command(&["start-postfix"]);
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        failed.body.contains("Your message was not sent"),
        "{}",
        failed.body
    );
    assert!(failed.body.contains("saved in Drafts") && failed.body.contains("data.bin"));
    assert_count_settles("alice", "Drafts", &subject, 1).await;
    assert_count_settles("bob", "INBOX", &subject, 0).await;

    // The re-shown form carries the draft; sending it now works, once.
    let retry = [
        ("csrf", failed.field("csrf")),
        ("send_id", failed.field("send_id")),
        ("draft_uid", failed.field("draft_uid")),
        ("source_folder", failed.field("source_folder")),
        ("source_uid", failed.field("source_uid")),
        ("keep_part", failed.field("keep_part")),
        ("to", failed.field("to")),
        ("subject", subject.clone()),
        ("body", "Numbers attached.\nAlice".to_string()),
        ("action", "send".to_string()),
    ];
    let refs: Vec<(&str, &str)> = retry.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sent = browser.post_multipart("/compose", &refs, &[]).await;
    assert_eq!(
        sent.location.as_deref(),
        Some("/mail?folder=INBOX&notice=sent"),
        "{}",
        sent.body
    );
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;
}

async fn imap_restart_mid_session_is_invisible() {
    let mut browser = Browser::new("").await;
    browser.sign_in("bob").await;
    rig_command(&["restart-dovecot"]);
    let page = browser.get("/mail?folder=INBOX").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Inbox</h1>"));

    // Right after the restart Postfix's link to Dovecot's SASL service is stale and the first
    // AUTH gets a 4xx; sending must still work (one retry of a definite 4xx).
    let subject = unique("after-restart");
    let form = browser.get("/compose").await;
    let alice = email("alice");
    let fields = compose_fields(&form, &alice, "", &subject);
    let refs = as_refs(&fields);
    let sent = browser.post_multipart("/compose", &refs, &[]).await;
    assert_eq!(
        sent.location.as_deref(),
        Some("/mail?folder=INBOX&notice=sent"),
        "{}",
        sent.body
    );
    assert_count_settles("alice", "INBOX", &subject, 1).await;
}
