//! Organising mail through the real router and Dovecot: the folders page (create, nest,
//! rename, delete with its count, subscribe, empty Trash, special folders refused even to a
//! forged form) and actions on several selected messages at once.

use crate::common::*;
use axum::http::StatusCode;
use futures::TryStreamExt;

/// Every folder name the user has, read directly over IMAP.
async fn folder_names(user: &str) -> Vec<String> {
    let mut session = imap_login(user).await;
    let names: Vec<String> = session
        .list(Some(""), Some("*"))
        .await
        .expect("LIST")
        .try_collect::<Vec<_>>()
        .await
        .expect("LIST answers")
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    let _ = session.logout().await;
    names
}

async fn subscribed_names(user: &str) -> Vec<String> {
    let mut session = imap_login(user).await;
    let names: Vec<String> = session
        .lsub(Some(""), Some("*"))
        .await
        .expect("LSUB")
        .try_collect::<Vec<_>>()
        .await
        .expect("LSUB answers")
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    let _ = session.logout().await;
    names
}

async fn append(user: &str, folder: &str, subject: &str, n: usize) {
    let mut session = imap_login(user).await;
    for i in 0..n {
        let message = format!(
            "From: Olivia <olivia@outside.test>\r\nTo: {}\r\nSubject: {subject} {i}\r\n\r\nbody {i}\r\n",
            email(user)
        );
        session
            .append(folder, None, None, message.as_bytes())
            .await
            .expect("APPEND");
    }
    let _ = session.logout().await;
}

/// The sidebar's part of a page.
fn sidebar(page: &Page) -> &str {
    let start = page.body.find("aria-label=\"Folders\"").expect("a sidebar");
    let end = page.body[start..].find("</nav>").expect("sidebar ends") + start;
    &page.body[start..end]
}

/// The text of the page's error, if it shows one.
fn error_of(page: &Page) -> Option<String> {
    let at = page.body.find("role=\"alert\"")?;
    let start = page.body[at..].find('>')? + at + 1;
    let end = page.body[start..].find("</p>")? + start;
    Some(unescape(&page.body[start..end]))
}

#[tokio::test]
async fn folders_are_created_nested_renamed_and_deleted_naming_their_count() {
    let name = unique("Projects");
    let child = "Reports";
    let renamed = unique("Renamed");
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    assert!(
        sidebar(&inbox).contains("href=\"/folders\""),
        "the sidebar links to the folders page"
    );

    let created = browser
        .post_form("/folders/create", &[("csrf", &token), ("name", &name)])
        .await;
    assert_eq!(
        created.location.as_deref(),
        Some("/folders?notice=folder-created"),
        "{}",
        created.body
    );
    let nested = browser
        .post_form(
            "/folders/create",
            &[("csrf", &token), ("name", child), ("parent", &name)],
        )
        .await;
    assert_eq!(nested.status, StatusCode::SEE_OTHER, "{}", nested.body);
    let full_child = format!("{name}/{child}");
    let names = folder_names("alice").await;
    assert!(
        names.contains(&name) && names.contains(&full_child),
        "{names:?}"
    );
    let subscribed = subscribed_names("alice").await;
    assert!(subscribed.contains(&name) && subscribed.contains(&full_child));
    let listed = browser.get("/mail?folder=INBOX").await;
    assert!(sidebar(&listed).contains(&name), "new folders are listed");
    let page = browser.get("/folders?notice=folder-created").await;
    assert!(page.body.contains("The folder was created."));
    assert!(
        page.body.contains(&format!(
            "name=\"folder\" value=\"{name}\"><button type=\"submit\">Delete"
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(&full_child), "{}", page.body);

    // Refused names change nothing and say why.
    let before = folder_names("alice").await;
    let long = "x".repeat(101);
    for (typed, status, words) in [
        ("", StatusCode::BAD_REQUEST, "Type a name for the folder."),
        ("a/b", StatusCode::BAD_REQUEST, "cannot contain \"/\""),
        ("tab\there", StatusCode::BAD_REQUEST, "control characters"),
        (
            long.as_str(),
            StatusCode::BAD_REQUEST,
            "at most 100 characters",
        ),
        (
            "..",
            StatusCode::BAD_REQUEST,
            "cannot be \".\" or contain \"..\"",
        ),
        ("50%", StatusCode::BAD_REQUEST, "wildcards"),
        (
            name.as_str(),
            StatusCode::CONFLICT,
            "There is already a folder called",
        ),
        (
            "inbox",
            StatusCode::CONFLICT,
            "There is already a folder called",
        ),
    ] {
        let refused = browser
            .post_form("/folders/create", &[("csrf", &token), ("name", typed)])
            .await;
        assert_eq!(refused.status, status, "{typed:?}: {}", refused.body);
        let error = error_of(&refused).unwrap_or_else(|| panic!("{typed:?}: no error shown"));
        assert!(error.contains(words), "{typed:?}: {error}");
    }
    let nested_clash = browser
        .post_form(
            "/folders/create",
            &[("csrf", &token), ("name", child), ("parent", &name)],
        )
        .await;
    assert_eq!(nested_clash.status, StatusCode::CONFLICT);
    assert_eq!(folder_names("alice").await, before, "nothing was created");

    // A folder with folders inside cannot be deleted; its child can, after the count is named.
    append("alice", &full_child, &unique("kept"), 3).await;
    let with_children = browser
        .get(&format!("/folders/delete?folder={}", urlencode(&name)))
        .await;
    assert_eq!(with_children.status, StatusCode::CONFLICT);
    assert!(
        error_of(&with_children)
            .unwrap()
            .contains("has folders inside it")
    );
    let confirm = browser
        .get(&format!(
            "/folders/delete?folder={}",
            urlencode(&full_child)
        ))
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        unescape(&confirm.body).contains(&format!(
            "Delete folder \"{full_child}\" and its 3 messages?"
        )),
        "{}",
        confirm.body
    );
    assert_eq!(confirm.field("messages"), "3");
    // Mail arrived after the question: ask again with the new count, delete nothing.
    append("alice", &full_child, &unique("late"), 1).await;
    let stale = browser
        .post_form(
            "/folders/delete",
            &[("csrf", &token), ("folder", &full_child), ("messages", "3")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(unescape(&stale.body).contains("and its 4 messages?"));
    assert!(folder_names("alice").await.contains(&full_child));
    let deleted = browser
        .post_form(
            "/folders/delete",
            &[("csrf", &token), ("folder", &full_child), ("messages", "4")],
        )
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/folders?notice=folder-deleted"),
        "{}",
        deleted.body
    );
    assert!(!folder_names("alice").await.contains(&full_child));
    assert!(!subscribed_names("alice").await.contains(&full_child));

    // Renaming keeps the folder's place in the list (its subscription follows it).
    let moved = browser
        .post_form(
            "/folders/rename",
            &[("csrf", &token), ("folder", &name), ("name", &renamed)],
        )
        .await;
    assert_eq!(
        moved.location.as_deref(),
        Some("/folders?notice=folder-renamed"),
        "{}",
        moved.body
    );
    let names = folder_names("alice").await;
    assert!(
        names.contains(&renamed) && !names.contains(&name),
        "{names:?}"
    );
    let listed = browser.get("/mail?folder=INBOX").await;
    assert!(sidebar(&listed).contains(&renamed) && !sidebar(&listed).contains(&name));
    let bad_rename = browser
        .post_form(
            "/folders/rename",
            &[("csrf", &token), ("folder", &renamed), ("name", "x/y")],
        )
        .await;
    assert_eq!(bad_rename.status, StatusCode::BAD_REQUEST);

    // Another site's form (or a stale token) changes nothing.
    let forged = browser
        .post_form(
            "/folders/delete",
            &[
                ("csrf", "not-the-token"),
                ("folder", &renamed),
                ("messages", "0"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(folder_names("alice").await.contains(&renamed));
    let gone = browser
        .post_form(
            "/folders/delete",
            &[("csrf", &token), ("folder", &renamed), ("messages", "0")],
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    assert!(!folder_names("alice").await.contains(&renamed));
}

#[tokio::test]
async fn special_folders_cannot_be_renamed_or_deleted_even_by_a_forged_form() {
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("alice").await;
    let token = inbox.field("csrf");
    let page = browser.get("/folders").await;
    assert_eq!(page.status, StatusCode::OK);
    for folder in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(
            !page.body.contains(&format!(
                "name=\"folder\" value=\"{folder}\"><button type=\"submit\">Delete"
            )),
            "{folder} offers Delete"
        );
    }
    let before = folder_names("alice").await;
    for folder in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        let rename = browser
            .post_form(
                "/folders/rename",
                &[("csrf", &token), ("folder", folder), ("name", "Mine")],
            )
            .await;
        assert_eq!(
            rename.status,
            StatusCode::FORBIDDEN,
            "{folder}: {}",
            rename.body
        );
        assert!(
            error_of(&rename).unwrap().contains("is a special folder"),
            "{folder}: {}",
            rename.body
        );
        let delete = browser
            .post_form(
                "/folders/delete",
                &[("csrf", &token), ("folder", folder), ("messages", "0")],
            )
            .await;
        assert_eq!(delete.status, StatusCode::FORBIDDEN, "{folder}");
        let ask = browser
            .get(&format!("/folders/delete?folder={folder}"))
            .await;
        assert_eq!(ask.status, StatusCode::FORBIDDEN, "{folder}");
        let hide = browser
            .post_form(
                "/folders/subscription",
                &[("csrf", &token), ("folder", folder), ("listed", "no")],
            )
            .await;
        assert_eq!(hide.status, StatusCode::FORBIDDEN, "{folder}");
    }
    assert_eq!(folder_names("alice").await, before);
    // Only Trash can be emptied.
    let not_trash = browser
        .post_form(
            "/folders/empty",
            &[("csrf", &token), ("folder", "INBOX"), ("messages", "0")],
        )
        .await;
    assert_eq!(not_trash.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unsubscribed_folders_leave_the_sidebar_and_come_back() {
    let name = unique("Quiet");
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("bob").await;
    let token = inbox.field("csrf");
    browser
        .post_form("/folders/create", &[("csrf", &token), ("name", &name)])
        .await;
    let hidden = browser
        .post_form(
            "/folders/subscription",
            &[("csrf", &token), ("folder", &name), ("listed", "no")],
        )
        .await;
    assert_eq!(
        hidden.location.as_deref(),
        Some("/folders?notice=unsubscribed")
    );
    let page = browser.get("/folders").await;
    assert!(!sidebar(&page).contains(&name), "not in the sidebar");
    assert!(page.body.contains(&name), "still on the folders page");
    assert!(!subscribed_names("bob").await.contains(&name));
    let shown = browser
        .post_form(
            "/folders/subscription",
            &[("csrf", &token), ("folder", &name), ("listed", "yes")],
        )
        .await;
    assert_eq!(
        shown.location.as_deref(),
        Some("/folders?notice=subscribed")
    );
    assert!(sidebar(&browser.get("/folders").await).contains(&name));
    browser
        .post_form(
            "/folders/delete",
            &[("csrf", &token), ("folder", &name), ("messages", "0")],
        )
        .await;
}

#[tokio::test]
async fn empty_trash_names_the_count_and_deletes_only_what_was_confirmed() {
    let subject = unique("rubbish");
    append("bob", "Trash", &subject, 2).await;
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("bob").await;
    let token = inbox.field("csrf");
    let page = browser.get("/folders").await;
    assert!(page.body.contains("Empty Trash</button>"), "{}", page.body);
    let ask = browser.get("/folders/empty?folder=Trash").await;
    assert_eq!(ask.status, StatusCode::OK, "{}", ask.body);
    let count: u32 = ask.field("messages").parse().unwrap();
    assert!(count >= 2);
    assert!(
        ask.body.contains(&format!(
            "Empty Trash: delete its {count} messages for good?"
        )),
        "{}",
        ask.body
    );
    let stale = browser
        .post_form(
            "/folders/empty",
            &[
                ("csrf", &token),
                ("folder", "Trash"),
                ("messages", &(count + 1).to_string()),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(count_messages("bob", "Trash", &subject).await, 2);
    let emptied = browser
        .post_form(
            "/folders/empty",
            &[
                ("csrf", &token),
                ("folder", "Trash"),
                ("messages", &count.to_string()),
            ],
        )
        .await;
    assert_eq!(emptied.location.as_deref(), Some("/folders?notice=emptied"));
    assert_eq!(count_messages("bob", "Trash", &subject).await, 0);
}

/// The `<tr>` of the listed message whose subject contains `subject`.
fn row<'a>(page: &'a Page, subject: &str) -> &'a str {
    let at = page
        .body
        .find(&format!(">{subject}</a>"))
        .unwrap_or_else(|| panic!("{subject} is not listed:\n{}", page.body));
    let start = page.body[..at].rfind("<tr").unwrap();
    let end = page.body[at..].find("</tr>").unwrap() + at;
    &page.body[start..end]
}

/// The class of that row (`unread`, `flagged`, both, or none).
fn row_class(page: &Page, subject: &str) -> String {
    let tr = row(page, subject);
    let tag = &tr[..tr.find('>').unwrap()];
    tag.split_once("class=\"")
        .map(|(_, rest)| rest.trim_end_matches('"').to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn selected_messages_are_marked_flagged_moved_and_deleted_together() {
    let marker = unique("batch");
    let folder = unique("Batch");
    append("carol", "INBOX", &marker, 3).await;
    let mut browser = Browser::new("").await;
    let inbox = browser.sign_in("carol").await;
    let token = inbox.field("csrf");
    browser
        .post_form("/folders/create", &[("csrf", &token), ("name", &folder)])
        .await;
    let inbox = browser.get("/mail?folder=INBOX").await;
    assert!(inbox.body.contains("id=\"select-all\""));
    assert!(inbox.body.contains("form=\"selected\""));
    let subjects: Vec<String> = (0..3).map(|i| format!("{marker} {i}")).collect();
    let uids: Vec<String> = subjects.iter().map(|s| inbox.uid_of(s)).collect();
    for s in &subjects {
        assert_eq!(row_class(&inbox, s), "unread", "new mail is unread");
    }

    let act = |action: &'static str, picked: &[&String], extra: Option<(&'static str, &str)>| {
        let mut fields: Vec<(&str, String)> = vec![
            ("csrf", token.clone()),
            ("folder", "INBOX".into()),
            ("page", "1".into()),
            ("sort", "received".into()),
            ("action", action.into()),
        ];
        fields.extend(picked.iter().map(|u| ("uid", (*u).clone())));
        if let Some((k, v)) = extra {
            fields.push((k, v.to_string()));
        }
        fields
    };
    let post = async |browser: &mut Browser, fields: Vec<(&str, String)>| {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post_form("/mail/selected", &refs).await
    };

    let flagged = post(&mut browser, act("flag", &[&uids[0], &uids[1]], None)).await;
    assert_eq!(
        flagged.location.as_deref(),
        Some("/mail?folder=INBOX&page=1&notice=selected-flagged"),
        "{}",
        flagged.body
    );
    let read = post(&mut browser, act("read", &[&uids[1], &uids[2]], None)).await;
    assert_eq!(read.status, StatusCode::SEE_OTHER);
    let list = browser.get("/mail?folder=INBOX&notice=selected-read").await;
    assert!(
        list.body
            .contains("The selected messages were marked as read.")
    );
    assert_eq!(row_class(&list, &subjects[0]), "unread flagged");
    assert_eq!(row_class(&list, &subjects[1]), "flagged");
    assert_eq!(row_class(&list, &subjects[2]), "", "read, not flagged");
    assert!(row(&list, &subjects[0]).contains("Flagged. "));

    let unflagged = post(&mut browser, act("unflag", &[&uids[0], &uids[1]], None)).await;
    assert_eq!(unflagged.status, StatusCode::SEE_OTHER);
    let unread = post(&mut browser, act("unread", &[&uids[2]], None)).await;
    assert_eq!(unread.status, StatusCode::SEE_OTHER);
    let list = browser.get("/mail?folder=INBOX").await;
    assert_eq!(row_class(&list, &subjects[1]), "");
    assert_eq!(row_class(&list, &subjects[2]), "unread");

    // Nothing ticked: said so, nothing done.
    let none = post(&mut browser, act("delete", &[], None)).await;
    assert_eq!(
        none.location.as_deref(),
        Some("/mail?folder=INBOX&page=1&notice=none-selected")
    );
    // A forged form does nothing.
    let mut forged = act("delete", &[&uids[0]], None);
    forged[0].1 = "forged".into();
    assert_eq!(
        post(&mut browser, forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(count_messages("carol", "INBOX", &marker).await, 3);
    let junk = post(&mut browser, act("move", &[&uids[0]], Some(("target", "")))).await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    let bad_uid = post(&mut browser, act("read", &[&"1x".to_string()], None)).await;
    assert_eq!(bad_uid.status, StatusCode::BAD_REQUEST);

    let moved = post(
        &mut browser,
        act("move", &[&uids[0], &uids[1]], Some(("target", &folder))),
    )
    .await;
    assert_eq!(
        moved.location.as_deref(),
        Some("/mail?folder=INBOX&page=1&notice=selected-moved")
    );
    assert_eq!(count_messages("carol", "INBOX", &marker).await, 1);
    assert_eq!(count_messages("carol", &folder, &marker).await, 2);

    let deleted = post(&mut browser, act("delete", &[&uids[2]], None)).await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/mail?folder=INBOX&page=1&notice=selected-deleted")
    );
    assert_eq!(count_messages("carol", "INBOX", &marker).await, 0);
    assert_eq!(count_messages("carol", "Trash", &marker).await, 1);

    // In Trash, delete means for good.
    let trash = browser.get("/mail?folder=Trash").await;
    let in_trash = trash.uid_of(&subjects[2]);
    let mut fields = act("delete", &[&in_trash], None);
    fields[1].1 = "Trash".into();
    let purged = post(&mut browser, fields).await;
    assert_eq!(
        purged.location.as_deref(),
        Some("/mail?folder=Trash&page=1&notice=selected-purged")
    );
    assert_eq!(count_messages("carol", "Trash", &marker).await, 0);
}

#[tokio::test]
async fn select_all_without_script_ticks_every_box_on_the_page() {
    let marker = unique("every");
    append("carol", "Junk", &marker, 2).await;
    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let page = browser.get("/mail?folder=Junk&select=all").await;
    let boxes = page.body.matches("name=\"uid\"").count();
    assert!(boxes >= 2);
    assert_eq!(
        page.body.matches(" checked>").count(),
        boxes,
        "every box ticked"
    );
    let plain = browser.get("/mail?folder=Junk").await;
    assert_eq!(plain.body.matches(" checked>").count(), 0);
    assert!(
        unescape(&plain.body)
            .contains("/mail?folder=Junk&page=1&select=all\">Select all on this page")
    );
}

/// A pooled connection keeps the folder it showed selected and only sends NOOP for the next
/// page on it: what other mail clients do meanwhile (new mail, expunges, a rename) still shows.
#[tokio::test]
async fn a_folder_kept_selected_follows_what_other_mail_clients_do() {
    let marker = unique("kept");
    let folder = format!("Kept {marker}");
    let renamed = format!("Kept again {marker}");
    let mut other = imap_login("carol").await;
    other.create(&folder).await.expect("CREATE");
    append("carol", &folder, &format!("{marker} first"), 2).await;

    let mut browser = Browser::new("").await;
    browser.sign_in("carol").await;
    let href = |name: &str| format!("/mail?folder={}", name.replace(' ', "%20"));
    let page = browser.get(&href(&folder)).await;
    assert!(
        page.body.contains("2 messages, page 1 of 1"),
        "{}",
        page.body
    );

    // Another client adds two messages and expunges one.
    append("carol", &folder, &format!("{marker} later"), 2).await;
    other.select(&folder).await.expect("SELECT");
    let _: Vec<_> = other
        .store("1", "+FLAGS.SILENT (\\Deleted)")
        .await
        .expect("STORE")
        .try_collect()
        .await
        .expect("STORE answers");
    let _: Vec<_> = other
        .expunge()
        .await
        .expect("EXPUNGE")
        .try_collect()
        .await
        .expect("EXPUNGE answers");
    let page = browser.get(&href(&folder)).await;
    assert!(
        page.body.contains("3 messages, page 1 of 1"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("{marker} later 1")));
    assert!(!page.body.contains(&format!("{marker} first 0")));
    assert!(page.body.contains(&format!("{marker} first 1")));

    // Another client renames it: the old name is gone, the new one lists the same messages.
    let _ = other.close().await;
    other.rename(&folder, &renamed).await.expect("RENAME");
    let gone = browser.get(&href(&folder)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
    let moved = browser.get(&href(&renamed)).await;
    assert!(
        moved.body.contains("3 messages, page 1 of 1"),
        "{}",
        moved.body
    );
    other.delete(&renamed).await.expect("DELETE");
    let _ = other.logout().await;
}
