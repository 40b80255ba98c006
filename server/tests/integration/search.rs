//! Finding and organising mail through the real router and Dovecot: search (one folder and
//! all), sort by date and the other orders, flags, and queries made of IMAP's own syntax.

use crate::common::*;
use axum::http::StatusCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// A plain message with a chosen Date header (`minutes_ago` before now) and body.
fn message(to: &str, subject: &str, minutes_ago: i64, body: &str) -> Vec<u8> {
    let date = (OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago))
        .format(&Rfc2822)
        .unwrap();
    format!(
        "From: Olivia Outside <olivia@outside.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn search(browser: &mut Browser, query: &str) -> Page {
    let page = browser.get(&format!("/search?{query}")).await;
    assert!(
        page.status.is_success() || page.status.is_client_error(),
        "/search?{query} answered {}: {}",
        page.status,
        page.body
    );
    assert!(
        !page.body.contains("Something went wrong") && !page.body.contains("Mail server"),
        "/search?{query} showed an error page: {}",
        page.body
    );
    page
}

/// The href of the listed message whose subject contains `subject`, unescaped.
fn link_to(page: &Page, subject: &str) -> String {
    let table = page.body.find("<tbody>").expect("results listed");
    let at = page.body[table..]
        .find(subject)
        .unwrap_or_else(|| panic!("{subject} is not listed:\n{}", page.body))
        + table;
    let start = page.body[..at].rfind("href=\"").expect("a link") + 6;
    let end = page.body[start..].find('"').unwrap() + start;
    unescape(&page.body[start..end])
}

#[tokio::test]
async fn a_word_only_in_one_body_is_found_among_several_and_the_result_opens() {
    let marker = unique("needle");
    let word = unique("zebrafish").replace('-', "");
    let bob = email("bob");
    for (n, body) in [
        (1, "Nothing to see here.".to_string()),
        (2, "Still nothing.".to_string()),
        (3, format!("The {word} is in this one only.")),
    ] {
        let subject = format!("{marker} part{n}");
        deliver_from_outside(
            "olivia@outside.test",
            &bob,
            &message(&bob, &subject, 0, &body),
        )
        .await;
    }
    assert_count_settles("bob", "INBOX", &marker, 3).await;

    let mut browser = Browser::new("page_size = 2").await;
    let inbox = browser.sign_in("bob").await;
    assert!(inbox.body.contains("role=\"search\""), "{}", inbox.body);
    assert!(inbox.body.contains("aria-label=\"Search mail\""));

    for field in ["body", "all"] {
        let found = search(
            &mut browser,
            &format!("q={word}&field={field}&folder=INBOX"),
        )
        .await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(
            found.headers["cache-control"], "no-store",
            "results show mail"
        );
        assert!(
            found.body.contains(&format!("{marker} part3")),
            "{}",
            found.body
        );
        assert!(!found.body.contains(&format!("{marker} part1")));
        assert!(!found.body.contains(&format!("{marker} part2")));
        assert!(
            found.body.contains("1 message found in Inbox"),
            "{}",
            found.body
        );
        assert!(
            found
                .body
                .contains("The server searches only the headers of encrypted messages")
        );
        let opened = browser
            .get(&link_to(&found, &format!("{marker} part3")))
            .await;
        assert_eq!(opened.status, StatusCode::OK);
        assert!(
            opened
                .body
                .contains(&format!("The {word} is in this one only."))
        );
    }
    let in_subjects = search(&mut browser, &format!("q={word}&field=subject")).await;
    assert!(
        in_subjects
            .body
            .contains("No messages in Inbox match your search."),
        "{}",
        in_subjects.body
    );

    // Paged like the folder, and the pager keeps the search.
    let first = search(&mut browser, &format!("q={marker}&field=subject")).await;
    assert!(
        first
            .body
            .contains("3 messages found in Inbox, page 1 of 2"),
        "{}",
        first.body
    );
    let older = first.body.find("rel=\"next\"").expect("an older page");
    let start = first.body[..older].rfind("href=\"").unwrap() + 6;
    let end = first.body[start..].find('"').unwrap() + start;
    let href = unescape(&first.body[start..end]);
    assert!(
        href.contains("field=subject") && href.contains("page=2"),
        "{href}"
    );
    let second = search(&mut browser, &href[href.find('?').unwrap() + 1..]).await;
    assert!(second.body.contains("page 2 of 2"), "{}", second.body);
    assert_eq!(
        second.body.matches(&marker).count()
            - second.body.matches(&format!("value=\"{marker}\"")).count(),
        1,
        "the last result is on page 2"
    );
}

#[tokio::test]
async fn all_folders_finds_mail_in_another_folder_and_says_where() {
    let subject = unique("elsewhere");
    let carol = email("carol");
    let mut session = imap_login("carol").await;
    session
        .append(
            "Junk",
            None,
            None,
            message(&carol, &subject, 0, "Filed away."),
        )
        .await
        .expect("append to Junk");
    let _ = session.logout().await;

    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let here = search(
        &mut browser,
        &format!("q={subject}&folder=INBOX&scope=folder"),
    )
    .await;
    assert!(
        here.body.contains("No messages in Inbox match"),
        "{}",
        here.body
    );

    let everywhere = search(&mut browser, &format!("q={subject}&folder=INBOX&scope=all")).await;
    assert!(
        everywhere.body.contains("1 message found in all folders"),
        "{}",
        everywhere.body
    );
    let table = everywhere.body.find("<tbody>").expect("results listed");
    let row_start = everywhere.body[table..].find(&subject).unwrap() + table;
    let row_end = everywhere.body[row_start..].find("</tr>").unwrap() + row_start;
    assert!(
        everywhere.body[row_start..row_end].contains("<td class=\"folder\">Junk</td>"),
        "the row names the folder: {}",
        &everywhere.body[row_start..row_end]
    );
    assert!(
        everywhere
            .body
            .contains("<th scope=\"col\" class=\"folder\">Folder</th>")
    );
    let opened = browser.get(&link_to(&everywhere, &subject)).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains("Filed away."));
}

#[tokio::test]
async fn newest_received_comes_first_date_order_follows_the_date_header_and_orders_stay_in_the_url()
{
    let marker = unique("sorting");
    let bob = email("bob");
    // Dated a year ahead, so these two lead the date order whatever else the other tests
    // deliver to bob meanwhile. Arrives first, written later.
    const AHEAD: i64 = -365 * 24 * 60;
    let written_later = format!("{marker} zulu written later");
    deliver_from_outside(
        "olivia@outside.test",
        &bob,
        &message(&bob, &written_later, AHEAD + 1, "short"),
    )
    .await;
    assert_count_settles("bob", "INBOX", &written_later, 1).await;
    // Arrives second, written earlier, and larger.
    let written_earlier = format!("{marker} alpha written earlier");
    deliver_from_outside(
        "olivia@outside.test",
        &bob,
        &message(&bob, &written_earlier, AHEAD + 2, &"padding ".repeat(2000)),
    )
    .await;
    assert_count_settles("bob", "INBOX", &written_earlier, 1).await;

    let mut browser = Browser::new("").await;
    let received = browser.sign_in("bob").await;
    let position = |page: &Page, s: &str| {
        page.body
            .find(s)
            .unwrap_or_else(|| panic!("{s} not listed: {}", page.body))
    };
    assert!(
        position(&received, &written_earlier) < position(&received, &written_later),
        "the message received last comes first, whatever its Date header says"
    );
    assert!(received.body.contains("newest first"));
    assert!(
        received
            .body
            .contains("<option value=\"received\" selected>")
    );

    let by_date = browser.get("/mail?folder=INBOX&sort=date").await;
    assert!(
        position(&by_date, &written_later) < position(&by_date, &written_earlier),
        "newest by Date header first"
    );
    assert!(
        by_date.body.contains("by date, newest first"),
        "{}",
        by_date.body
    );

    let by_subject = browser.get("/mail?folder=INBOX&sort=subject").await;
    assert_eq!(by_subject.status, StatusCode::OK);
    assert!(
        by_subject.body.contains("by subject"),
        "{}",
        by_subject.body
    );
    assert!(
        by_subject
            .body
            .contains("<option value=\"subject\" selected>")
    );
    let by_size = browser.get("/mail?folder=INBOX&sort=size").await;
    assert!(by_size.body.contains("largest first"));
    let older = browser.get("/mail?folder=INBOX&sort=size&page=1").await;
    if let Some(at) = older.body.find("rel=\"next\"") {
        let start = older.body[..at].rfind("href=\"").unwrap() + 6;
        let href = unescape(&older.body[start..at - 2]);
        assert!(href.contains("sort=size&page=2"), "{href}");
    }
    // Nonsense in the URL still shows the folder.
    let odd = browser
        .get("/mail?folder=INBOX&sort=sideways&page=last")
        .await;
    assert_eq!(odd.status, StatusCode::OK);
}

#[tokio::test]
async fn imap_syntax_in_a_query_is_searched_for_literally_and_bad_queries_get_a_sentence() {
    let marker = unique("syntax");
    let carol = email("carol");
    let subject = format!(r#"{marker} Price {{5}} (net) 50% back\slash say"hi" *star*"#);
    deliver_from_outside(
        "olivia@outside.test",
        &carol,
        &message(&carol, &subject, 0, "Grüße aus Köln, 100% sicher."),
    )
    .await;
    assert_count_settles("carol", "INBOX", &marker, 1).await;

    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    for (query, found) in [
        ("{5}", true),
        ("(net)", true),
        ("50%", true),
        (r"back\slash", true),
        (r#"say"hi""#, true),
        ("*star*", true),
        ("Köln", true),
        ("grüße", true),
        ("{99999}", false),
        (")(", false),
        ("a\r\nA1 LOGOUT", false),
        ("\\", true),
        ("%*", false),
    ] {
        let page = search(
            &mut browser,
            &format!("q={}&folder=INBOX", urlencode(query)),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        assert_eq!(
            page.body.contains(&marker),
            found,
            "searching {query:?}: {}",
            page.body
        );
    }
    // The session survived whatever was typed.
    assert_eq!(
        browser.get("/mail?folder=INBOX").await.status,
        StatusCode::OK
    );

    let empty = search(&mut browser, "q=&folder=INBOX").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.body.contains("Type a word to search for"),
        "{}",
        empty.body
    );
    let quote = search(&mut browser, "q=%22&folder=INBOX").await;
    assert!(quote.body.contains("Type a word to search for"));

    let huge = search(&mut browser, &format!("q={}&folder=INBOX", "x".repeat(501))).await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST);
    assert!(
        huge.body
            .contains("Your search is 501 characters long; the most is 500."),
        "{}",
        huge.body
    );
    let wrong_date = search(&mut browser, "q=x&since=yesterday").await;
    assert_eq!(wrong_date.status, StatusCode::BAD_REQUEST);
    assert!(wrong_date.body.contains("is not a date"));
    let odd_page = search(&mut browser, &format!("q={marker}&page=-3")).await;
    assert!(
        odd_page.body.contains("1 message found"),
        "{}",
        odd_page.body
    );
}

#[tokio::test]
async fn flag_and_unflag_round_trip_shows_in_the_list_and_the_flagged_filter() {
    let subject = unique("important");
    let carol = email("carol");
    deliver_from_outside(
        "olivia@outside.test",
        &carol,
        &message(&carol, &subject, 0, "Do not forget."),
    )
    .await;
    assert_count_settles("carol", "INBOX", &subject, 1).await;

    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");
    let uid = inbox.uid_of(&subject);
    let opened = browser
        .get(&format!("/message?folder=INBOX&uid={uid}"))
        .await;
    assert!(opened.body.contains("value=\"flag\">Flag</button>"));

    let forged = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", "forged"),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "flag"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let flagged = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", &token),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "flag"),
            ],
        )
        .await;
    assert_eq!(
        flagged.location,
        Some(format!("/message?folder=INBOX&uid={uid}&notice=flagged"))
    );
    let shown = browser.get(flagged.location.as_deref().unwrap()).await;
    assert!(shown.body.contains("The message was flagged."));
    assert!(shown.body.contains("value=\"unflag\">Unflag</button>"));
    let listed = browser.get("/mail?folder=INBOX").await;
    let at = listed.body.find(&subject).unwrap();
    let row = &listed.body[listed.body[..at].rfind("<tr").unwrap()..at];
    assert!(
        row.contains("flagged") && row.contains("Flagged. "),
        "{row}"
    );
    let only_flagged = search(&mut browser, &format!("q={subject}&flagged=1")).await;
    assert!(
        only_flagged.body.contains("1 message found"),
        "{}",
        only_flagged.body
    );

    let unflagged = browser
        .post_form(
            "/message/action",
            &[
                ("csrf", &token),
                ("folder", "INBOX"),
                ("uid", &uid),
                ("action", "unflag"),
            ],
        )
        .await;
    assert_eq!(
        unflagged.location,
        Some(format!("/message?folder=INBOX&uid={uid}&notice=unflagged"))
    );
    let listed = browser.get("/mail?folder=INBOX").await;
    let at = listed.body.find(&subject).unwrap();
    let row = &listed.body[listed.body[..at].rfind("<tr").unwrap()..at];
    assert!(!row.contains("Flagged. "), "{row}");
    let only_flagged = search(&mut browser, &format!("q={subject}&flagged=1")).await;
    assert!(only_flagged.body.contains("No messages in Inbox match"));
}

#[tokio::test]
async fn the_attachments_filter_keeps_mail_with_attachments_and_unread_keeps_unread() {
    let marker = unique("attached");
    let alice = email("alice");
    let with_file = format!(
        "From: olivia@outside.test\r\nTo: {alice}\r\nSubject: {marker} with file\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n"
    );
    deliver_from_outside("olivia@outside.test", &alice, with_file.as_bytes()).await;
    let plain = format!("{marker} plain");
    deliver_from_outside(
        "olivia@outside.test",
        &alice,
        &message(&alice, &plain, 0, "no file"),
    )
    .await;
    assert_count_settles("alice", "INBOX", &marker, 2).await;

    let mut browser = Browser::new("").await;
    browser.sign_in("alice").await;
    let attached = search(&mut browser, &format!("q={marker}&attachments=1")).await;
    assert!(
        attached.body.contains("1 message found"),
        "{}",
        attached.body
    );
    assert!(attached.body.contains(&format!("{marker} with file")));
    let opened = browser
        .get(&link_to(&attached, &format!("{marker} with file")))
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    // Only the plain one is unread now; a filter alone, with no words, is a search too.
    let unread = search(&mut browser, &format!("q={marker}&unread=1&field=subject")).await;
    assert!(unread.body.contains("1 message found"), "{}", unread.body);
    assert!(unread.body.contains(&plain));
    let filter_only = search(&mut browser, "q=&unread=1&since=2000-01-01").await;
    assert_eq!(filter_only.status, StatusCode::OK);
    assert!(
        filter_only.body.contains("found in Inbox"),
        "{}",
        filter_only.body
    );
}

/// The same search with every way of asking: SORT or SEARCH, and non-ASCII words as LITERAL+
/// literals or synchronising ones (for servers without LITERAL+), several in one command.
#[tokio::test]
async fn every_way_of_sending_a_search_finds_the_same_message() {
    use sealmail_server::config::{MailServer, Security};
    use sealmail_server::imap::Connector;
    use sealmail_server::imap::search::{self, Abilities, Criteria, Field, Order};
    let marker = unique("literal");
    let bob = email("bob");
    deliver_from_outside(
        "olivia@outside.test",
        &bob,
        &message(&bob, &marker, 0, "Smörgåsbord in Malmö, naïve café."),
    )
    .await;
    assert_count_settles("bob", "INBOX", &marker, 1).await;

    let ca = std::path::PathBuf::from(rig("RIG_TLS_CA"));
    let connector = Connector::new(
        MailServer {
            host: "localhost".into(),
            port: rig("RIG_IMAP_PORT").parse().unwrap(),
            security: Security::Starttls,
            ca_file: Some(ca.clone()),
            timeout_seconds: 5,
            send_lease_seconds: None,
            max_connections: None,
            max_connections_per_user: None,
        },
        sealmail_server::tls::client_config(Some(&ca)).unwrap(),
    );
    let mut session = connector.login(&bob, &password("bob"), None).await.unwrap();
    let criteria = Criteria {
        terms: search::terms(&format!("Malmö {marker} café \"naïve café\"")),
        field: Field::All,
        ..Criteria::default()
    };
    let mut answers = Vec::new();
    for sort in [true, false] {
        for literal_plus in [true, false] {
            let abilities = Abilities {
                sort,
                sort_display: false,
                literal_plus,
                thread: false,
            };
            let found = search::find(&mut session, "INBOX", abilities, &criteria)
                .await
                .unwrap_or_else(|e| panic!("sort {sort}, LITERAL+ {literal_plus}: {e}"));
            assert_eq!(found.len(), 1, "sort {sort}, LITERAL+ {literal_plus}");
            answers.push(found);
            // The connection is still in step: a plain command after it works.
            let again = search::uids(&mut session, abilities, &Criteria::default(), Order::Size)
                .await
                .unwrap();
            assert!(!again.is_empty());
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let _ = session.logout().await;
}

/// The browser's index of encrypted mail asks which messages of a folder the server cannot read:
/// the encrypted ones, newest first, with the fields their list row shows; not the plain or the
/// opaque-signed ones, and nothing of any body.
#[tokio::test]
async fn the_encrypted_messages_of_a_folder_are_listed_for_the_browsers_index() {
    let folder = unique("Sealed");
    let carol = email("carol");
    let pkcs7 = |subject: &str, smime_type: &str, minutes_ago: i64| {
        let date = (OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago))
            .format(&Rfc2822)
            .unwrap();
        format!(
            "From: Olivia Outside <olivia@outside.test>\r\nTo: {carol}\r\nSubject: {subject}\r\n\
             Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; \
             smime-type={smime_type}; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             MIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\r\n"
        )
        .into_bytes()
    };
    let mut session = imap_login("carol").await;
    session.create(&folder).await.expect("create the folder");
    for message in [
        pkcs7("older sealed", "enveloped-data", 60),
        message(&carol, "plain", 30, "Readable by the server."),
        pkcs7("opaque signed", "signed-data", 20),
        pkcs7("newer sealed", "enveloped-data", 10),
    ] {
        session
            .append(&folder, None, None, message)
            .await
            .expect("append");
    }
    let _ = session.logout().await;

    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let answer = browser
        .get(&format!(
            "/api/search/encrypted?folder={}",
            urlencode(&folder)
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let listed: Vec<(&str, u64)> = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["subject"].as_str().unwrap(), m["uid"].as_u64().unwrap()))
        .collect();
    assert_eq!(listed, [("newer sealed", 4), ("older sealed", 1)], "{json}");
    let newer = &json["messages"][0];
    assert!(
        newer["from"].as_str().unwrap().contains("Olivia Outside"),
        "{json}"
    );
    assert!(newer["date"].as_i64().unwrap() > 0, "{json}");

    let missing = browser
        .get("/api/search/encrypted?folder=No%20such%20folder")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}
