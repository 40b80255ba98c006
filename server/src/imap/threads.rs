//! Conversations: the selected folder's messages grouped by the server's `UID THREAD REFERENCES`
//! (RFC 5256), the threads with the latest arrival first.
//!
//! async-imap's response parser does not know the THREAD answer, and a line it cannot parse
//! breaks its reader for good. So this one command is written, and its answer read, on the raw
//! stream underneath: between two commands async-imap has nothing buffered, and the server
//! sends nothing after the tagged answer unless asked (no IDLE on these connections).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ImapError, Session};

/// A tag async-imap never uses (its tags are `A` and a number).
const TAG: &str = "SEALMAILTHREAD";
/// An answer for 100,000 messages is about 1 MB; far more than that is not a THREAD answer.
const MOST_BYTES: usize = 32 * 1024 * 1024;
/// Deeper than any real reply chain; keeps a hostile answer from exhausting the stack.
const MOST_DEPTH: usize = 1000;

/// One message of a conversation and how deep in its replies it sits (0: it starts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threaded {
    pub uid: u32,
    pub depth: u32,
}

/// A conversation: its messages in reading order (each followed by its replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub messages: Vec<Threaded>,
}

impl Thread {
    /// The UID of its latest arrival: conversations are listed newest activity first.
    pub fn newest(&self) -> u32 {
        self.messages.iter().map(|m| m.uid).max().unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThreadError {
    #[error("the THREAD answer is malformed at byte {0}")]
    Malformed(usize),
    #[error("the THREAD answer nests deeper than {MOST_DEPTH} replies")]
    TooDeep,
}

/// The conversations of the selected folder, latest activity first. The server must have
/// announced `THREAD=REFERENCES` (`search::Abilities::thread`).
pub async fn threads(session: &mut Session) -> Result<Vec<Thread>, ImapError> {
    let stream = session.get_mut();
    let command = format!("{TAG} UID THREAD REFERENCES UTF-8 ALL\r\n");
    stream
        .write_all(command.as_bytes())
        .await
        .map_err(|e| ImapError::Protocol(e.to_string()))?;
    stream
        .flush()
        .await
        .map_err(|e| ImapError::Protocol(e.to_string()))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let done = loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| ImapError::Protocol(e.to_string()))?;
        if n == 0 {
            return Err(ImapError::Protocol(
                "the server closed the connection during THREAD".into(),
            ));
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MOST_BYTES {
            return Err(ImapError::Protocol("the THREAD answer is too large".into()));
        }
        if let Some(done) = tagged_line(&answer) {
            break done;
        }
    };
    let status = done.split(' ').nth(1).unwrap_or("");
    if !status.eq_ignore_ascii_case("OK") {
        return Err(ImapError::Refused(done.to_string()));
    }
    let mut threads = Vec::new();
    for line in String::from_utf8_lossy(&answer).split("\r\n") {
        let Some(list) = line.strip_prefix("* THREAD") else {
            continue;
        };
        threads.extend(parse(list.trim_start()).map_err(|e| ImapError::Protocol(e.to_string()))?);
    }
    threads.sort_by_key(|t| std::cmp::Reverse(t.newest()));
    Ok(threads)
}

/// The tagged line that ends the answer, once it has arrived whole. Only the last line is
/// looked at (the tagged line is the last the server sends), so a large answer read in many
/// chunks is not scanned again for each.
fn tagged_line(answer: &[u8]) -> Option<String> {
    let complete = answer.strip_suffix(b"\r\n")?;
    let start = complete
        .windows(2)
        .rposition(|pair| pair == b"\r\n")
        .map_or(0, |at| at + 2);
    let line = &complete[start..];
    line.starts_with(format!("{TAG} ").as_bytes())
        .then(|| String::from_utf8_lossy(line).into_owned())
}

/// A message and the replies to it.
#[derive(Debug)]
struct Node {
    uid: u32,
    replies: Vec<Node>,
}

/// The conversations in a THREAD answer's list of threads: `(2)(3 6 (4 23)(44 7 96))`.
pub fn parse(text: &str) -> Result<Vec<Thread>, ThreadError> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut threads = Vec::new();
    while at < bytes.len() {
        if bytes[at] == b' ' {
            at += 1;
            continue;
        }
        let roots = list(bytes, &mut at, 0)?;
        let mut messages = Vec::new();
        for root in &roots {
            flatten(root, 0, &mut messages);
        }
        if !messages.is_empty() {
            threads.push(Thread { messages });
        }
    }
    Ok(threads)
}

/// One parenthesised thread: a chain of messages each answering the one before, then the
/// branches answering the last; or only branches, when the message they answer is missing.
fn list(bytes: &[u8], at: &mut usize, depth: usize) -> Result<Vec<Node>, ThreadError> {
    if depth > MOST_DEPTH {
        return Err(ThreadError::TooDeep);
    }
    if bytes.get(*at) != Some(&b'(') {
        return Err(ThreadError::Malformed(*at));
    }
    *at += 1;
    let mut chain = Vec::new();
    let mut branches = Vec::new();
    loop {
        match bytes.get(*at) {
            Some(b' ') => *at += 1,
            Some(b')') => {
                *at += 1;
                break;
            }
            Some(b'(') => branches.extend(list(bytes, at, depth + 1)?),
            Some(c) if c.is_ascii_digit() && branches.is_empty() => {
                let start = *at;
                while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                    *at += 1;
                }
                let uid = text_number(&bytes[start..*at]).ok_or(ThreadError::Malformed(start))?;
                chain.push(uid);
            }
            _ => return Err(ThreadError::Malformed(*at)),
        }
    }
    let mut replies = branches;
    for uid in chain.into_iter().rev() {
        replies = vec![Node { uid, replies }];
    }
    Ok(replies)
}

fn text_number(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

fn flatten(node: &Node, depth: u32, out: &mut Vec<Threaded>) {
    out.push(Threaded {
        uid: node.uid,
        depth,
    });
    for reply in &node.replies {
        flatten(reply, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uids_and_depths(thread: &Thread) -> Vec<(u32, u32)> {
        thread.messages.iter().map(|m| (m.uid, m.depth)).collect()
    }

    #[test]
    fn the_rfc_5256_example_is_read_as_its_tree() {
        let threads = parse("(2)(3 6 (4 23)(44 7 96))").unwrap();
        assert_eq!(threads.len(), 2);
        assert_eq!(uids_and_depths(&threads[0]), [(2, 0)]);
        assert_eq!(
            uids_and_depths(&threads[1]),
            [(3, 0), (6, 1), (4, 2), (23, 3), (44, 2), (7, 3), (96, 4)]
        );
        assert_eq!(threads[1].newest(), 96);
    }

    #[test]
    fn replies_to_a_missing_message_are_one_conversation() {
        let threads = parse("((3)(5 9))").unwrap();
        assert_eq!(threads.len(), 1);
        assert_eq!(uids_and_depths(&threads[0]), [(3, 0), (5, 0), (9, 1)]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_malformed_or_hostile_answer_is_an_error_not_a_crash() {
        assert!(matches!(parse("(1 2"), Err(ThreadError::Malformed(_))));
        assert!(matches!(parse("(1 x)"), Err(ThreadError::Malformed(_))));
        assert!(matches!(parse("((1) 2)"), Err(ThreadError::Malformed(_))));
        assert!(matches!(parse("(0)"), Err(ThreadError::Malformed(_))));
        assert!(matches!(
            parse("(99999999999)"),
            Err(ThreadError::Malformed(_))
        ));
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err(), ThreadError::TooDeep);
    }

    #[test]
    fn the_answer_ends_at_the_tagged_line_once_it_is_whole() {
        assert_eq!(tagged_line(b"* THREAD (1)(2 3)\r\n"), None);
        assert_eq!(tagged_line(b"* THREAD (1)\r\nSEALMAILTHREAD OK Th"), None);
        assert_eq!(
            tagged_line(b"* THREAD (1)\r\nSEALMAILTHREAD OK Thread completed.\r\n").as_deref(),
            Some("SEALMAILTHREAD OK Thread completed.")
        );
    }
}
