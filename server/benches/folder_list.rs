//! Benchmark: the first page of a 10,000-message folder (newest received first, by date and by
//! sender), server-side, through the real router, Dovecot and SQLite; a search for a word in the
//! body of one message of it; and the memory a signed-in user costs. Prints figures; asserts
//! nothing about time. Run it with `scripts/bench`, which starts the rig and a bench user.
//! `BENCH_MESSAGES` seeds a larger folder (e.g. 100000) for a user of its own.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Browser, rig};

const REQUESTS: usize = 50;
/// Searches are slower than pages (the full-text index, or without one every body, is read).
const SEARCHES: usize = 10;
/// The word only one message's body holds.
const RARE_WORD: &str = "quixotically";
const RARE_AT: u32 = 4321;
// Every session here is the same user over STARTTLS, and the rig's Dovecot keeps one imap-login
// process per TLS connection (process_limit 100): stay well below it.
const SESSIONS_FOR_MEMORY: usize = 50;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let user = std::env::var("BENCH_USER").unwrap_or_else(|_| "bench".into());
    let messages: u32 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    seed(&user, messages).await;

    let mut browser = Browser::new("page_size = 50").await;
    browser.sign_in(&user).await;
    for _ in 0..5 {
        browser.get("/mail?folder=INBOX").await;
    }
    let pages = [
        (
            "first page, newest first",
            "/mail?folder=INBOX".to_string(),
            REQUESTS,
            format!("{messages} messages, page 1 of"),
        ),
        (
            "first page by date",
            "/mail?folder=INBOX&sort=date".to_string(),
            REQUESTS,
            format!("{messages} messages, page 1 of"),
        ),
        (
            "first page by sender",
            "/mail?folder=INBOX&sort=from".to_string(),
            REQUESTS,
            format!("{messages} messages, page 1 of"),
        ),
        (
            "a word in one message's body",
            format!("/search?folder=INBOX&field=body&q={RARE_WORD}"),
            SEARCHES,
            "1 message found in".to_string(),
        ),
    ];
    println!("folder_list: a {messages}-message folder");
    for (what, url, requests, expected) in pages {
        let mut times = Vec::with_capacity(requests);
        let mut refused = None;
        for _ in 0..requests {
            let start = Instant::now();
            let page = browser.get(&url).await;
            times.push(start.elapsed());
            if !page.body.contains(&expected) {
                // A deadline met is a figure too: say what the page said instead.
                let said = page
                    .body
                    .split("role=\"alert\">")
                    .nth(1)
                    .and_then(|rest| rest.split('<').next())
                    .unwrap_or("(no message)")
                    .to_string();
                refused = Some(format!("HTTP {}: {said}", page.status));
            }
        }
        if let Some(said) = refused {
            println!(
                "  {what}: not answered as expected, first after {:.0} ms: {said}",
                ms(times[0])
            );
            continue;
        }
        // The first of a sorted list asks the server to sort; the rest use the kept list.
        let first = times[0];
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
        println!(
            "  {what}, {requests} requests (the first {:.2} ms):",
            ms(first)
        );
        println!("    p50 {:>8.2} ms", ms(pct(0.50)));
        println!("    p95 {:>8.2} ms", ms(pct(0.95)));
    }

    // Memory: each signed-in user holds a session row (database, not memory) and at most two
    // idle IMAP connections in the pool. Measure what a signed-in, active user adds.
    let before = rss_bytes();
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS_FOR_MEMORY {
        let mut b = Browser {
            router: browser.router.clone(),
            cookies: Vec::new(),
            _db: tempfile::tempdir().expect("tmp"),
        };
        b.sign_in(&user).await;
        b.get("/mail?folder=INBOX").await;
        sessions.push(b);
    }
    let after = rss_bytes();
    println!(
        "memory: {SESSIONS_FOR_MEMORY} signed-in users with a pooled IMAP connection each added {:.1} MiB RSS, \
         {:.1} KiB per user",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        (after.saturating_sub(before)) as f64 / 1024.0 / SESSIONS_FOR_MEMORY as f64
    );
    println!(
        "  bound: at most 2 idle IMAP connections per session and 10,000 in all, closed after 5 minutes idle"
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Fills `user`'s INBOX up to `count` messages over IMAP (once; later runs reuse them).
async fn seed(user: &str, count: u32) {
    let mut session = common::imap_login(user).await;
    let existing = session.select("INBOX").await.expect("select").exists;
    if existing >= count {
        return;
    }
    println!("seeding {} messages into {user}'s INBOX…", count - existing);
    let domain = rig("RIG_DOMAIN");
    for i in existing..count {
        let message = format!(
            "From: Sender {n} <sender{n}@{domain}>\r\nTo: {user}@{domain}\r\nSubject: Benchmark message {i} about topic {t}\r\n\
             Date: Sat, 21 Nov 2026 10:{m:02}:00 +0000\r\nMessage-ID: <bench-{i}@{domain}>\r\n\r\n{body}\r\n",
            n = i % 97,
            t = i % 13,
            m = i % 60,
            body = if i == RARE_AT {
                format!("The plan is {RARE_WORD} ambitious.")
            } else {
                "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(12)
            }
        );
        let flags = if i % 3 == 0 { "()" } else { "(\\Seen)" };
        session
            .append("INBOX", Some(flags), None, message.as_bytes())
            .await
            .expect("append");
    }
    let _ = session.logout().await;
}
