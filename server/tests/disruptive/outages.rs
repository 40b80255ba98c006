//! What the user sees when the mail servers fail. One test at a time: they stop real servers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::proxy::SmtpProxy;
use crate::common::*;
use axum::http::StatusCode;

#[tokio::test]
async fn outages_lose_nothing_and_send_nothing_twice() {
    let _alone = servers_alone().await;
    smtp_outage_keeps_the_draft_and_the_retry_sends_once().await;
    imap_restart_mid_session_is_invisible().await;
    a_send_cut_after_the_final_dot_is_never_doubled().await;
    a_stalled_mailbox_answers_within_its_deadline().await;
    a_stalled_submission_server_answers_within_its_deadline().await;
    a_postgresql_restart_under_use_loses_no_session_and_no_send().await;
}

/// The fields the "Message not sent" (or "may have been sent") page posts back with `action`.
fn resend_fields(page: &Page, subject: &str, action: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", page.field("csrf")),
        ("send_id", page.field("send_id")),
        ("draft_uid", page.field("draft_uid")),
        ("to", page.field("to")),
        ("subject", subject.to_string()),
        ("body", "Numbers attached.\nAlice".to_string()),
        ("action", action.to_string()),
    ]
}

/// The connection to the submission server breaks after the message's final dot: Postfix has
/// it and delivers it, Sealmail never hears so. Every way of sending it again must be refused
/// with the explanation, until the user chooses "Send again as a new message".
async fn a_send_cut_after_the_final_dot_is_never_doubled() {
    let submission = rig("RIG_SUBMISSION_PORT");
    let proxy = SmtpProxy::start(submission.parse().expect("port")).await;
    let via_proxy = format!("port = {}\n", proxy.port);
    let mut browser = Browser::with_config(
        |text| text.replace(&format!("port = {submission}\n"), &via_proxy),
        "",
    )
    .await;
    browser.sign_in("alice").await;
    let subject = unique("cut-after-dot");
    let form = browser.get("/compose").await;
    let bob = email("bob");
    let fields = compose_fields(&form, &bob, "", &subject);

    let first = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(first.status, StatusCode::CONFLICT, "{}", first.body);
    assert!(
        first
            .body
            .contains("cannot tell whether this message was sent")
            && first.body.contains("Send again as a new message")
            && first.body.contains("saved in Drafts"),
        "{}",
        first.body
    );
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let opened = proxy.connections();

    // The browser retries the same post.
    let again = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again
            .body
            .contains("cannot tell whether this message was sent")
    );
    // The user presses Send on the page that explained it.
    let resend = resend_fields(&first, &subject, "send");
    let pressed = browser
        .post_multipart("/compose", &as_refs(&resend), &[])
        .await;
    assert_eq!(pressed.status, StatusCode::CONFLICT, "{}", pressed.body);
    // The user opens the saved draft (each refusal re-saved it in place) and sends it.
    let draft = browser
        .get(&format!(
            "/compose?mode=draft&folder={}&uid={}",
            urlencode(&pressed.field("source_folder")),
            pressed.field("draft_uid")
        ))
        .await;
    assert_eq!(draft.field("send_id"), first.field("send_id"));
    let from_draft = resend_fields(&draft, &subject, "send");
    let sent_draft = browser
        .post_multipart("/compose", &as_refs(&from_draft), &[])
        .await;
    assert_eq!(
        sent_draft.status,
        StatusCode::CONFLICT,
        "{}",
        sent_draft.body
    );
    assert_eq!(
        proxy.connections(),
        opened,
        "a refused retry reached the mail server"
    );
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 0).await;

    // Knowing it may be a second copy, the user sends it again as a new message.
    proxy.cut_after_final_dot.store(false, Ordering::SeqCst);
    let new_fields = resend_fields(&sent_draft, &subject, "send-new");
    let sent = browser
        .post_multipart("/compose", &as_refs(&new_fields), &[])
        .await;
    sent.assert_sent();
    // A double click on it sends nothing more.
    let double = browser
        .post_multipart("/compose", &as_refs(&new_fields), &[])
        .await;
    double.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 2).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;
}

/// Dovecot accepts connections but answers nothing (SIGSTOP): the page says so within the
/// IMAP deadline (5 s in the tests) instead of hanging, and works again once Dovecot does.
async fn a_stalled_mailbox_answers_within_its_deadline() {
    let mut browser = Browser::new("").await;
    browser.sign_in("bob").await;
    let warm = browser.get("/mail?folder=INBOX").await;
    assert_eq!(warm.status, StatusCode::OK);

    rig_command(&["pause-dovecot"]);
    let started = Instant::now();
    let stalled = browser.get("/mail?folder=INBOX").await;
    let waited = started.elapsed();
    rig_command(&["resume-dovecot"]);

    assert_eq!(
        stalled.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        stalled.body
    );
    assert!(
        stalled
            .body
            .contains("Your mailbox is not answering right now"),
        "{}",
        stalled.body
    );
    // A deadline, not a speed: anything short of a hang passes.
    assert!(waited < Duration::from_secs(30), "the page took {waited:?}");
    let recovered = browser.get("/mail?folder=INBOX").await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.body);
}

/// Postfix accepts connections but answers nothing: the send is refused within the SMTP
/// deadline with the reason, the draft is kept, and sending it once Postfix is back works once.
async fn a_stalled_submission_server_answers_within_its_deadline() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("stalled-smtp");
    let form = browser.get("/compose").await;
    let bob = email("bob");
    let fields = compose_fields(&form, &bob, "", &subject);

    rig_command(&["pause-postfix"]);
    let started = Instant::now();
    let failed = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    let waited = started.elapsed();
    rig_command(&["resume-postfix"]);

    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert!(
        failed.body.contains("did not answer in time") && failed.body.contains("saved in Drafts"),
        "{}",
        failed.body
    );
    assert!(waited < Duration::from_secs(30), "the send took {waited:?}");
    assert_count_settles("bob", "INBOX", &subject, 0).await;

    let retry = resend_fields(&failed, &subject, "send");
    let sent = browser
        .post_multipart("/compose", &as_refs(&retry), &[])
        .await;
    sent.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;
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
    sent.assert_sent();
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
    sent.assert_sent();
    assert_count_settles("alice", "INBOX", &subject, 1).await;
}

/// PostgreSQL (sessions, outbox, throttle) restarts while a user works: during the outage pages
/// say so and nothing is sent; afterwards the same session goes on, and a send goes out once.
async fn a_postgresql_restart_under_use_loses_no_session_and_no_send() {
    let database = rig("RIG_DATABASE_URL");
    let mut browser = Browser::with_config(
        |text| {
            let start = text.find("url = ").expect("a database url");
            let end = start + text[start..].find('\n').expect("end of line");
            format!("{}url = \"{database}\"{}", &text[..start], &text[end..])
        },
        "",
    )
    .await;
    browser.sign_in("alice").await;
    let subject = unique("pg-restart");
    let form = browser.get("/compose").await;
    let bob = email("bob");
    let fields = compose_fields(&form, &bob, "", &subject);

    rig_command(&["pg-stop"]);
    let started = Instant::now();
    let during = browser.get("/mail?folder=INBOX").await;
    let send_during = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    let waited = started.elapsed();
    rig_command(&["pg-start"]);

    // A deadline, not a speed: the two requests must not hang.
    assert!(waited < Duration::from_secs(30), "they took {waited:?}");
    assert!(during.status.is_server_error(), "{}", during.status);
    assert!(during.body.contains("Nothing was lost"), "{}", during.body);
    assert!(
        send_during.status.is_server_error(),
        "{}",
        send_during.status
    );
    assert_count_settles("bob", "INBOX", &subject, 0).await;

    // The session survived in the database; the pool reconnects by itself.
    let after = browser.get("/mail?folder=INBOX").await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    let sent = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    sent.assert_sent();
    let again = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    again.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
}
