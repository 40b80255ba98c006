//! Benchmark: the first page of a 10,000-message folder, rendered server-side, through the real
//! router, Dovecot and SQLite; and the memory a signed-in user costs. Prints figures; asserts
//! nothing about time. Run it with `scripts/bench`, which starts the rig and a bench user.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Browser, rig};

const MESSAGES: u32 = 10_000;
const REQUESTS: usize = 50;
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
    seed(&user, MESSAGES).await;

    let mut browser = Browser::new("page_size = 50").await;
    browser.sign_in(&user).await;
    for _ in 0..5 {
        browser.get("/mail?folder=INBOX").await;
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let page = browser.get("/mail?folder=INBOX").await;
        times.push(start.elapsed());
        assert!(
            page.body
                .contains(&format!("{MESSAGES} messages, page 1 of")),
            "folder not seeded as expected"
        );
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!("folder_list: first page of a {MESSAGES}-message folder, {REQUESTS} requests");
    println!("  p50 {:>7.2} ms   (target <= 50 ms)", ms(pct(0.50)));
    println!("  p95 {:>7.2} ms", ms(pct(0.95)));
    println!("  max {:>7.2} ms", ms(*times.last().expect("requests ran")));

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
            body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(12)
        );
        let flags = if i % 3 == 0 { "()" } else { "(\\Seen)" };
        session
            .append("INBOX", Some(flags), None, message.as_bytes())
            .await
            .expect("append");
    }
    let _ = session.logout().await;
}
