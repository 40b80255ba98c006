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

/// A folder listed by date is sorted by the server once while nothing changes there: the list
/// again comes from what the connection kept, and a message arriving (from another mail
/// client) makes the next list sort afresh and show it first.
#[tokio::test]
async fn a_folder_listed_by_date_is_sorted_again_only_when_mail_arrives() {
    let folder = unique("Sorted");
    let mut other_client = imap_login("alice").await;
    other_client.create(&folder).await.expect("create");
    let store = |subject: &str, date: &str| {
        format!(
            "From: Olivia <olivia@outside.test>\r\nTo: {}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\nBody.\r\n",
            email("alice")
        )
    };
    for (subject, date) in [
        ("Sorted older", "Mon, 2 Nov 2026 09:00:00 +0000"),
        ("Sorted newer", "Tue, 3 Nov 2026 09:00:00 +0000"),
    ] {
        other_client
            .append(&folder, None, None, store(subject, date).as_bytes())
            .await
            .expect("append");
    }

    let proxy = CountingProxy::start(rig("RIG_IMAP_PORT").parse().expect("port")).await;
    let mut browser = Browser::through_imap_proxy(proxy.port, "").await;
    browser.sign_in("alice").await;
    let url = format!("/mail?folder={}&sort=date", urlencode(&folder));
    let sorts = || {
        proxy
            .client_said()
            .to_ascii_uppercase()
            .matches(" SORT (")
            .count()
    };
    let listed = browser.get(&url).await;
    let at = |page: &Page, subject: &str| page.body.find(subject).unwrap_or(usize::MAX);
    assert!(
        at(&listed, "Sorted newer") < at(&listed, "Sorted older"),
        "{}",
        listed.body
    );
    assert_eq!(sorts(), 1);
    let again = browser.get(&url).await;
    assert!(
        at(&again, "Sorted newer") < at(&again, "Sorted older"),
        "{}",
        again.body
    );
    assert_eq!(sorts(), 1, "the same list was sorted twice");

    other_client
        .append(
            &folder,
            None,
            None,
            store("Sorted newest", "Wed, 4 Nov 2026 09:00:00 +0000").as_bytes(),
        )
        .await
        .expect("append");
    let after = browser.get(&url).await;
    assert!(
        at(&after, "Sorted newest") < at(&after, "Sorted newer"),
        "{}",
        after.body
    );
    assert_eq!(sorts(), 2);
    other_client.delete(&folder).await.expect("delete");
}
