//! The web mail end to end through the real router, Dovecot and Postfix: sign-in and its
//! defences, reading, composing, sending exactly once.

use crate::certs;

use crate::common::*;
use axum::http::StatusCode;
use mail_parser::{MessageParser, MimeHeaders};

#[tokio::test]
async fn wrong_password_and_unknown_address_get_the_same_answer() {
    let mut browser = Browser::new("").await;
    let mut answers = Vec::new();
    for (address, pw) in [
        (email("bob"), "not-bobs-password".to_string()),
        (email(&unique("nobody")), password("bob")),
    ] {
        let token = browser.get("/login").await.field("login_token");
        let page = browser
            .post_form(
                "/login",
                &[
                    ("email", &address),
                    ("password", &pw),
                    ("login_token", &token),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body
                .contains("The email address or password is incorrect."),
            "{}",
            page.body
        );
        answers.push(page.body.replace(&address, "ADDRESS"));
    }
    assert_eq!(
        answers[0], answers[1],
        "the page must not reveal whether the address exists"
    );
    assert!(
        browser
            .get("/mail?folder=INBOX")
            .await
            .location
            .unwrap()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_address_out() {
    let mut browser = Browser::new("").await;
    let address = email(&unique("guess"));
    let mut last = None;
    for _ in 0..5 {
        let token = browser.get("/login").await.field("login_token");
        last = Some(
            browser
                .post_form(
                    "/login",
                    &[
                        ("email", &address),
                        ("password", "guess"),
                        ("login_token", &token),
                    ],
                )
                .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        last.body.contains("Too many failed sign-in attempts"),
        "{}",
        last.body
    );
}

#[tokio::test]
async fn sign_in_form_without_its_cookie_token_is_refused() {
    let mut browser = Browser::new("").await;
    let page = browser
        .post_form(
            "/login",
            &[
                ("email", &email("bob")),
                ("password", &password("bob")),
                ("login_token", "made-up"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(browser.cookies.iter().all(|(k, _)| k != "sealmail_session"));
}

#[tokio::test]
async fn forged_csrf_token_is_refused_and_nothing_changes() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let refused = browser
        .post_form("/logout", &[("csrf", "forged-token")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Nothing was changed"),
        "{}",
        refused.body
    );
    assert_eq!(
        browser.get("/mail?folder=INBOX").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn cross_site_post_is_refused_even_with_a_valid_token() {
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    let refused = browser
        .post_form_from("/logout", &[("csrf", &token)], "cross-site")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/mail?folder=INBOX").await.status,
        StatusCode::OK,
        "still signed in"
    );
    let signed_out = browser.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(signed_out.location.as_deref(), Some("/login?signed_out=1"));
    assert!(
        browser
            .get("/mail?folder=INBOX")
            .await
            .location
            .unwrap()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn an_expired_session_sends_the_user_to_sign_in_again() {
    let mut browser = Browser::new("session_idle_seconds = 1").await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let page = browser.get("/mail?folder=INBOX").await;
    assert_eq!(page.location.as_deref(), Some("/login?expired=1"));
    assert!(
        browser
            .get("/login?expired=1")
            .await
            .body
            .contains("Your session has ended")
    );
    // A form posted with the dead session changes nothing either.
    let refused = browser.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(refused.location.as_deref(), Some("/login?expired=1"));
}

#[tokio::test]
async fn a_send_retried_with_the_same_form_is_delivered_and_filed_once() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("quarterly");
    let attachment: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), &email("carol"), &subject);
    for _ in 0..2 {
        let page = browser
            .post_multipart(
                "/compose",
                &as_refs(&fields),
                &[("numbers.bin", &attachment)],
            )
            .await;
        page.assert_sent();
    }
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    let delivered = fetch_matching("bob", "INBOX", &subject).await;
    let message = MessageParser::default().parse(&delivered[0]).unwrap();
    let part = message.attachments().next().expect("attachment delivered");
    assert_eq!(part.attachment_name(), Some("numbers.bin"));
    assert_eq!(
        part.contents(),
        attachment.as_slice(),
        "attachment bytes changed in transit"
    );
}

#[tokio::test]
async fn bcc_recipients_get_the_message_but_stay_hidden_from_others() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("surprise");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[4].1 = email("carol");
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    let to_bob = fetch_matching("bob", "INBOX", &subject).await;
    assert!(
        !String::from_utf8_lossy(&to_bob[0]).contains(&email("carol")),
        "Bcc leaked to bob"
    );
    let sent = fetch_matching("alice", "Sent", &subject).await;
    assert!(
        String::from_utf8_lossy(&sent[0]).contains(&email("carol")),
        "Sent copy must remember the Bcc"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_copy_that_could_not_be_filed_is_filed_on_the_next_page_exactly_once_whatever_the_tabs()
 {
    let db = tempfile::tempdir().unwrap();
    let (router, state) = sealmail_server::build_app(config(&db, "")).await.unwrap();
    let mut browser = Browser {
        router,
        cookies: Vec::new(),
        _db: db,
    };
    browser.sign_in("alice").await;
    // The state SMTP acceptance leaves behind when the IMAP append then failed.
    let subject = unique("late-filing");
    let send_id = unique("send-id");
    let message_id = format!("{send_id}@example.test");
    let copy = format!(
        "From: {a}\r\nTo: {b}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n",
        a = email("alice"),
        b = email("bob")
    );
    state
        .outbox
        .claim(&send_id, &email("alice"), &message_id)
        .await
        .unwrap();
    state
        .outbox
        .mark_sending(&send_id, copy.as_bytes())
        .await
        .unwrap();
    state.outbox.mark_filing(&send_id).await.unwrap();
    state.outbox.release_filing(&send_id).await.unwrap();
    // Four tabs load a page at the same moment: only one of them files the copy.
    let tabs = (0..4).map(|_| {
        let mut tab = Browser {
            router: browser.router.clone(),
            cookies: browser.cookies.clone(),
            _db: tempfile::tempdir().unwrap(),
        };
        tokio::spawn(async move { tab.get("/mail?folder=Sent").await.status })
    });
    for tab in tabs.collect::<Vec<_>>() {
        assert_eq!(tab.await.unwrap(), StatusCode::OK);
    }
    browser.get("/mail?folder=INBOX").await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    assert!(
        state
            .outbox
            .pending(&email("alice"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The server process died while the message was going out (after Postfix's 250, before
/// recording it): the claim is a lease, so once it runs out the send is taken as accepted, its
/// Sent copy is filed once, and a retry of the send is answered "sent" instead of "already being
/// sent" for ever.
#[tokio::test]
async fn a_send_left_by_a_dead_server_process_is_recovered_once_its_lease_runs_out() {
    let db = tempfile::tempdir().unwrap();
    let text = config_text(&db, "").replace("[database]", "send_lease_seconds = 5\n[database]");
    let config = sealmail_server::config::Config::from_toml(&text, []).unwrap();
    let (router, state) = sealmail_server::build_app(config).await.unwrap();
    let mut browser = Browser {
        router,
        cookies: Vec::new(),
        _db: db,
    };
    browser.sign_in("alice").await;
    let subject = unique("died-mid-send");
    let form = browser.get("/compose").await;
    let bob = email("bob");
    let fields = compose_fields(&form, &bob, "", &subject);
    let send_id = form.field("send_id");
    let message_id = format!("{send_id}@example.test");
    let copy = format!(
        "From: {a}\r\nTo: {bob}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nNumbers attached.\r\n",
        a = email("alice"),
    );
    // What the dead process left: the claim, the copy for Sent, and the message with Postfix.
    state
        .outbox
        .claim(&send_id, &email("alice"), &message_id)
        .await
        .unwrap();
    state
        .outbox
        .mark_sending(&send_id, copy.as_bytes())
        .await
        .unwrap();
    deliver_from_outside(&email("alice"), &bob, copy.as_bytes()).await;

    let too_soon = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(too_soon.status, StatusCode::CONFLICT, "{}", too_soon.body);
    assert!(
        too_soon.body.contains("already being sent"),
        "{}",
        too_soon.body
    );

    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let retried = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    retried.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    browser.get("/mail?folder=INBOX").await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
}

#[tokio::test]
async fn a_message_from_outside_is_listed_read_safely_and_its_attachment_downloads_exactly() {
    let subject = unique("from-outside");
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let b64 = base64_lines(&payload);
    let message = format!(
        "From: Mallory <mallory@outside.test>\r\nTo: {carol}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Hi <b>Carol</b><script>alert(1)</script><img src=\"https://tracker.outside.test/p.gif\"></p>\r\n\
         --outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}--outer--\r\n",
        carol = email("carol")
    );
    deliver_from_outside("mallory@outside.test", &email("carol"), message.as_bytes()).await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;

    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("carol").await;
    let row_start = inbox.body.find(&subject).expect("listed in the Inbox");
    let row = &inbox.body[inbox.body[..row_start].rfind("<tr").unwrap()..row_start];
    assert!(
        row.contains("class=\"unread\""),
        "a new message is shown unread: {row}"
    );
    let href_start = inbox.body[..row_start].rfind("href=\"").unwrap() + 6;
    let href = unescape(&inbox.body[href_start..row_start - 2]);

    let opened = browser.get(&href).await;
    assert_eq!(opened.status, StatusCode::OK, "{href}: {}", opened.body);
    assert!(opened.body.contains("<b>Carol</b>"));
    assert!(!opened.body.contains("alert(1)") && !opened.body.contains("tracker.outside.test"));
    assert!(opened.body.contains("Show images"));
    let with_images = browser.get(&format!("{href}&images=1")).await;
    assert!(
        with_images
            .body
            .contains("https://tracker.outside.test/p.gif")
    );

    let link_start = opened.body.find("/attachment?").expect("attachment link");
    let link_end = opened.body[link_start..].find('"').unwrap() + link_start;
    let link = unescape(&opened.body[link_start..link_end]);
    let request = axum::http::Request::get(&link)
        .header(
            "cookie",
            browser
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(browser.router.clone(), request)
        .await
        .unwrap();
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("report.pdf")
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), payload.as_slice());

    let after = browser.get("/mail?folder=INBOX").await;
    let row_start = after.body.find(&subject).unwrap();
    let row = &after.body[after.body[..row_start].rfind("<tr").unwrap()..row_start];
    assert!(!row.contains("unread"), "opening it marks it read");
}

#[tokio::test]
async fn a_saved_draft_reopens_with_its_attachment_and_sending_it_removes_it() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("draft");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[7].1 = "save".into();
    let saved = browser
        .post_multipart("/compose", &as_refs(&fields), &[("plan.txt", b"step one")])
        .await;
    let location = saved.location.expect("redirect to the saved draft");
    assert!(location.contains("notice=saved"));
    let reopened = browser.get(&location).await;
    assert!(reopened.body.contains("Draft saved."));
    assert!(reopened.body.contains(&subject) && reopened.body.contains("plan.txt"));
    assert_count_settles("alice", "Drafts", &subject, 1).await;

    let mut send = draft_send_fields(&reopened, email("bob"), subject.clone(), "as planned");
    let part = reopened.field("keep_part");
    send.push(("keep_part", part));
    let sent = browser
        .post_multipart("/compose", &as_refs(&send), &[])
        .await;
    sent.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;
    let delivered = fetch_matching("bob", "INBOX", &subject).await;
    let message = MessageParser::default().parse(&delivered[0]).unwrap();
    assert_eq!(
        message.attachments().next().map(|p| p.contents()),
        Some(&b"step one"[..])
    );
}

#[tokio::test]
async fn an_invalid_recipient_is_named_and_the_form_is_kept_as_a_draft() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("typo");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, "bob at example", "", &subject);
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[("keep.txt", b"keep me")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("is not an email address. It has been saved in Drafts."),
        "{}",
        page.body
    );
    assert!(page.body.contains("bob at example"), "typed text kept");
    assert!(page.body.contains("keep.txt"), "attachment kept");
    assert_count_settles("alice", "Drafts", &subject, 1).await;
}

#[tokio::test]
async fn reply_all_addresses_everyone_but_me_and_quotes_the_original() {
    let subject = unique("plans");
    let message = format!(
        "From: Bob <{bob}>\r\nTo: {alice}, {carol}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\nLunch at noon?\r\n",
        bob = email("bob"),
        alice = email("alice"),
        carol = email("carol")
    );
    deliver_from_outside(&email("bob"), &email("alice"), message.as_bytes()).await;
    assert_count_settles("alice", "INBOX", &subject, 1).await;
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("alice").await;
    let uid = inbox.uid_of(&subject);
    let reply = browser
        .get(&format!("/compose?mode=all&folder=INBOX&uid={uid}"))
        .await;
    let to = reply.field("to");
    assert!(
        to.contains(&email("bob")) && to.contains(&email("carol")) && !to.contains(&email("alice")),
        "{to}"
    );
    assert!(reply.body.contains(&format!("Re: {subject}")));
    assert!(
        reply.body.contains("&gt; Lunch at noon?") || reply.body.contains("&#62; Lunch at noon?"),
        "{}",
        reply.body
    );
    assert_eq!(
        reply.field("in_reply_to"),
        format!("{subject}@example.test")
    );
}

#[tokio::test]
async fn delete_moves_to_trash_and_mark_unread_shows_it_unread() {
    let subject = unique("tidy");
    let message = format!(
        "From: {b}\r\nTo: {c}\r\nSubject: {subject}\r\n\r\nx\r\n",
        b = email("bob"),
        c = email("carol")
    );
    deliver_from_outside(&email("bob"), &email("carol"), message.as_bytes()).await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");
    let uid = inbox.uid_of(&subject);
    browser
        .get(&format!("/message?folder=INBOX&uid={uid}"))
        .await;
    let unread = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", &token),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "unread"),
            ],
        )
        .await;
    assert_eq!(
        unread.location.as_deref(),
        Some("/mail?folder=INBOX&notice=unread")
    );
    let listed = browser.get("/mail?folder=INBOX").await;
    let row_at = listed.body.find(&subject).unwrap();
    assert!(listed.body[listed.body[..row_at].rfind("<tr").unwrap()..row_at].contains("unread"));
    // A move the mail server refuses is answered in its words, not as an outage, and the
    // message stays where it was.
    let refused = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", &token),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "move"),
                ("target", "No such folder"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("The mail server refused this"),
        "{}",
        refused.body
    );
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    let deleted = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", &token),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "delete"),
            ],
        )
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/mail?folder=INBOX&notice=deleted")
    );
    assert_count_settles("carol", "INBOX", &subject, 0).await;
    assert_count_settles("carol", "Trash", &subject, 1).await;
}

#[tokio::test]
async fn imap_works_over_implicit_tls_and_starttls_and_checks_the_certificate() {
    use sealmail_server::config::{MailServer, Security};
    use sealmail_server::imap::Connector;
    let ca = std::path::PathBuf::from(rig("RIG_TLS_CA"));
    let server = |port: String, security| MailServer {
        host: "localhost".into(),
        port: port.parse().unwrap(),
        security,
        ca_file: Some(ca.clone()),
        timeout_seconds: 5,
        send_lease_seconds: None,
        max_connections: None,
        max_connections_per_user: None,
    };
    let trusting = sealmail_server::tls::client_config(Some(&ca)).unwrap();
    for (port, security) in [
        (rig("RIG_IMAPS_PORT"), Security::Tls),
        (rig("RIG_IMAP_PORT"), Security::Starttls),
    ] {
        let connector = Connector::new(server(port.clone(), security), trusting.clone());
        let mut session = connector
            .login(&email("bob"), &password("bob"), None)
            .await
            .expect("login over TLS");
        session.logout().await.unwrap();
        // Without the private CA the certificate must be refused.
        let strict = Connector::new(
            server(port, security),
            sealmail_server::tls::client_config(None).unwrap(),
        );
        let refused = strict.login(&email("bob"), &password("bob"), None).await;
        assert!(
            matches!(refused, Err(sealmail_server::imap::ImapError::Tls(_))),
            "{security:?}: {refused:?}"
        );
    }
}

/// An enveloped-data entity for a throw-away certificate, made by openssl: what a browser's
/// sealed send carries (the server cannot and need not read it).
fn openssl_enveloped_entity() -> Vec<u8> {
    // Any certificate will do as the recipient: the server never opens the envelope.
    let ca = certs::Ca::new("Recipient");
    enveloped_for(&ca, "ca.pem")
}

/// An AES-256-CBC enveloped-data entity for the certificate in `ca`'s folder named `recipient`.
fn enveloped_for(ca: &certs::Ca, recipient: &str) -> Vec<u8> {
    let dir = ca.dir.path();
    std::fs::write(
        dir.join("in.txt"),
        "Content-Type: text/plain\r\n\r\nsecret\r\n",
    )
    .unwrap();
    certs::openssl(
        dir,
        &[
            "cms", "-encrypt", "-aes256", "-in", "in.txt", "-out", "out.eml", recipient,
        ],
    );
    let full = std::fs::read(dir.join("out.eml")).unwrap();
    // openssl writes MIME-Version first; the entity starts at its Content-Type.
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    full[start..].to_vec()
}

#[tokio::test]
async fn a_sealed_send_is_delivered_and_filed_once_with_its_entity_untouched() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("sealed");
    let entity = openssl_enveloped_entity();
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    for _ in 0..2 {
        let page = browser.post_sealed(&as_refs(&fields), &entity).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("notice=sent"), "{}", page.body);
    }
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    let delivered = fetch_matching("bob", "INBOX", &subject).await;
    let text = String::from_utf8_lossy(&delivered[0]).replace("\r\n", "\n");
    let entity_text = String::from_utf8_lossy(&entity).replace("\r\n", "\n");
    assert!(
        text.trim_end().ends_with(entity_text.trim_end()),
        "the body was changed: {text}"
    );
    assert_eq!(text.matches("Content-Type:").count(), 1, "{text}");
    assert!(text.contains(&format!("Subject: {subject}")));
}

#[tokio::test]
async fn a_sealed_send_that_is_not_smime_is_refused_and_nothing_goes_out() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("not sealed");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    let page = browser
        .post_sealed(
            &as_refs(&fields),
            b"Content-Type: text/plain\r\n\r\nplain text\r\n",
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "Your message was not sent: the browser did not produce a signed or encrypted message"
        ),
        "{}",
        page.body
    );
    let mut no_token = fields.clone();
    no_token.retain(|(k, _)| *k != "csrf");
    no_token.push(("csrf", "forged".into()));
    let forged = browser
        .post_sealed(&as_refs(&no_token), &openssl_enveloped_entity())
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_count_settles("bob", "INBOX", &subject, 0).await;
}

/// A clear-signed entity (Content-* fields and body only) made by openssl with `signer`'s key.
fn openssl_signed_entity(ca: &certs::Ca, signer: &str, md: &str) -> Vec<u8> {
    openssl_signed_entity_with(ca, signer, md, "Content-Type: text/plain\r\n\r\nsigned\r\n")
}

/// [`openssl_signed_entity`] signing `content` (header fields and body) as given.
fn openssl_signed_entity_with(ca: &certs::Ca, signer: &str, md: &str, content: &str) -> Vec<u8> {
    let dir = ca.dir.path();
    std::fs::write(dir.join("in.txt"), content).unwrap();
    certs::openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-in",
            "in.txt",
            "-signer",
            &format!("{signer}.pem"),
            "-inkey",
            &format!("{signer}.key"),
            "-md",
            md,
            "-out",
            "signed.eml",
        ],
    );
    let full = std::fs::read(dir.join("signed.eml")).unwrap();
    let start = String::from_utf8_lossy(&full).find("Content-Type").unwrap();
    full[start..].to_vec()
}

/// Configuration for a server that trusts only `ca` (no CRLs) and has the `[smime]` settings
/// `smime`; the folder of anchors must outlive the server.
fn trusting(ca: &certs::Ca, smime: &str) -> (tempfile::TempDir, String) {
    let anchors = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.pem"), anchors.path().join("ca.pem")).unwrap();
    let config = format!(
        "[pki]\ntrust_anchors = \"{}\"\ndisable_crl_check = true\n[smime]\n{smime}",
        anchors.path().display()
    );
    (anchors, config)
}

/// A certificate from `ca` for the test user `user`'s address, with key usage `usage`; its PEM
/// and key are `<user>.pem` and `<user>.key` in the CA's folder.
fn issue_to(ca: &certs::Ca, user: &str, usage: &str) {
    ca.issue(user, None, Some(&email(user)), usage, None, 30);
}

#[tokio::test]
async fn sealed_sends_that_break_the_policy_are_refused_and_nothing_goes_out() {
    let ca = certs::Ca::new("Policy CA");
    issue_to(&ca, "alice", "digitalSignature");
    issue_to(&ca, "bob", "digitalSignature");
    let stranger = certs::Ca::new("Stranger CA");
    issue_to(&stranger, "alice", "digitalSignature");
    let (_anchors, strict) = trusting(&ca, "always_sign = true\n");
    let mut browser = Browser::new(&strict).await;
    browser.sign_in("alice").await;

    let mut tampered = openssl_signed_entity(&ca, "alice", "sha256");
    let at = String::from_utf8_lossy(&tampered)
        .find("signed\r\n")
        .unwrap();
    tampered[at] = b'S';
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unsigned",
            openssl_enveloped_entity(),
            "requires a digital signature on every message",
        ),
        (
            "someone else's certificate",
            openssl_signed_entity(&ca, "bob", "sha256"),
            "signed with a certificate that is not yours",
        ),
        ("an altered body", tampered, "signature does not verify"),
        (
            "a digest outside the policy",
            openssl_signed_entity(&ca, "alice", "sha512"),
            "signed with SHA-512, which your organization does not allow",
        ),
        (
            "an untrusted certificate",
            openssl_signed_entity(&stranger, "alice", "sha256"),
            "the digital ID you signed with cannot be used",
        ),
        (
            "someone else's From inside the signature",
            openssl_signed_entity_with(
                &ca,
                "alice",
                "sha256",
                "From: mallory@example.test\r\nContent-Type: text/plain\r\n\r\nsigned\r\n",
            ),
            "says inside its signature that it is from mallory@example.test",
        ),
    ];
    for (what, entity, expected) in cases {
        let subject = unique("policy");
        let form = browser.get("/compose").await;
        let fields = compose_fields(&form, &email("bob"), "", &subject);
        let page = browser.post_sealed(&as_refs(&fields), &entity).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            page.body
        );
        assert!(page.body.contains(expected), "{what}: {}", page.body);
        assert!(
            page.body.contains("Your message was not sent"),
            "{what}: {}",
            page.body
        );
        assert_count_settles("bob", "INBOX", &subject, 0).await;
    }

    // A compliant one goes out: signed by alice's trusted certificate with SHA-256.
    let subject = unique("policy ok");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    let entity = openssl_signed_entity(&ca, "alice", "sha256");
    let page = browser.post_sealed(&as_refs(&fields), &entity).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_count_settles("bob", "INBOX", &subject, 1).await;
}

#[tokio::test]
async fn encryption_outside_the_policy_and_unencrypted_mail_under_always_encrypt_are_refused() {
    let ca = certs::Ca::new("Policy CA");
    issue_to(&ca, "alice", "digitalSignature");
    let (_anchors, config) = trusting(
        &ca,
        "always_encrypt = true\nencryption_algorithms = [\"aes256-gcm\"]\n",
    );
    let mut browser = Browser::new(&config).await;
    browser.sign_in("alice").await;
    // The server looks through every signature a page stacks up, not only the outermost.
    let envelope = String::from_utf8(openssl_enveloped_entity()).unwrap();
    let once = String::from_utf8(openssl_signed_entity_with(
        &ca, "alice", "sha256", &envelope,
    ))
    .unwrap();
    let twice = openssl_signed_entity_with(&ca, "alice", "sha256", &once);
    for (entity, expected) in [
        (
            openssl_enveloped_entity(),
            "encrypted with AES-256-CBC, which your organization does not allow",
        ),
        (
            twice,
            "encrypted with AES-256-CBC, which your organization does not allow",
        ),
        (
            openssl_signed_entity(&ca, "alice", "sha256"),
            "requires every message to be encrypted",
        ),
    ] {
        let subject = unique("policy");
        let form = browser.get("/compose").await;
        let fields = compose_fields(&form, &email("bob"), "", &subject);
        let page = browser.post_sealed(&as_refs(&fields), &entity).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
        assert!(page.body.contains(expected), "{}", page.body);
        assert_count_settles("bob", "INBOX", &subject, 0).await;
    }
}

#[tokio::test]
async fn a_plain_send_under_always_sign_is_refused_and_kept_as_a_draft() {
    let mut browser = Browser::new("[smime]\nalways_sign = true\n").await;
    browser.sign_in("alice").await;
    let form = browser.get("/compose").await;
    assert!(
        form.body.contains("aria-disabled=\"true\"")
            && form
                .body
                .contains("Your organization requires a digital signature on every message"),
        "the signing toggle is not locked: {}",
        form.body
    );
    let subject = unique("plain under policy");
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_refused(&page, "requires a digital signature on every message");
    assert_count_settles("bob", "INBOX", &subject, 0).await;
    assert_count_settles("alice", "Drafts", &subject, 1).await;
    let options = browser.get("/options").await;
    assert!(
        options.body.contains("cannot be turned off"),
        "{}",
        options.body
    );
}

#[tokio::test]
async fn more_recipients_than_the_users_limit_are_refused_and_nothing_goes_out() {
    // Everyone else may send to thousands; alice's own limit is 1.
    let config = format!(
        "[pki]\nrecipient_limits = {{ \"{}\" = 1 }}\n",
        email("alice")
    );
    let mut browser = Browser::new(&config).await;
    browser.sign_in("alice").await;
    let subject = unique("too many");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[4].1 = email("carol");
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_refused(
        &page,
        "This message has more than 1 recipients after distribution lists are expanded",
    );
    assert_count_settles("bob", "INBOX", &subject, 0).await;
    assert_count_settles("carol", "INBOX", &subject, 0).await;
}

#[tokio::test]
async fn encrypted_mail_must_not_show_a_bcc_recipient_to_the_others() {
    let ca = certs::Ca::new("Bcc CA");
    issue_to(&ca, "carol", "keyAgreement");
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    // Alice has carol's certificate in her contacts, so the server can recognise it.
    alice_knows(&browser, &ca, "carol").await;
    let for_carol = enveloped_for(&ca, "carol.pem");
    let for_others = openssl_enveloped_entity();

    let attempt = async |browser: &mut Browser, main: &[u8], forks: &[(&str, &[u8])]| {
        let subject = unique("bcc split");
        let form = browser.get("/compose").await;
        let mut fields = compose_fields(&form, &email("bob"), "", &subject);
        fields[4].1 = email("carol");
        let page = browser
            .post_sealed_split(&as_refs(&fields), main, forks)
            .await;
        (subject, page)
    };
    let carol = email("carol");
    for (what, main, forks, expected) in [
        (
            "not split",
            &for_others,
            vec![],
            "Bcc recipients to get their own encrypted message",
        ),
        (
            "carol named in bob's message",
            &for_carol,
            vec![(carol.as_str(), &for_carol[..])],
            "names a Bcc recipient",
        ),
    ] {
        let (subject, page) = attempt(&mut browser, main, &forks).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            page.body
        );
        assert!(page.body.contains(expected), "{what}: {}", page.body);
        assert_count_settles("bob", "INBOX", &subject, 0).await;
        assert_count_settles("carol", "INBOX", &subject, 0).await;
    }

    // Split as the policy says: bob gets one message, carol her own, Sent one copy.
    let (subject, page) = attempt(
        &mut browser,
        &for_others,
        &[(carol.as_str(), &for_carol[..])],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;
    assert_count_settles("alice", "Sent", &subject, 1).await;
    let to_carol = fetch_matching("carol", "INBOX", &subject).await;
    let tail = String::from_utf8_lossy(&for_carol).replace("\r\n", "\n");
    assert!(
        String::from_utf8_lossy(&to_carol[0])
            .replace("\r\n", "\n")
            .trim_end()
            .ends_with(tail.trim_end()),
        "carol did not get the message made for her"
    );
}

#[tokio::test]
async fn an_edited_config_puts_smime_and_pki_settings_in_force_and_a_broken_edit_changes_nothing() {
    let db = tempfile::tempdir().unwrap();
    let path = db.path().join("sealmail.toml");
    std::fs::write(&path, config_text(&db, "")).unwrap();
    let (_router, state) = sealmail_server::build_app(config(&db, "")).await.unwrap();
    assert!(!state.policy.current().always_sign);
    assert!(!state.checker().settings.check_crl);
    assert!(
        !state.reload_config(&path),
        "an unchanged file changed something"
    );

    let edited = "[pki]\ncheck_crl = true\nrecipient_limit = 7\n[smime]\nalways_sign = true\n";
    std::fs::write(&path, config_text(&db, edited)).unwrap();
    assert!(state.reload_config(&path));
    assert!(state.policy.current().always_sign);
    assert!(state.checker().settings.check_crl);
    assert_eq!(
        state
            .checker()
            .settings
            .recipient_limit_for(&email("alice")),
        7
    );

    let broken = "[pki]\ncheck_crl = false\nrevocation_url_retrieval_timeout_seconds = 1\n[smime]\nalways_sign = false\n";
    std::fs::write(&path, config_text(&db, broken)).unwrap();
    assert!(!state.reload_config(&path));
    assert!(
        state.policy.current().always_sign,
        "a refused edit changed the policy"
    );
    assert!(
        state.checker().settings.check_crl,
        "a refused edit changed [pki]"
    );
}

#[tokio::test]
async fn under_always_encrypt_a_recipient_the_message_is_not_encrypted_to_is_refused() {
    let ca = certs::Ca::new("Recipients CA");
    issue_to(&ca, "bob", "keyAgreement");
    let mut browser = Browser::new("[smime]\nalways_encrypt = true\n").await;
    browser.sign_in("alice").await;
    alice_knows(&browser, &ca, "bob").await;
    for (entity, sent) in [
        (openssl_enveloped_entity(), false),
        (enveloped_for(&ca, "bob.pem"), true),
    ] {
        let subject = unique("for bob");
        let form = browser.get("/compose").await;
        let fields = compose_fields(&form, &email("bob"), "", &subject);
        let page = browser.post_sealed(&as_refs(&fields), &entity).await;
        if sent {
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        } else {
            assert_eq!(
                page.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                page.body
            );
            assert!(
                page.body.contains(&format!(
                    "not encrypted to a certificate of {}",
                    email("bob")
                )),
                "{}",
                page.body
            );
        }
        assert_count_settles("bob", "INBOX", &subject, usize::from(sent)).await;
    }
}

#[tokio::test]
async fn bcc_recipients_share_a_message_with_0x040_and_everyone_shares_one_with_0x080() {
    let ca = certs::Ca::new("Bcc modes CA");
    issue_to(&ca, "carol", "keyAgreement");
    let for_carol = enveloped_for(&ca, "carol.pem");
    let for_others = openssl_enveloped_entity();
    // Two Bcc recipients: carol, and alice herself.
    let bcc_both = format!("{}, {}", email("carol"), email("alice"));
    let together = vec![(bcc_both.clone(), for_carol.clone())];
    let each = vec![
        (email("carol"), for_carol.clone()),
        (email("alice"), for_others.clone()),
    ];
    // (SecurityFlags, the split the page posted, the To/Cc message, accepted)
    let cases = [
        // 0x040: one message for all Bcc recipients together, not one each.
        ("0x141", together.clone(), &for_others, true),
        ("0x141", each, &for_others, false),
        // 0x080: one message for everyone (naming carol where bob sees it) is what was asked…
        ("0x181", Vec::new(), &for_carol, true),
        // …and splitting it anyway is not.
        ("0x181", together, &for_others, false),
    ];
    for (flags, forks, main, accepted) in cases {
        let mut browser = Browser::new(&format!("[smime]\nsecurity_flags = {flags}\n")).await;
        browser.sign_in("alice").await;
        let subject = unique("bcc mode");
        let form = browser.get("/compose").await;
        let mut fields = compose_fields(&form, &email("bob"), "", &subject);
        fields[4].1 = bcc_both.clone();
        let fork_refs: Vec<(&str, &[u8])> = forks
            .iter()
            .map(|(to, e)| (to.as_str(), e.as_slice()))
            .collect();
        let page = browser
            .post_sealed_split(&as_refs(&fields), main, &fork_refs)
            .await;
        if accepted {
            assert_eq!(page.status, StatusCode::OK, "{flags}: {}", page.body);
            assert_count_settles("bob", "INBOX", &subject, 1).await;
            assert_count_settles("carol", "INBOX", &subject, 1).await;
        } else {
            assert_eq!(
                page.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{flags}: {}",
                page.body
            );
            assert!(
                page.body.contains("Bcc recipients to get their own"),
                "{}",
                page.body
            );
            assert_count_settles("bob", "INBOX", &subject, 0).await;
        }
    }
}

/// Puts `user`'s certificate from `ca` in alice's contacts, as "Add to contacts" would.
async fn alice_knows(browser: &Browser, ca: &certs::Ca, user: &str) {
    let db_url = std::env::var("SEALMAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", browser._db.path().display()));
    let dir = sealmail_server::directory::Directory::new(
        sealmail_server::db::open(&db_url).await.unwrap(),
    );
    dir.add_user_certificate(
        &email("alice"),
        sealmail_server::directory::UserSource::Contact,
        &email(user),
        &certs::read_cert(&ca.path(&format!("{user}.pem"))),
    )
    .await
    .unwrap();
}

/// The send was refused with a 422 whose sentence contains `expected`.
fn assert_refused(page: &Page, expected: &str) {
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains(expected), "{}", page.body);
}

#[tokio::test]
async fn bcc_to_oneself_and_a_repeated_bcc_address_do_not_stop_a_split_send() {
    let ca = certs::Ca::new("Self Bcc CA");
    issue_to(&ca, "alice", "keyAgreement");
    issue_to(&ca, "carol", "keyAgreement");
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    alice_knows(&browser, &ca, "alice").await;
    alice_knows(&browser, &ca, "carol").await;
    // Every message is encrypted to the sender too (her Sent copy), which names her everywhere.
    let for_alice = enveloped_for(&ca, "alice.pem");
    let for_carol = enveloped_for(&ca, "carol.pem");
    let subject = unique("self bcc");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[4].1 = format!(
        "{}, {}, {}",
        email("carol"),
        email("carol").to_uppercase(),
        email("alice")
    );
    let (carol, alice) = (email("carol"), email("alice"));
    let forks: [(&str, &[u8]); 2] = [(&carol, &for_carol), (&alice, &for_alice)];
    let page = browser
        .post_sealed_split(&as_refs(&fields), &for_alice, &forks)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_count_settles("bob", "INBOX", &subject, 1).await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;
}

/// Opens the message in the signed-in user's Inbox whose subject contains `subject`, with
/// `query` added to its address.
async fn open_message(browser: &mut Browser, subject: &str, query: &str) -> Page {
    let inbox = browser.get("/mail?folder=INBOX").await;
    let uid = inbox.uid_of(subject);
    browser
        .get(&format!("/message?folder=INBOX&uid={uid}{query}"))
        .await
}

/// Every header field of `raw` whose value mentions `needle`, for the failure message.
fn header_lines_with(raw: &[u8], needle: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split(['\r', '\n'])
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_message_id_with_a_bare_cr_cannot_add_header_fields_to_a_reply() {
    let subject = unique("injected-id");
    // Delivered over LMTP, which keeps a bare CR: this reaches the mailbox as one Message-ID
    // field that a careless writer would split into two.
    let message = format!(
        "From: Mallory <mallory@outside.test>\r\nTo: {alice}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@outside.test\rReply-To: x@evil.test>\r\n\
         References: <first@outside.test>\rBcc: x@evil.test <second@outside.test\rBcc: x@evil.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nWrite back.\r\n",
        alice = email("alice")
    );
    deliver_over_lmtp("mallory@outside.test", &email("alice"), message.as_bytes()).await;
    assert_count_settles("alice", "INBOX", &subject, 1).await;
    let stored = fetch_matching("alice", "INBOX", &subject).await;
    assert!(
        stored[0].windows(10).any(|w| w == b"\rReply-To:"),
        "the rig no longer keeps the bare CR, so this test proves nothing"
    );

    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let uid = browser.get("/mail?folder=INBOX").await.uid_of(&subject);
    let reply = browser
        .get(&format!("/compose?mode=reply&folder=INBOX&uid={uid}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for field in ["in_reply_to", "references"] {
        let value = reply.field(field);
        assert!(
            !value.contains(['\r', '\n']) && !value.contains("evil.test"),
            "{field} = {value:?}"
        );
    }
    // Sent to bob (not back outside), with the threading fields exactly as the form holds them.
    let mut fields = compose_fields(&reply, &email("bob"), "", &format!("Re: {subject}"));
    fields.push(("in_reply_to", reply.field("in_reply_to")));
    fields.push(("references", reply.field("references")));
    let sent = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);

    // A form posted with such an id (a page prefilled before this fix, or a hand-made post)
    // is screened as well.
    let form = browser.get("/compose").await;
    let posted_subject = format!("{subject} posted");
    let mut fields = compose_fields(&form, &email("bob"), "", &posted_subject);
    fields.push(("in_reply_to", "a@b.test\rReply-To: x@evil.test".into()));
    fields.push((
        "references",
        "<c@d.test>\rBcc:<x@evil.test> <e@f.test>".into(),
    ));
    let sent = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);

    assert_count_settles("bob", "INBOX", &subject, 2).await;
    assert_count_settles("alice", "Sent", &subject, 2).await;
    let mut received = fetch_matching("bob", "INBOX", &subject).await;
    received.extend(fetch_matching("alice", "Sent", &subject).await);
    for raw in received {
        let message = MessageParser::default().parse(&raw).unwrap();
        assert!(
            message.reply_to().is_none(),
            "{:?}",
            header_lines_with(&raw, "evil")
        );
        assert!(
            header_lines_with(&raw, "evil.test").is_empty(),
            "{:?}",
            header_lines_with(&raw, "evil.test")
        );
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert!(
            !raw[..head_end]
                .windows(2)
                .any(|w| w[0] == b'\r' && w[1] != b'\n'),
            "a bare CR in the header: {:?}",
            String::from_utf8_lossy(&raw[..head_end])
        );
    }
}

#[tokio::test]
async fn a_send_id_outside_its_character_set_is_refused_and_nothing_is_sent() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("bad-send-id");
    let form = browser.get("/compose").await;
    let mut fields = compose_fields(&form, &email("bob"), "", &subject);
    fields[1].1 = "abcdefghijklmnopqrstuvwx\rBcc: x@evil.test".into();
    let page = browser
        .post_multipart("/compose", &as_refs(&fields), &[])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("reload the page"), "{}", page.body);
    let sealed = browser
        .post_sealed(&as_refs(&fields), &openssl_enveloped_entity())
        .await;
    assert_eq!(sealed.status, StatusCode::BAD_REQUEST, "{}", sealed.body);
    assert!(sealed.body.contains("reload the page"), "{}", sealed.body);
    assert_count_settles("bob", "INBOX", &subject, 0).await;
    assert_count_settles("alice", "Drafts", &subject, 0).await;
}

#[tokio::test]
async fn a_signature_by_one_of_several_senders_is_not_shown_as_valid() {
    let ca = certs::Ca::new("Senders CA");
    issue_to(&ca, "bob", "digitalSignature");
    let (_anchors, trust) = trusting(&ca, "");
    let entity = String::from_utf8(openssl_signed_entity(&ca, "bob", "sha256")).unwrap();
    let subject = unique("senders");
    let (alice, bob) = (email("alice"), email("bob"));
    let cases = [
        ("bob alone", bob.clone()),
        ("alice and bob", format!("{alice}, {bob}")),
        ("bob and alice", format!("Bob <{bob}>, Alice <{alice}>")),
    ];
    for (what, from) in &cases {
        let message = format!(
            "From: {from}\r\nTo: {carol}\r\nSubject: {subject} {what}\r\nMIME-Version: 1.0\r\n{entity}",
            carol = email("carol")
        );
        deliver_from_outside(&bob, &email("carol"), message.as_bytes()).await;
    }
    assert_count_settles("carol", "INBOX", &subject, cases.len()).await;
    let mut browser = Browser::new(&trust).await;
    browser.sign_in("carol").await;

    let alone = open_message(&mut browser, &format!("{subject} bob alone"), "").await;
    assert!(
        alone.body.contains("smime-banner valid"),
        "the control case must be valid: {}",
        alone.body
    );
    for (what, _) in &cases[1..] {
        let page = open_message(&mut browser, &format!("{subject} {what}"), "").await;
        assert!(
            !page.body.contains("smime-banner valid"),
            "{what}: {}",
            page.body
        );
        assert!(page.body.contains("smime-banner invalid"), "{what}");
        assert!(
            page.body
                .contains("This message names more than one sender"),
            "{what}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn asking_for_remote_images_never_relaxes_the_policy_for_encrypted_mail() {
    let subject = unique("efail");
    let outside = "mallory@outside.test";
    let plain = format!(
        "From: {outside}\r\nTo: {carol}\r\nSubject: {subject} plain\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html\r\n\r\n<p>Hi<img src=\"https://tracker.outside.test/p.gif\"></p>\r\n",
        carol = email("carol")
    );
    let entity = String::from_utf8(openssl_enveloped_entity()).unwrap();
    let encrypted = format!(
        "From: {outside}\r\nTo: {carol}\r\nSubject: {subject} encrypted\r\nMIME-Version: 1.0\r\n{entity}",
        carol = email("carol")
    );
    deliver_from_outside(outside, &email("carol"), plain.as_bytes()).await;
    deliver_from_outside(outside, &email("carol"), encrypted.as_bytes()).await;
    assert_count_settles("carol", "INBOX", &subject, 2).await;
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let csp = |page: &Page| {
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string()
    };

    // The marker: for a plain message the reader's "Show images" widens img-src.
    let shown = open_message(&mut browser, &format!("{subject} plain"), "&images=1").await;
    assert!(
        csp(&shown).contains("img-src 'self' https:"),
        "{}",
        csp(&shown)
    );

    let page = open_message(&mut browser, &format!("{subject} encrypted"), "&images=1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"sealed-message\""), "{}", page.body);
    let policy = csp(&page);
    assert!(policy.contains("img-src 'self';"), "{policy}");
    assert!(
        !policy.contains("https:") && !policy.contains("http:"),
        "{policy}"
    );
}

#[tokio::test]
async fn pages_that_show_mail_are_never_cached() {
    let subject = unique("no-store");
    let message = format!(
        "From: mallory@outside.test\r\nTo: {alice}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n",
        alice = email("alice")
    );
    deliver_from_outside("mallory@outside.test", &email("alice"), message.as_bytes()).await;
    assert_count_settles("alice", "INBOX", &subject, 1).await;
    let mut browser = Browser::new("").await;
    let login = browser.get("/login").await;
    let inbox = browser.sign_in("alice").await;
    let uid = inbox.uid_of(&subject);
    let message = browser
        .get(&format!("/message?folder=INBOX&uid={uid}"))
        .await;
    let link_start = message.body.find("/attachment?").expect("attachment link");
    let link_end = message.body[link_start..].find('"').unwrap() + link_start;
    let attachment = unescape(&message.body[link_start..link_end]);
    let mut pages = vec![("sign-in", login), ("folder", inbox), ("message", message)];
    for (what, path) in [
        ("compose", "/compose".to_string()),
        (
            "reply",
            format!("/compose?mode=reply&folder=INBOX&uid={uid}"),
        ),
        (
            "raw message",
            format!("/message/raw?folder=INBOX&uid={uid}"),
        ),
        ("attachment", attachment),
        ("digital IDs", "/keys".to_string()),
        ("options", "/options".to_string()),
    ] {
        pages.push((what, browser.get(&path).await));
    }
    let csrf = pages[1].1.field("csrf");
    let api = browser
        .post_json(
            "/api/recipients",
            &csrf,
            &serde_json::json!({ "recipients": [email("bob")] }),
        )
        .await;
    pages.push(("JSON API", api));
    for (what, page) in &pages {
        assert_eq!(page.status, StatusCode::OK, "{what}: {}", page.body);
        let cache = page
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            cache.contains("no-store"),
            "{what}: Cache-Control {cache:?}"
        );
        assert!(
            page.headers.get("strict-transport-security").is_none(),
            "{what}: HSTS on a plain-http deployment"
        );
    }
}

/// A browser talking to a server configured for https (`secure_cookies = true`).
async fn https_browser() -> Browser {
    let db = tempfile::tempdir().unwrap();
    let text = config_text(&db, "").replace("secure_cookies = false", "secure_cookies = true");
    let config = sealmail_server::config::Config::from_toml(&text, []).unwrap();
    let (router, _state) = sealmail_server::build_app(config).await.unwrap();
    Browser {
        router,
        cookies: Vec::new(),
        _db: db,
    }
}

#[tokio::test]
async fn an_https_deployment_tells_browsers_to_stay_on_https() {
    let mut browser = https_browser().await;
    let login = browser.get("/login").await;
    assert_eq!(
        login.headers["strict-transport-security"],
        "max-age=31536000"
    );
}

/// Over https the session cookie is a `__Host-` cookie, which no sibling subdomain and no one on
/// plain http can plant; a bare-named cookie someone else set is not taken for a session.
#[tokio::test]
async fn an_https_deployment_keeps_its_session_cookie_to_this_host() {
    let mut browser = https_browser().await;
    browser.sign_in("alice").await;
    let session = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "__Host-sealmail_session")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no __Host- session cookie: {:?}", browser.cookies));
    assert!(browser.get("/mail?folder=INBOX").await.status.is_success());

    // The same value planted under the bare name is not a session.
    browser.cookies = vec![("sealmail_session".into(), session)];
    let page = browser.get("/mail?folder=INBOX").await;
    assert!(page.status.is_redirection(), "{}", page.status);
}

/// With `max_large_requests = 1`, an upload that stalls half way holds the one place for large
/// bodies: a large send waits for it, unread, while pages go on; once the stalled upload is
/// over, the send goes out, once.
#[tokio::test]
async fn a_large_send_waits_its_turn_while_pages_go_on() {
    use axum::body::Body;
    use axum::http::{Request, header};
    use futures::SinkExt;
    use tower::ServiceExt;

    let mut browser = Browser::new("max_large_requests = 1").await;
    browser.sign_in("alice").await;
    let subject = unique("in-turn");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);

    // A 2 MiB upload whose body stops after its first part. The channel holds one part: the
    // second is taken only once the first was read, so by then the upload holds the place.
    let (mut feed, body) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(0);
    let stalled_request = Request::post("/compose")
        .header(header::COOKIE, browser.cookie_header())
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=stall")
        .header(header::CONTENT_LENGTH, 2 * 1024 * 1024)
        .header("sec-fetch-site", "same-origin")
        .body(Body::from_stream(body))
        .unwrap();
    let stalled = tokio::spawn(browser.router.clone().oneshot(stalled_request));
    let part = b"--stall\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nnever\r\n";
    feed.send(Ok(part.to_vec())).await.unwrap();
    feed.send(Ok(part.to_vec())).await.unwrap();

    let mut sender = Browser {
        router: browser.router.clone(),
        cookies: browser.cookies.clone(),
        _db: tempfile::tempdir().unwrap(),
    };
    let attachment = vec![b'a'; 2 * 1024 * 1024];
    let send = tokio::spawn(async move {
        sender
            .post_multipart("/compose", &as_refs(&fields), &[("large.bin", &attachment)])
            .await
    });
    // Pages do not wait; the send does, for as long as the upload stalls.
    let page = browser.get("/mail?folder=INBOX").await;
    assert_eq!(page.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        !send.is_finished(),
        "the large send did not wait for its turn"
    );

    // The upload ends unfinished (the browser went away): its place goes to the send.
    drop(feed);
    let stalled = stalled.await.unwrap().unwrap();
    assert!(stalled.status().is_client_error(), "{}", stalled.status());
    send.await.unwrap().assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;
}

/// Each route takes a body of its own size: a message up to `max_upload_bytes`, the sign-in form
/// and the JSON endpoints far less. Over it, the user is told plainly and nothing is sent.
#[tokio::test]
async fn a_body_over_its_routes_limit_is_refused_plainly_and_nothing_is_sent() {
    let mut browser = Browser::new("max_upload_bytes = 20000").await;
    browser.sign_in("alice").await;
    let subject = unique("too-large");
    let form = browser.get("/compose").await;
    assert!(
        form.body.contains("data-max-bytes=\"20000\""),
        "{}",
        form.body
    );
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    let big = vec![7u8; 50_000];
    let refused = browser
        .post_multipart("/compose", &as_refs(&fields), &[("big.bin", &big)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("larger than this server accepts"),
        "{}",
        refused.body
    );
    let small = browser
        .post_multipart("/compose", &as_refs(&fields), &[("small.bin", &[1, 2, 3])])
        .await;
    small.assert_sent();
    assert_count_settles("bob", "INBOX", &subject, 1).await;

    // The sign-in form takes kilobytes, not the message limit.
    let padding = "x".repeat(40_000);
    let login = browser
        .post_form(
            "/login",
            &[("email", "alice@example.test"), ("pad", &padding)],
        )
        .await;
    assert_eq!(login.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// A message Sealmail accepts but the submission server would not (the rig's Postfix takes 50 MiB;
/// 38 MiB of attachment is over 50 MiB once encoded) is refused before it goes over the wire,
/// with both sizes, and what the user wrote is kept in Drafts.
#[tokio::test]
async fn a_message_over_the_mail_servers_size_is_refused_before_it_is_sent() {
    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let subject = unique("over-size");
    let form = browser.get("/compose").await;
    let fields = compose_fields(&form, &email("bob"), "", &subject);
    let big = vec![0x5au8; 38 * 1024 * 1024];
    let refused = browser
        .post_multipart("/compose", &as_refs(&fields), &[("video.bin", &big)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("accepts at most 50.0 MB")
            && refused.body.contains("remove or shrink attachments")
            && refused.body.contains("saved in Drafts"),
        "{}",
        refused.body
    );
    assert_count_settles("bob", "INBOX", &subject, 0).await;
    assert_count_settles("alice", "Drafts", &subject, 1).await;
}

/// Parallel guesses for one address: each attempt is counted before its password is tried, so
/// no more than the lockout allows ever reach the mail server (the test config locks after 4).
#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_lockout() {
    use tower::ServiceExt;
    let mut browser = Browser::new("").await;
    let address = email(&unique("parallel-guess"));
    let token = browser.get("/login").await.field("login_token");
    let body = format!(
        "email={}&password=guess&login_token={}",
        urlencode(&address),
        urlencode(&token)
    );
    let attempts = (0..40).map(|_| {
        let request = axum::http::Request::post("/login")
            .header(axum::http::header::COOKIE, browser.cookie_header())
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("sec-fetch-site", "same-origin")
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        browser.router.clone().oneshot(request)
    });
    let answers = futures::future::join_all(attempts).await;
    let checked = answers
        .iter()
        .filter(|a| a.as_ref().unwrap().status() == StatusCode::UNAUTHORIZED)
        .count();
    let locked = answers
        .iter()
        .filter(|a| a.as_ref().unwrap().status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 4,
        "{checked} passwords were tried, the limit is 4"
    );
    assert_eq!(checked + locked, 40);
}

/// Behind a trusted proxy, the person's address (its `X-Forwarded-For`) is what Dovecot sees
/// for their sign-in (`ID x-originating-ip`; the rig trusts loopback), not Sealmail's own.
#[tokio::test]
async fn the_imap_server_is_told_whom_sealmail_signs_in_for() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, header};

    let mut browser = Browser::new("trusted_proxies = [\"127.0.0.1\"]").await;
    // An address of the documentation prefix no earlier run used: the log is the rig's own.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let person = format!("2001:db8::{:x}:{:x}", (now >> 16) & 0xffff, now & 0xffff);
    let login = browser.get("/login").await;
    let body = format!(
        "email={}&password={}&login_token={}",
        urlencode(&email("carol")),
        urlencode(&password("carol")),
        urlencode(&login.field("login_token"))
    );
    let mut request = Request::post("/login")
        .header(header::COOKIE, browser.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", format!("198.51.100.1, {person}"))
        .body(Body::from(body))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:40000".parse::<std::net::SocketAddr>().unwrap(),
    ));
    let signed_in = browser.send(request).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );

    let log = std::path::Path::new(&rig("RIG_STATE_DIR")).join("log/dovecot.log");
    let wanted = format!("rip={person},");
    let found = (0..50).any(|_| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let hit = text
            .lines()
            .any(|l| l.contains("Login: user=<carol@") && l.contains(&wanted));
        if !hit {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        hit
    });
    assert!(
        found,
        "no login of carol from {person} in {}",
        log.display()
    );
}
