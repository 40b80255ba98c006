//! Out-of-office replies and filters against the rig's real ManageSieve server (Dovecot
//! Pigeonhole). One test at a time: one step stalls Dovecot.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use sealmail_server::config::SieveServer;
use sealmail_server::sieve::settings::{Action, Field, Filter, Vacation};
use sealmail_server::sieve::{ManageSieve, SaveError, SieveError, SieveSettings, Stored};

#[tokio::test]
async fn sieve_scripts_are_stored_refused_and_reported() {
    let _alone = servers_alone().await;
    a_saved_script_reads_back_and_runs().await;
    a_refused_script_gives_the_reason_and_changes_nothing().await;
    a_hand_written_script_is_replaced_only_when_the_user_agrees().await;
    the_out_of_office_page_saves_and_keeps_bad_input().await;
    the_page_asks_before_replacing_a_hand_written_script().await;
    the_filters_page_adds_and_removes().await;
    a_stopped_or_silent_filter_server_is_reported_with_the_input_kept().await;
    a_stalled_filter_server_answers_within_its_deadline().await;
}

/// A fresh account per step: scripts and vacation memory are per user, and the rig's mailboxes
/// outlive test runs.
async fn new_user() -> (String, String) {
    let name = unique("sieve").to_ascii_lowercase();
    let address = format!("{name}@{}", rig("RIG_DOMAIN"));
    let password = format!("{name}-pw");
    rig_command(&["add-user", &address, &password]);
    // Dovecot rereads its passwd-file at most once a second: a user added right after a login
    // may be unknown for that long.
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = rig("RIG_MANAGESIEVE_PORT").parse().expect("port");
    while Instant::now() < deadline {
        let mut client = sealmail_server::sieve::client::Client::connect(
            "127.0.0.1",
            port,
            Duration::from_secs(3),
        )
        .await
        .expect("ManageSieve reachable");
        if client.authenticate(&address, &password).await.is_ok() {
            client.logout().await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (address, password)
}

fn server() -> ManageSieve {
    ManageSieve::new(SieveServer {
        host: "127.0.0.1".into(),
        port: rig("RIG_MANAGESIEVE_PORT").parse().expect("port"),
        timeout_seconds: 3,
    })
}

fn settings(address: &str, subject: &str) -> SieveSettings {
    SieveSettings {
        vacation: Vacation {
            enabled: true,
            start: None,
            end: None,
            subject: subject.into(),
            text: "I am away.\n.\nBack soon.".into(),
            days: 1,
            addresses: vec![address.into()],
        },
        filters: vec![Filter {
            field: Field::Subject,
            contains: "[news]".into(),
            action: Action::Move {
                folder: "Junk".into(),
            },
        }],
    }
}

/// PUTSCRIPT and SETACTIVE, read back with GETSCRIPT; and the script really runs at delivery:
/// an outside sender gets one reply for two messages, and "[news]" mail lands in Junk.
async fn a_saved_script_reads_back_and_runs() {
    let (address, password) = new_user().await;
    let sieve = server();
    let subject = unique("Away");
    let wanted = settings(&address, &subject);
    sieve
        .save(&address, &password, &wanted, false)
        .await
        .expect("saved");
    let stored = sieve.load(&address, &password).await.expect("loaded");
    assert_eq!(
        stored,
        Stored::Ours {
            settings: wanted,
            active: true
        }
    );
    let (name, text) = sieve
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("a script is active");
    assert_eq!(name, "sealmail");
    assert!(text.contains("vacation :days 1"), "{text}");

    let oscar = format!("oscar@{}", rig("RIG_OUTSIDE_DOMAIN"));
    let news = unique("[news] weekly");
    for message_subject in [unique("first"), news.clone()] {
        let message = format!(
            "From: {oscar}\r\nTo: {address}\r\nSubject: {message_subject}\r\n\r\nHello.\r\n"
        );
        deliver_from_outside(&oscar, &address, message.as_bytes()).await;
    }
    let oscar_password = common::password("oscar");
    assert_count_settles_as(&oscar, &oscar_password, "INBOX", &subject, 1).await;
    let reply = fetch_first_as(&oscar, &oscar_password, &subject).await;
    assert!(reply.contains("I am away.\r\n.\r\nBack soon."), "{reply}");
    assert_count_settles_as(&address, &password, "Junk", &news, 1).await;
}

/// PUTSCRIPT of a script Pigeonhole cannot compile: the error names the server's reason, and the
/// script stored and active before is still there and still active.
async fn a_refused_script_gives_the_reason_and_changes_nothing() {
    let (address, password) = new_user().await;
    let sieve = server();
    let before = settings(&address, "Away");
    sieve
        .save(&address, &password, &before, false)
        .await
        .expect("saved");
    let active_before = sieve
        .active_script(&address, &password)
        .await
        .expect("read");

    let refused = sieve
        .put_and_activate(
            &address,
            &password,
            "require [\"no-such-extension\"];\r\nkeep;\r\n",
        )
        .await;
    match refused {
        Err(SieveError::Refused(why)) => {
            assert!(why.contains("no-such-extension"), "{why}")
        }
        other => panic!("expected a refusal with the reason, got {other:?}"),
    }
    assert_eq!(
        sieve
            .active_script(&address, &password)
            .await
            .expect("read"),
        active_before
    );
    assert_eq!(
        sieve.load(&address, &password).await.expect("loaded"),
        Stored::Ours {
            settings: before,
            active: true
        }
    );
}

/// A script the user wrote elsewhere is active: saving stops and asks; with the user's consent
/// Sealmail's script becomes active and the hand-written one stays stored.
async fn a_hand_written_script_is_replaced_only_when_the_user_agrees() {
    use sealmail_server::sieve::client::Client;
    let (address, password) = new_user().await;
    let port = rig("RIG_MANAGESIEVE_PORT").parse().expect("port");
    let mut client = Client::connect("127.0.0.1", port, Duration::from_secs(3))
        .await
        .expect("connects");
    client
        .authenticate(&address, &password)
        .await
        .expect("signs in");
    client
        .put_script("mine", "require \"fileinto\";\r\nkeep;\r\n")
        .await
        .expect("stored");
    client.set_active("mine").await.expect("activated");
    client.logout().await;

    let sieve = server();
    assert!(matches!(
        sieve.load(&address, &password).await.expect("loaded"),
        Stored::Foreign { name, .. } if name == "mine"
    ));
    let wanted = settings(&address, "Away");
    match sieve.save(&address, &password, &wanted, false).await {
        Err(SaveError::ForeignActive(name)) => assert_eq!(name, "mine"),
        other => panic!("expected to be asked first, got {other:?}"),
    }
    let (name, _) = sieve
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(name, "mine");

    sieve
        .save(&address, &password, &wanted, true)
        .await
        .expect("replaced with consent");
    let (name, _) = sieve
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(name, "sealmail");
    let mut client = Client::connect("127.0.0.1", port, Duration::from_secs(3))
        .await
        .expect("connects");
    client
        .authenticate(&address, &password)
        .await
        .expect("signs in");
    let scripts = client.list_scripts().await.expect("listed");
    assert!(
        scripts.contains(&("mine".to_string(), false)),
        "{scripts:?}"
    );
}

fn vacation_fields<'a>(
    csrf: &'a str,
    subject: &'a str,
    start: &'a str,
    end: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("enabled", "on"),
        ("start", start),
        ("end", end),
        ("subject", subject),
        ("text", "Back on Monday."),
        ("days", "7"),
    ]
}

fn days_from_today(days: i64) -> String {
    let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    sealmail_server::sieve::settings::format_day(day)
}

async fn the_out_of_office_page_saves_and_keeps_bad_input() {
    let (address, password) = new_user().await;
    let mut browser = Browser::new("[identities]\nuser_addresses = \"domain\"\n").await;
    browser.sign_in_as(&address, &password).await;
    // An alias of the user's: mail to it is answered too.
    let alias = address.replacen('@', ".alias@", 1);
    let identities = browser.get("/identities").await;
    let added = browser
        .post_form(
            "/identities/save",
            &[
                ("csrf", &identities.field("csrf")),
                ("address", &alias),
                ("name", ""),
                ("signature", ""),
            ],
        )
        .await;
    assert_eq!(
        added.location.as_deref(),
        Some("/identities?notice=identity-added"),
        "{}",
        added.body
    );
    let options = browser.get("/options").await;
    assert!(
        options.body.contains("href=\"/vacation\""),
        "{}",
        options.body
    );
    let page = browser.get("/vacation").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Your out-of-office reply is off."));
    let csrf = page.field("csrf");

    let end = days_from_today(10);
    let saved = browser
        .post_form("/vacation", &vacation_fields(&csrf, "Away", "", &end))
        .await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/vacation?notice=vacation"),
        "{}",
        saved.body
    );
    let page = browser.get("/vacation?notice=vacation").await;
    let end_day = time::OffsetDateTime::now_utc().date() + time::Duration::days(10);
    let expected = format!(
        "Your out-of-office reply is on until {}.",
        sealmail_server::sieve::settings::long_date(end_day)
    );
    assert!(page.body.contains(&expected), "{}", page.body);
    assert!(page.body.contains("Back on Monday."));
    let (_, script) = server()
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("an active script");
    assert!(
        script.contains(&format!(":addresses [\"{address}\", \"{alias}\"]")),
        "{script}"
    );

    // The last day before the first: refused, what was typed is still in the form, and the
    // stored reply is unchanged.
    let before = server()
        .active_script(&address, &password)
        .await
        .expect("read");
    let start = days_from_today(5);
    let early_end = days_from_today(2);
    let refused = browser
        .post_form(
            "/vacation",
            &vacation_fields(&csrf, "Typed subject", &start, &early_end),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("is before the first day"),
        "{}",
        refused.body
    );
    assert_eq!(refused.field("subject"), "Typed subject");
    assert_eq!(refused.field("start"), start);
    assert_eq!(
        server()
            .active_script(&address, &password)
            .await
            .expect("read"),
        before
    );
}

/// The Out of office page names an active script Sealmail did not write; saving stops and asks,
/// keeping what was typed, and goes ahead only once "Replace it" is ticked.
async fn the_page_asks_before_replacing_a_hand_written_script() {
    use sealmail_server::sieve::client::Client;
    let (address, password) = new_user().await;
    let port = rig("RIG_MANAGESIEVE_PORT").parse().expect("port");
    let mut client = Client::connect("127.0.0.1", port, Duration::from_secs(3))
        .await
        .expect("connects");
    client
        .authenticate(&address, &password)
        .await
        .expect("signs in");
    client
        .put_script("by-hand", "keep;\r\n")
        .await
        .expect("stored");
    client.set_active("by-hand").await.expect("activated");
    client.logout().await;

    let mut browser = Browser::new("").await;
    browser.sign_in_as(&address, &password).await;
    let page = browser.get("/vacation").await;
    assert!(
        page.body.contains("Sealmail did not write") && page.body.contains("by-hand"),
        "{}",
        page.body
    );
    let csrf = page.field("csrf");
    let end = days_from_today(4);
    let asked = browser
        .post_form(
            "/vacation",
            &vacation_fields(&csrf, "Typed first", "", &end),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CONFLICT, "{}", asked.body);
    assert!(asked.body.contains("Replace it"), "{}", asked.body);
    assert_eq!(asked.field("subject"), "Typed first");
    let (name, _) = server()
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(
        name, "by-hand",
        "nothing was replaced before the user agreed"
    );

    let mut agreed = vacation_fields(&csrf, "Typed first", "", &end);
    agreed.push(("replace", "on"));
    let saved = browser.post_form("/vacation", &agreed).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/vacation?notice=vacation"),
        "{}",
        saved.body
    );
    let (name, _) = server()
        .active_script(&address, &password)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(name, "sealmail");
}

async fn the_filters_page_adds_and_removes() {
    let (address, password) = new_user().await;
    let mut browser = Browser::new("").await;
    browser.sign_in_as(&address, &password).await;
    let page = browser.get("/filters").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("You have no filters."));
    let csrf = page.field("csrf");
    let added = browser
        .post_form(
            "/filters/add",
            &[
                ("csrf", &csrf),
                ("field", "from"),
                ("contains", "boss@example.test"),
                ("action", "move"),
                ("folder", "Junk"),
            ],
        )
        .await;
    assert_eq!(
        added.location.as_deref(),
        Some("/filters?notice=filter-added"),
        "{}",
        added.body
    );
    let page = browser.get("/filters").await;
    assert!(
        page.body.contains("boss@example.test") && page.body.contains("move to Junk"),
        "{}",
        page.body
    );

    // A folder that does not exist: refused with the input kept.
    let refused = browser
        .post_form(
            "/filters/add",
            &[
                ("csrf", &csrf),
                ("field", "subject"),
                ("contains", "weekly"),
                ("action", "move"),
                ("folder", "Nowhere"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Your filters could not be saved: there is no folder"),
        "{}",
        refused.body
    );
    assert_eq!(refused.field("contains"), "weekly");

    let removed = browser
        .post_form(
            "/filters/remove",
            &[
                ("csrf", &csrf),
                ("index", "0"),
                ("matching", "boss@example.test"),
            ],
        )
        .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/filters?notice=filter-removed"),
        "{}",
        removed.body
    );
    let page = browser.get("/filters").await;
    assert!(page.body.contains("You have no filters."), "{}", page.body);
}

/// ManageSieve down (nothing listening) or silent (accepts, never answers): the page says the
/// filter server cannot be reached / did not answer, keeps what was typed, and changes nothing.
async fn a_stopped_or_silent_filter_server_is_reported_with_the_input_kept() {
    let sieve_port = rig("RIG_MANAGESIEVE_PORT");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let keep_open = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    for (port, expected) in [
        (closed_port, "the filter server cannot be reached"),
        (silent_port, "the filter server did not answer in time"),
    ] {
        let mut browser = Browser::with_config(
            |text| {
                text.replace(
                    &format!("port = {sieve_port}\n"),
                    &format!("port = {port}\n"),
                )
            },
            "",
        )
        .await;
        browser.sign_in("carol").await;
        let page = browser.get("/vacation").await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.body
        );
        assert!(page.body.contains(expected), "{}", page.body);
        let csrf = page.field("csrf");
        let end = days_from_today(3);
        let started = Instant::now();
        let refused = browser
            .post_form(
                "/vacation",
                &vacation_fields(&csrf, "Kept subject", "", &end),
            )
            .await;
        let waited = started.elapsed();
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains(&format!(
                "Your out-of-office reply could not be saved: {expected}"
            )),
            "{}",
            refused.body
        );
        assert_eq!(refused.field("subject"), "Kept subject");
        // A deadline, not a speed: anything short of a hang passes.
        assert!(waited < Duration::from_secs(30), "the page took {waited:?}");
    }
    keep_open.abort();
}

/// Dovecot stopped with SIGSTOP: ManageSieve accepts and never answers; the client gives up
/// at its deadline with a clear error, and works again once Dovecot does.
async fn a_stalled_filter_server_answers_within_its_deadline() {
    let (address, password) = new_user().await;
    let sieve = server();
    rig_command(&["pause-dovecot"]);
    let started = Instant::now();
    let stalled = sieve.load(&address, &password).await;
    let waited = started.elapsed();
    rig_command(&["resume-dovecot"]);
    match stalled {
        Err(e @ SieveError::Timeout) => {
            assert_eq!(e.to_string(), "the filter server did not answer in time")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(waited < Duration::from_secs(30), "took {waited:?}");
    assert!(sieve.load(&address, &password).await.is_ok());
}

async fn login_as(address: &str, password: &str) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect((
        "127.0.0.1",
        rig("RIG_IMAP_PORT").parse::<u16>().expect("port"),
    ))
    .await
    .expect("IMAP reachable");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(address, password)
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// The first message in INBOX whose subject contains `needle`, as text.
async fn fetch_first_as(address: &str, password: &str, needle: &str) -> String {
    use futures::TryStreamExt;
    let mut session = login_as(address, password).await;
    session.select("INBOX").await.expect("select");
    let found = session
        .search(format!("SUBJECT \"{needle}\""))
        .await
        .expect("search");
    let seq = found.into_iter().min().expect("a matching message");
    let fetches: Vec<_> = session
        .fetch(seq.to_string(), "BODY.PEEK[]")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("fetched");
    let _ = session.logout().await;
    String::from_utf8_lossy(fetches[0].body().expect("a body")).into_owned()
}

/// Waits until exactly `expected` messages match, then makes sure no extra copy follows (like
/// `assert_count_settles`, for any account).
async fn assert_count_settles_as(
    address: &str,
    password: &str,
    folder: &str,
    needle: &str,
    expected: usize,
) {
    let count = || async {
        let mut session = login_as(address, password).await;
        session.select(folder).await.expect("select");
        let found = session
            .search(format!("SUBJECT \"{needle}\""))
            .await
            .expect("search");
        let _ = session.logout().await;
        found.len()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = count().await;
    while seen < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = count().await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = count().await;
    assert_eq!(
        settled, expected,
        "{address}/{folder}: {settled} messages match {needle}"
    );
}
