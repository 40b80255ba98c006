//! Search index figures: `cargo bench -p sealmail-search-index --bench index`.
//!
//! Indexes 10,000 messages of about 20 KB of text each (words drawn from a 30,000-word
//! vocabulary with a Zipf-like skew, as mail is), then prints the indexing rate, the query time
//! (p50 and p95 over queries of one to three words) and the stored size per message. Targets from
//! issue 20: query p50 ≤ 50 ms over 10,000 messages.

use std::time::{Duration, Instant};

use search_index::{Entry, Index};

const MESSAGES: u32 = 10_000;
const VOCABULARY: usize = 30_000;
const MESSAGE_BYTES: usize = 20 * 1024;

/// A small deterministic generator: the same corpus on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Mostly common words, sometimes rare ones.
    fn word(&mut self) -> usize {
        let r = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((VOCABULARY as f64).powf(r) as usize).min(VOCABULARY - 1)
    }
}

fn vocabulary() -> Vec<String> {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    (0..VOCABULARY)
        .map(|mut n| {
            let mut word = String::new();
            for _ in 0..6 {
                word.push(letters[n % 26] as char);
                n /= 26;
            }
            word
        })
        .collect()
}

fn main() {
    let words = vocabulary();
    let mut random = Lcg(2026);
    let mut index = Index::new();
    let mut indexing = Duration::ZERO;
    for uid in 1..=MESSAGES {
        let mut text = String::with_capacity(MESSAGE_BYTES + 16);
        while text.len() < MESSAGE_BYTES {
            text.push_str(&words[random.word()]);
            text.push(' ');
        }
        let entry = Entry {
            folder: "INBOX".into(),
            uid,
            subject: format!("Message {uid}"),
            from: "Alice <alice@example.test>".into(),
            date: i64::from(uid),
        };
        let started = Instant::now();
        index.add(entry, &text);
        indexing += started.elapsed();
    }
    let rate = f64::from(MESSAGES) / indexing.as_secs_f64();

    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..300 {
        let query: Vec<&str> = (0..=(i % 3))
            .map(|_| words[random.word()].as_str())
            .collect();
        let started = Instant::now();
        found += index
            .search(&query.join(" "), None)
            .map(|r| r.len())
            .unwrap_or(0);
        times.push(started.elapsed());
    }
    times.sort();
    let at = |p: usize| times[times.len() * p / 100].as_secs_f64() * 1000.0;

    let started = Instant::now();
    let bytes = index.to_bytes();
    let saving = started.elapsed();
    let started = Instant::now();
    let again = Index::from_bytes(&bytes).map(|i| i.len()).unwrap_or(0);
    let loading = started.elapsed();

    println!(
        "indexed {MESSAGES} messages of {} KB: {rate:.0} messages/s",
        MESSAGE_BYTES / 1024
    );
    println!(
        "query over {MESSAGES} messages: p50 {:.2} ms, p95 {:.2} ms ({found} results in all)",
        at(50),
        at(95)
    );
    println!(
        "stored: {:.1} MB, {} bytes per message; written in {} ms, read back ({again} messages) in {} ms",
        bytes.len() as f64 / 1e6,
        bytes.len() / MESSAGES as usize,
        saving.as_millis(),
        loading.as_millis()
    );
}
