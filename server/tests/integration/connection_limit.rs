//! A burst of pages never holds more IMAP connections open than `[imap] max_connections`: the
//! pages beyond it wait in line and are served, instead of failing.

use crate::common::proxy::CountingProxy;
use crate::common::*;
use axum::http::StatusCode;

/// Each tab loads the Inbox at the same moment; every one is served.
async fn all_load_the_inbox(tabs: Vec<Browser>) {
    let pages: Vec<_> = tabs
        .into_iter()
        .map(|mut tab| {
            tokio::spawn(async move {
                let page = tab.get("/mail?folder=INBOX").await;
                (page.status, page.body)
            })
        })
        .collect();
    for page in pages {
        let (status, body) = page.await.expect("page task");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pages_waits_for_a_connection_instead_of_failing() {
    let imap = rig("RIG_IMAP_PORT");
    let proxy = CountingProxy::start(imap.parse().expect("port")).await;
    let via_proxy = format!("port = {}\nmax_connections = 2\n", proxy.port);
    let first = Browser::with_config(
        |text| text.replace(&format!("port = {imap}\n"), &via_proxy),
        "",
    )
    .await;

    // Three users signed in to the same server, each loading four pages at once.
    let mut users = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let mut browser = Browser {
            router: first.router.clone(),
            cookies: Vec::new(),
            _db: tempfile::tempdir().expect("temp dir"),
        };
        browser.sign_in(user).await;
        users.push(browser);
    }
    let tabs: Vec<_> = users
        .iter()
        .flat_map(|browser| (0..4).map(|_| browser.tab()))
        .collect();
    all_load_the_inbox(tabs).await;
    assert!(
        proxy.most_at_once() <= 2,
        "{} IMAP connections were open at once, with max_connections = 2",
        proxy.most_at_once()
    );
    assert!(proxy.open_now() <= 2);
}

/// One user's many tabs wait for that user's own connections (`max_connections_per_user`), so
/// they cannot take the instance's every connection, nor pass Dovecot's per-user limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_many_tabs_share_that_users_own_connections() {
    let imap = rig("RIG_IMAP_PORT");
    let proxy = CountingProxy::start(imap.parse().expect("port")).await;
    let via_proxy = format!(
        "port = {}\nmax_connections = 20\nmax_connections_per_user = 2\n",
        proxy.port
    );
    let mut browser = Browser::with_config(
        |text| text.replace(&format!("port = {imap}\n"), &via_proxy),
        "",
    )
    .await;
    browser.sign_in("carol").await;
    all_load_the_inbox((0..8).map(|_| browser.tab()).collect()).await;
    assert!(
        proxy.most_at_once() <= 2,
        "{} IMAP connections were open at once for one user, with max_connections_per_user = 2",
        proxy.most_at_once()
    );
}
