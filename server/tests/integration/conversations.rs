//! Conversations (issue 17): a folder shown as threads from the rig's Dovecot (`UID THREAD
//! REFERENCES`), switched per user and remembered, with replies in reading order under the
//! message they answer.

use crate::common::proxy::RewritingProxy;
use crate::common::*;
use axum::http::StatusCode;

fn message(subject: &str, id: &str, replying_to: &[&str]) -> Vec<u8> {
    let threading = match replying_to.last() {
        Some(parent) => format!(
            "In-Reply-To: <{parent}>\r\nReferences: {}\r\n",
            replying_to
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        None => String::new(),
    };
    format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\n{threading}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         Part of a conversation.\r\n",
        email("alice")
    )
    .into_bytes()
}

/// The `<li class="conversation…">` holding `needle`.
fn conversation<'a>(page: &'a Page, needle: &str) -> &'a str {
    let at = page
        .body
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} is not listed:\n{}", page.body));
    let start = page.body[..at]
        .rfind("<li class=\"conversation")
        .expect("inside a conversation");
    let end = page.body[at..]
        .find("\n  </li>")
        .expect("conversation closes")
        + at;
    &page.body[start..end]
}

#[tokio::test]
async fn a_folder_shows_as_conversations_when_the_user_asks_and_remembers_it() {
    let topic = unique("Budget talk");
    let other = unique("Unrelated note");
    let root = format!("{}@outside.test", unique("root"));
    let reply = format!("{}@outside.test", unique("reply"));
    let answer = format!("{}@outside.test", unique("answer"));
    let to_alice = email("alice");
    let deliver = |m: Vec<u8>| {
        let to = to_alice.clone();
        async move { deliver_over_lmtp("olivia@outside.test", &to, &m).await }
    };
    deliver(message(&topic, &root, &[])).await;
    deliver(message(&other, &unique("other"), &[])).await;
    deliver(message(&format!("Re: {topic} (1)"), &reply, &[&root])).await;
    deliver(message(
        &format!("Re: {topic} (2)"),
        &answer,
        &[&root, &reply],
    ))
    .await;

    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let list = browser.get("/mail?folder=INBOX").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(">Show as conversations</button>"));
    assert!(!list.body.contains("<details>"), "a plain list by default");
    let csrf = list.field("csrf");

    // A value the form never sends is refused with the reason, and changes nothing.
    let refused = browser
        .post_form(
            "/mail/view",
            &[("csrf", &csrf), ("folder", "INBOX"), ("show", "threads!")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("Choose to show the folder as conversations or as a list.")
    );
    assert!(
        !browser
            .get("/mail?folder=INBOX")
            .await
            .body
            .contains("<details>")
    );

    let switched = browser
        .post_form(
            "/mail/view",
            &[
                ("csrf", &csrf),
                ("folder", "INBOX"),
                ("show", "conversations"),
            ],
        )
        .await;
    assert_eq!(switched.location.as_deref(), Some("/mail?folder=INBOX"));
    let threads = browser.get("/mail?folder=INBOX").await;
    assert!(threads.body.contains(">Show as a list</button>"));
    assert!(threads.body.contains(" conversations, page 1 of "));

    // The three messages are one conversation: the first message's subject on its closed line,
    // then each message indented under the one it answers.
    let talk = conversation(
        &threads,
        &format!("<span class=\"c-subject\">{topic}</span>"),
    );
    assert!(talk.contains("3 messages"), "{talk}");
    let first = talk
        .find(&format!(">{topic}</a>"))
        .expect("the first message");
    let second = talk
        .find(&format!(">Re: {topic} (1)</a>"))
        .expect("the reply");
    let third = talk
        .find(&format!(">Re: {topic} (2)</a>"))
        .expect("the answer to the reply");
    assert!(first < second && second < third, "{talk}");
    assert!(talk[..first].contains("depth-0"), "{talk}");
    assert!(talk[first..second].contains("depth-1"), "{talk}");
    assert!(talk[second..third].contains("depth-2"), "{talk}");
    // A message on its own stays one line, not inside the conversation.
    assert!(!talk.contains(&other));
    let alone = conversation(&threads, &format!(">{other}</a>"));
    assert!(!alone.contains("<details>"), "{alone}");
    // The conversation with the latest arrival comes first.
    assert!(threads.body.find(&topic) < threads.body.find(&other));

    // "Select all on this page" (the link without script) ticks every message of every conversation.
    let ticked = browser.get("/mail?folder=INBOX&select=all").await;
    let talk = conversation(
        &ticked,
        &format!("<span class=\"c-subject\">{topic}</span>"),
    );
    assert_eq!(talk.matches(" checked>").count(), 3, "{talk}");

    // Remembered for the user: a new session shows conversations too.
    browser.cookies.clear();
    browser.sign_in("alice").await;
    let again = browser.get("/mail?folder=INBOX").await;
    assert!(again.body.contains("3 messages"), "{}", again.body);

    let csrf = again.field("csrf");
    browser
        .post_form(
            "/mail/view",
            &[("csrf", &csrf), ("folder", "INBOX"), ("show", "messages")],
        )
        .await;
    let plain = browser.get("/mail?folder=INBOX").await;
    assert!(!plain.body.contains("<details>"));
    assert!(plain.body.contains(&format!(">Re: {topic} (2)</a>")));
}

/// A server without THREAD=REFERENCES (here: the rig's Dovecot with the word hidden): the folder
/// is the plain list even for a user who chose conversations, and no switch is offered that
/// could not work.
#[tokio::test]
async fn without_thread_on_the_server_the_list_is_shown_and_no_switch_offered() {
    // The proxy hides a capability, so the server is reached through it in the clear.
    let proxy = RewritingProxy::start(
        rig("RIG_IMAP_PORT").parse().expect("port"),
        "THREAD=REFERENCES",
        "X-NOT-THREADING",
    )
    .await;
    let mut browser = Browser::through_imap_proxy(proxy.port, "").await;
    let inbox = browser.sign_in("alice").await;
    let csrf = inbox.field("csrf");
    assert!(
        !inbox.body.contains("Show as conversations"),
        "{}",
        inbox.body
    );
    // Chosen earlier (or posted by hand): remembered, but the list is what the server can give.
    let chosen = browser
        .post_form(
            "/mail/view",
            &[
                ("csrf", &csrf),
                ("folder", "INBOX"),
                ("show", "conversations"),
            ],
        )
        .await;
    assert_eq!(chosen.location.as_deref(), Some("/mail?folder=INBOX"));
    let list = browser.get("/mail?folder=INBOX").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(" messages, page 1 of "), "{}", list.body);
    assert!(!list.body.contains("<details>"), "{}", list.body);
    assert!(!list.body.contains("Show as a list"), "{}", list.body);
}
