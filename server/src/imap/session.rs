//! A signed-in IMAP connection that remembers which folder it has selected.
//!
//! Pooled connections go from page to page, and most pages are on the folder the previous one
//! was on (list, open a message, list again). SELECT is what costs the IMAP server most: Dovecot
//! reads the folder's whole UID list each time (4 MB at 100,000 messages). So a connection that
//! already has the folder selected only sends NOOP, which brings in what changed since (new mail)
//! and costs nothing when nothing did; after another client's expunge it selects afresh.

use std::ops::{Deref, DerefMut};

use async_imap::error::Error;
use async_imap::types::{Mailbox, UnsolicitedResponse};

use super::MailStream;
use super::search::Order;
use super::sorted::SortedUids;

pub struct Session {
    imap: async_imap::Session<MailStream>,
    selected: Option<Selected>,
}

struct Selected {
    folder: String,
    writable: bool,
    /// What SELECT answered, its message count kept current from the server's untagged news
    /// (pages in order of arrival count by sequence number).
    mailbox: Mailbox,
    /// The folder's UIDs as the server last sorted them here, while no message has arrived
    /// (an expunge ends the selection, and with it this).
    sorted: Option<SortedUids>,
}

impl Selected {
    /// The server says the folder now holds `n` messages.
    fn exists(&mut self, n: u32) {
        if n != self.mailbox.exists {
            self.sorted = None;
        }
        self.mailbox.exists = n;
    }
}

impl Session {
    pub(super) fn new(imap: async_imap::Session<MailStream>) -> Self {
        Self {
            imap,
            selected: None,
        }
    }

    /// Selects `folder` for reading and writing, unless this connection already has.
    pub async fn select(&mut self, folder: &str) -> Result<Mailbox, Error> {
        self.open(folder, true).await
    }

    /// Selects `folder` for reading (EXAMINE), unless this connection already has it selected
    /// either way.
    pub async fn examine(&mut self, folder: &str) -> Result<Mailbox, Error> {
        self.open(folder, false).await
    }

    /// The next select goes to the server: for a caller that needs its exact counts, or after
    /// a command that may have changed what is selected.
    pub fn forget_selection(&mut self) {
        self.selected = None;
    }

    async fn open(&mut self, folder: &str, writable: bool) -> Result<Mailbox, Error> {
        if let Some(selected) = &self.selected
            && selected.folder == folder
            && (selected.writable || !writable)
        {
            match self.imap.noop().await {
                Ok(()) => {
                    if let Some(mailbox) = self.catch_up() {
                        return Ok(mailbox);
                    }
                }
                // Refused rather than broken: select afresh and let SELECT say what is wrong.
                // (A folder renamed or deleted by another client while selected here makes
                // Dovecot end this connection, and the caller reconnects, or expunge every
                // message here, and `catch_up` sends us to SELECT.)
                Err(Error::No(_) | Error::Bad(_)) => {}
                Err(e) => {
                    self.selected = None;
                    return Err(e);
                }
            }
        }
        // A failed SELECT leaves nothing selected (RFC 3501 §6.3.1). News of the folder selected
        // before is of no use now.
        self.selected = None;
        while self.imap.unsolicited_responses.try_recv().is_ok() {}
        let mailbox = if writable {
            self.imap.select(folder).await?
        } else {
            self.imap.examine(folder).await?
        };
        self.selected = Some(Selected {
            folder: folder.to_string(),
            writable,
            mailbox: mailbox.clone(),
            sorted: None,
        });
        Ok(mailbox)
    }

    /// The selected folder's UIDs in `order` as the server sorted them on this connection, if
    /// nothing has arrived or gone since (call after `select` or `examine`, which catch up).
    pub fn sorted_uids(&self, order: Order) -> Option<&[u32]> {
        self.selected.as_ref()?.sorted.as_ref()?.in_order(order)
    }

    /// Keeps the selected folder's UIDs in `order`, just sorted, for the pages that follow.
    pub fn keep_sorted(&mut self, order: Order, uids: &[u32]) {
        if let Some(selected) = self.selected.as_mut() {
            selected.sorted = SortedUids::keep(order, uids);
        }
    }

    /// Stores `message` in `folder` with `flags` (e.g. `(\\Seen)`), and answers the UID it got
    /// when the server says (RFC 4315 UIDPLUS, which Dovecot has): then the caller need not
    /// search the folder for what it just stored. async-imap's own APPEND drops that answer, so
    /// the command is spoken here.
    pub async fn append(
        &mut self,
        folder: &str,
        flags: &str,
        message: &[u8],
    ) -> Result<Option<u32>, Error> {
        use async_imap::imap_proto::rfc4315::UidSetMember;
        use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode, Status};
        use tokio::io::AsyncWriteExt;

        if folder.contains(['\r', '\n']) || flags.contains(['\r', '\n']) {
            return Err(Error::Bad(
                "a folder name or flag holds a line break".into(),
            ));
        }
        // News that came before this command is older than what APPEND brings: apply it first.
        if self.catch_up().is_none() {
            self.selected = None;
        }
        let quoted = folder.replace('\\', "\\\\").replace('"', "\\\"");
        let tag = self
            .imap
            .run_command(format!("APPEND \"{quoted}\" {flags} {{{}}}", message.len()))
            .await?;
        match self.imap.read_response().await? {
            Some(response) if matches!(response.parsed(), Response::Continue(_)) => {}
            Some(_) => return Err(Error::Append),
            None => return Err(Error::ConnectionLost),
        }
        let stream = self.imap.get_mut();
        stream.write_all(message).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
        loop {
            let Some(response) = self.imap.read_response().await? else {
                return Err(Error::ConnectionLost);
            };
            match response.parsed() {
                Response::Done {
                    tag: done,
                    status,
                    outcome,
                } if *done == tag => {
                    let information = outcome.information.as_deref().unwrap_or("").to_string();
                    return match status {
                        Status::Ok => Ok(match &outcome.code {
                            // One message appended: one UID.
                            Some(ResponseCode::AppendUid(_, uids)) => match uids.first() {
                                Some(UidSetMember::Uid(uid)) => Some(*uid),
                                Some(UidSetMember::UidRange(range)) => Some(*range.start()),
                                None => None,
                            },
                            _ => None,
                        }),
                        Status::No => Err(Error::No(information)),
                        _ => Err(Error::Bad(information)),
                    };
                }
                // Appending to the folder selected here: keep its message count current, as
                // the channel's news would have.
                Response::MailboxData(MailboxDatum::Exists(n)) => {
                    if let Some(selected) = self.selected.as_mut() {
                        selected.exists(*n);
                    }
                }
                // As in `catch_up`: select afresh next time.
                Response::Expunge(_) => self.selected = None,
                _ => {}
            }
        }
    }

    /// Applies the untagged news that came since the folder was selected (new message counts),
    /// and answers the selection as it now stands. None when the news overflowed async-imap's
    /// channel (it keeps 100), or when it holds an expunge: another client's expunge is rare,
    /// and what looks like one may be the folder renamed or deleted under this connection
    /// (Dovecot then expunges every message here, or ends the connection), so the caller selects
    /// afresh, which finds that out. Expunges of our own forget the selection anyway.
    fn catch_up(&mut self) -> Option<Mailbox> {
        let overflowed = self.imap.unsolicited_responses.is_full();
        let news: Vec<_> =
            std::iter::from_fn(|| self.imap.unsolicited_responses.try_recv().ok()).collect();
        let selected = self.selected.as_mut()?;
        if overflowed {
            return None;
        }
        for item in news {
            match item {
                UnsolicitedResponse::Exists(n) => selected.exists(n),
                UnsolicitedResponse::Expunge(_) => return None,
                _ => {}
            }
        }
        Some(selected.mailbox.clone())
    }
}

// By hand: the connection itself has nothing worth printing; which folder it holds does.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("selected", &self.selected.as_ref().map(|s| &s.folder))
            .finish()
    }
}

impl Deref for Session {
    type Target = async_imap::Session<MailStream>;

    fn deref(&self) -> &Self::Target {
        &self.imap
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.imap
    }
}
