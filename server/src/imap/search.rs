//! Searching and sorting the selected folder on the IMAP server (`UID SEARCH`, `UID SORT`).
//!
//! What a person types reaches the server only as IMAP strings built here: printable ASCII as a
//! quoted string with `"` and `\` escaped, anything else as a literal (`{n+}` when the server
//! has LITERAL+, else a synchronising `{n}` that waits for the server's go-ahead). Control
//! characters never reach the command, so a CR/LF in a query cannot end it early.

use async_imap::imap_proto::{MailboxDatum, Response, Status};

use super::{ImapError, Session};

/// Where the words are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    /// Headers and body (IMAP `TEXT`).
    #[default]
    All,
    From,
    /// To or Cc.
    Recipients,
    Subject,
    Body,
}

/// The order of a folder or a result list. Each has the direction people expect of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// As the server received them, newest first: what people see first, and (unlike any
    /// other order) free for the server, which keeps its messages in that order already.
    #[default]
    Received,
    /// By the Date header, newest first.
    Date,
    /// By sender, A to Z.
    From,
    /// By subject, A to Z.
    Subject,
    /// Largest first.
    Size,
}

/// A search: every term must match (in `field`), and every filter that is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    pub terms: Vec<String>,
    pub field: Field,
    pub unread: bool,
    pub flagged: bool,
    pub attachments: bool,
    /// Sent on or after this day (the Date header).
    pub since: Option<time::Date>,
    /// Sent on or before this day.
    pub until: Option<time::Date>,
}

impl Criteria {
    /// Nothing asked for: a search would list the whole folder.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
            && !self.unread
            && !self.flagged
            && !self.attachments
            && self.since.is_none()
            && self.until.is_none()
    }
}

/// The words of a query: split at white space, a `"quoted phrase"` kept whole. A quote inside a
/// word is part of the word, so `say"hi` can be searched for.
pub fn terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .next_if(|c| c.is_whitespace() || c.is_control())
            .is_some()
        {}
        let Some(&first) = chars.peek() else { break };
        let mut term = String::new();
        if first == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                term.push(c);
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !c.is_control()) {
                term.push(c);
            }
        }
        let term: String = term
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let term = term.trim();
        if !term.is_empty() {
            terms.push(term.to_string());
        }
    }
    terms
}

/// What the server can do that changes how we ask.
#[derive(Debug, Clone, Copy, Default)]
pub struct Abilities {
    pub sort: bool,
    /// `SORT=DISPLAY`: sort by the sender's display name rather than the address.
    pub sort_display: bool,
    pub literal_plus: bool,
    /// `THREAD=REFERENCES`: the folder can be shown as conversations.
    pub thread: bool,
}

pub async fn abilities(session: &mut Session) -> Result<Abilities, ImapError> {
    let caps = session.capabilities().await?;
    Ok(Abilities {
        sort: caps.has_str("SORT"),
        sort_display: caps.has_str("SORT=DISPLAY"),
        literal_plus: caps.has_str("LITERAL+"),
        thread: caps.has_str("THREAD=REFERENCES"),
    })
}

/// UIDs in `folder` matching `criteria`, newest first; the folder stays selected (read-only).
pub async fn find(
    session: &mut Session,
    folder: &str,
    abilities: Abilities,
    criteria: &Criteria,
) -> Result<Vec<u32>, ImapError> {
    session
        .examine(folder)
        .await
        .map_err(super::mailbox::not_found_if_refused)?;
    uids(session, abilities, criteria, Order::Date).await
}

/// UIDs in `folder` whose Content-Type names S/MIME's `pkcs7-mime`, newest first: the messages
/// the server cannot read, which the browser indexes itself (the list's label then tells the
/// encrypted ones from opaque-signed ones). The folder stays selected (read-only).
pub async fn pkcs7_mime(session: &mut Session, folder: &str) -> Result<Vec<u32>, ImapError> {
    session
        .examine(folder)
        .await
        .map_err(super::mailbox::not_found_if_refused)?;
    let mut uids = run(
        session,
        &["UID SEARCH HEADER Content-Type pkcs7-mime".to_string()],
        false,
    )
    .await?;
    uids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(uids)
}

/// UIDs in the selected folder matching `criteria`, in `order` when the server can SORT.
/// Without SORT the order is arrival (received), newest first, whatever `order` asks.
pub async fn uids(
    session: &mut Session,
    abilities: Abilities,
    criteria: &Criteria,
    order: Order,
) -> Result<Vec<u32>, ImapError> {
    let keys = search_keys(criteria);
    let needs_charset = keys
        .iter()
        .any(|k| matches!(k, Arg::Str(s) if !s.is_ascii()));
    // Arrival order is the UIDs' own: no SORT needed, and none asked of a server without it.
    let sort_key = match order {
        Order::Received => None,
        Order::Date => Some("REVERSE DATE"),
        Order::From if abilities.sort_display => Some("DISPLAYFROM"),
        Order::From => Some("FROM"),
        Order::Subject => Some("SUBJECT"),
        Order::Size => Some("REVERSE SIZE"),
    }
    .filter(|_| abilities.sort);
    let command = if let Some(by) = sort_key {
        let mut args = vec![Arg::Atom(format!("UID SORT ({by}) UTF-8"))];
        args.extend(keys);
        args
    } else {
        let mut args = vec![Arg::Atom("UID SEARCH".into())];
        if needs_charset {
            args.push(Arg::Atom("CHARSET UTF-8".into()));
        }
        args.extend(keys);
        args
    };
    let mut uids = run(
        session,
        &encode(&command, abilities.literal_plus),
        abilities.literal_plus,
    )
    .await?;
    if sort_key.is_none() {
        uids.sort_unstable_by(|a, b| b.cmp(a));
    }
    Ok(uids)
}

/// One piece of a command: protocol words, or a string from a person.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Atom(String),
    Str(String),
}

fn search_keys(c: &Criteria) -> Vec<Arg> {
    let atom = |s: &str| Arg::Atom(s.to_string());
    let mut keys = Vec::new();
    for term in &c.terms {
        let s = || Arg::Str(term.clone());
        match c.field {
            Field::All => keys.extend([atom("TEXT"), s()]),
            Field::From => keys.extend([atom("FROM"), s()]),
            Field::Recipients => keys.extend([atom("OR TO"), s(), atom("CC"), s()]),
            Field::Subject => keys.extend([atom("SUBJECT"), s()]),
            Field::Body => keys.extend([atom("BODY"), s()]),
        }
    }
    if c.unread {
        keys.push(atom("UNSEEN"));
    }
    if c.flagged {
        keys.push(atom("FLAGGED"));
    }
    if c.attachments {
        // IMAP has no "has attachments" key; a multipart/mixed top level is what mail programs
        // send attachments in. (Signed or encrypted mail carries them deeper, out of its reach.)
        keys.extend([
            atom("HEADER Content-Type"),
            Arg::Str("multipart/mixed".into()),
        ]);
    }
    if let Some(day) = c.since {
        keys.push(Arg::Atom(format!("SENTSINCE {}", imap_date(day))));
    }
    if let Some(day) = c.until.and_then(time::Date::next_day) {
        keys.push(Arg::Atom(format!("SENTBEFORE {}", imap_date(day))));
    }
    if keys.is_empty() {
        keys.push(atom("ALL"));
    }
    keys
}

/// RFC 3501 `date`: `1-Feb-1994`.
fn imap_date(day: time::Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}-{}-{}",
        day.day(),
        MONTHS[usize::from(u8::from(day.month())) - 1],
        day.year()
    )
}

/// The command as the lines to write: each but the last ends with a literal's `{n}` header,
/// and the next starts with that literal's bytes.
fn encode(args: &[Arg], literal_plus: bool) -> Vec<String> {
    let mut lines = vec![String::new()];
    for arg in args {
        let Some(line) = lines.last_mut() else {
            break;
        };
        if !line.is_empty() {
            line.push(' ');
        }
        match arg {
            Arg::Atom(atom) => line.push_str(atom),
            Arg::Str(text) => {
                let text: String = text.chars().filter(|c| !c.is_control()).collect();
                if text.is_ascii() {
                    line.push('"');
                    for c in text.chars() {
                        if matches!(c, '"' | '\\') {
                            line.push('\\');
                        }
                        line.push(c);
                    }
                    line.push('"');
                } else {
                    let plus = if literal_plus { "+" } else { "" };
                    line.push_str(&format!("{{{}{plus}}}", text.len()));
                    lines.push(text);
                }
            }
        }
    }
    lines
}

/// Sends the lines of a command, waiting for the server's go-ahead before each synchronising
/// literal, and collects the numbers of its SEARCH or SORT answer in the order given.
async fn run(
    session: &mut Session,
    lines: &[String],
    literal_plus: bool,
) -> Result<Vec<u32>, ImapError> {
    let mut lines = lines.iter();
    let first = lines.next().map(String::as_str).unwrap_or("");
    let tag = session.run_command(first).await?;
    let mut rest = lines.peekable();
    // Every line but the last ends with a literal's header; with LITERAL+ none is waited for.
    if literal_plus {
        for line in rest.by_ref() {
            session.run_command_untagged(line).await?;
        }
    }
    let mut awaiting_go_ahead = rest.peek().is_some();
    let mut ids = Vec::new();
    loop {
        let Some(response) = session
            .read_response()
            .await
            .map_err(|e| ImapError::Protocol(e.to_string()))?
        else {
            return Err(ImapError::Protocol(
                "the server closed the connection during a search".into(),
            ));
        };
        match response.parsed() {
            Response::Continue { .. } if awaiting_go_ahead => {
                if let Some(line) = rest.next() {
                    session.run_command_untagged(line).await?;
                }
                awaiting_go_ahead = rest.peek().is_some();
            }
            Response::MailboxData(MailboxDatum::Search(found))
            | Response::MailboxData(MailboxDatum::Sort(found)) => ids.extend(found),
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                return match status {
                    Status::Ok => Ok(ids),
                    _ => Err(ImapError::Refused(
                        outcome
                            .information
                            .as_deref()
                            .unwrap_or("search refused")
                            .to_string(),
                    )),
                };
            }
            // Unsolicited news (EXISTS, EXPUNGE…) is for whoever lists the folder next.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn command(criteria: &Criteria, literal_plus: bool) -> Vec<String> {
        encode(&search_keys(criteria), literal_plus)
    }

    #[test]
    fn words_and_phrases_are_split_as_people_expect() {
        assert_eq!(
            terms("  budget  \"next year\" q3 "),
            ["budget", "next year", "q3"]
        );
        assert_eq!(terms("say\"hi\" back\\slash"), ["say\"hi\"", "back\\slash"]);
        assert_eq!(terms("a\r\nA1 LOGOUT"), ["a", "A1", "LOGOUT"]);
        assert_eq!(terms("\"unclosed phrase"), ["unclosed phrase"]);
        assert!(terms(" \"\" \t ").is_empty());
    }

    #[test]
    fn ascii_is_quoted_with_quotes_and_backslashes_escaped() {
        let criteria = Criteria {
            terms: terms(r#"a"b\c (d{3}* 50%"#),
            field: Field::Subject,
            ..Criteria::default()
        };
        assert_eq!(
            command(&criteria, true),
            [r#"SUBJECT "a\"b\\c" SUBJECT "(d{3}*" SUBJECT "50%""#]
        );
    }

    #[test]
    fn non_ascii_goes_as_a_literal_and_control_characters_never_reach_the_server() {
        let criteria = Criteria {
            terms: vec!["Grüße\r\nA1 LOGOUT".into(), "x".into()],
            ..Criteria::default()
        };
        assert_eq!(
            command(&criteria, true),
            ["TEXT {16+}", "GrüßeA1 LOGOUT TEXT \"x\""]
        );
        assert_eq!(command(&criteria, false)[0], "TEXT {16}");
    }

    #[test]
    fn filters_and_fields_become_their_search_keys() {
        let criteria = Criteria {
            terms: vec!["ann".into()],
            field: Field::Recipients,
            unread: true,
            flagged: true,
            attachments: true,
            since: Some(date!(2026 - 02 - 01)),
            until: Some(date!(2026 - 02 - 28)),
        };
        assert_eq!(
            command(&criteria, true),
            [
                "OR TO \"ann\" CC \"ann\" UNSEEN FLAGGED HEADER Content-Type \"multipart/mixed\" \
                 SENTSINCE 1-Feb-2026 SENTBEFORE 1-Mar-2026"
            ]
        );
        assert_eq!(command(&Criteria::default(), true), ["ALL"]);
        assert!(Criteria::default().is_empty());
    }
}
