//! Mailbox operations on a signed-in session. Folder names here are the server's own
//! (modified UTF-7); only `Folder::display_name` is for people.

use futures::TryStreamExt;
use mail_parser::MessageParser;

use super::search::{self, Criteria, Order};
use super::threads;
use super::{ImapError, Session};
use crate::mail::glance::{self, Protection};
use async_imap::imap_proto::{BodyParams, BodyStructure};
use async_imap::types::{Flag, NameAttribute};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderRole {
    Inbox,
    Drafts,
    Sent,
    Trash,
    Junk,
    Archive,
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
    pub display_name: String,
    pub role: Option<FolderRole>,
    pub messages: u32,
    pub unseen: u32,
    /// Listed in the folder sidebar (IMAP subscription); special folders always are.
    pub subscribed: bool,
}

#[derive(Debug, Clone)]
pub struct MessageSummary {
    pub uid: u32,
    pub from: String,
    pub subject: String,
    pub date: Option<i64>,
    /// When the server received it (what SORT falls back on without a Date header).
    pub received: Option<i64>,
    pub size: u32,
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    /// Signed or encrypted, as its top-level type declares (not checked).
    pub protection: Protection,
}

#[derive(Debug, Clone)]
pub struct MessagePage {
    pub total: u32,
    pub page: u32,
    pub pages: u32,
    pub messages: Vec<MessageSummary>,
    /// In the order asked for; false: in order of arrival (the server cannot SORT).
    pub sorted: bool,
    /// The server can group the folder into conversations (`THREAD=REFERENCES`).
    pub can_thread: bool,
}

/// A conversation: its messages in reading order, each with how deep in the replies it is.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub messages: Vec<(u32, MessageSummary)>,
}

/// A page of a folder's conversations (a page holds `page_size` conversations).
#[derive(Debug, Clone)]
pub struct ConversationPage {
    /// How many conversations the folder has.
    pub total: u32,
    pub page: u32,
    pub pages: u32,
    pub conversations: Vec<Conversation>,
}

/// Every selectable folder with its counts, in the order a mail client shows them.
pub async fn folders(session: &mut Session) -> Result<Vec<Folder>, ImapError> {
    let names = selectable(session).await?;
    let subscribed = subscriptions(session).await?;
    let mut folders = Vec::with_capacity(names.len());
    for (name, role) in names {
        let status = session.status(&name, "(MESSAGES UNSEEN)").await?;
        folders.push(Folder {
            display_name: display_name(&name, role),
            subscribed: role.is_some() || subscribed.contains(&name),
            name,
            role,
            messages: status.exists,
            unseen: status.unseen.unwrap_or(0),
        });
    }
    folders.sort_by_key(sort_key);
    Ok(folders)
}

/// The names of the folders the user subscribed to.
pub(super) async fn subscriptions(
    session: &mut Session,
) -> Result<std::collections::HashSet<String>, ImapError> {
    let names: Vec<_> = session
        .lsub(Some(""), Some("*"))
        .await?
        .try_collect()
        .await?;
    Ok(names.iter().map(|n| n.name().to_string()).collect())
}

/// Selectable folder names with their roles: one LIST, no per-folder STATUS.
async fn selectable(session: &mut Session) -> Result<Vec<(String, Option<FolderRole>)>, ImapError> {
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await?
        .try_collect()
        .await?;
    Ok(names
        .iter()
        .filter(|n| {
            !n.attributes()
                .iter()
                .any(|a| matches!(a, NameAttribute::NoSelect))
        })
        .map(|n| (n.name().to_string(), role_of(n.name(), n.attributes())))
        .collect())
}

pub(super) fn role_of(name: &str, attributes: &[NameAttribute<'_>]) -> Option<FolderRole> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Some(FolderRole::Inbox);
    }
    attributes.iter().find_map(|a| match a {
        NameAttribute::Drafts => Some(FolderRole::Drafts),
        NameAttribute::Sent => Some(FolderRole::Sent),
        NameAttribute::Trash => Some(FolderRole::Trash),
        NameAttribute::Junk => Some(FolderRole::Junk),
        NameAttribute::Archive => Some(FolderRole::Archive),
        _ => None,
    })
}

pub(super) fn display_name(name: &str, role: Option<FolderRole>) -> String {
    if role == Some(FolderRole::Inbox) {
        return "Inbox".into();
    }
    utf7_imap::decode_utf7_imap(name.to_string())
}

fn sort_key(folder: &Folder) -> (u8, String) {
    let rank = match folder.role {
        Some(FolderRole::Inbox) => 0,
        Some(FolderRole::Drafts) => 1,
        Some(FolderRole::Sent) => 2,
        Some(FolderRole::Archive) => 3,
        Some(FolderRole::Junk) => 4,
        Some(FolderRole::Trash) => 5,
        None => 6,
    };
    (rank, folder.display_name.to_lowercase())
}

/// The name of the folder with `role` (Sent, Drafts, Trash…), falling back to the conventional
/// name on servers without SPECIAL-USE. Needs only a LIST, not the counts `folders` fetches.
pub async fn special_folder(
    session: &mut Session,
    role: FolderRole,
) -> Result<Option<String>, ImapError> {
    Ok(pick_role(&selectable(session).await?, role).map(str::to_string))
}

pub(super) fn pick_role(names: &[(String, Option<FolderRole>)], role: FolderRole) -> Option<&str> {
    let conventional = match role {
        FolderRole::Inbox => "INBOX",
        FolderRole::Drafts => "Drafts",
        FolderRole::Sent => "Sent",
        FolderRole::Trash => "Trash",
        FolderRole::Junk => "Junk",
        FolderRole::Archive => "Archive",
    };
    names
        .iter()
        .find(|(_, r)| *r == Some(role))
        .or_else(|| {
            names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(conventional))
        })
        .map(|(n, _)| n.as_str())
}

/// One page of a folder in `order` (page 1 holds the newest messages by arrival or by date).
///
/// In order of arrival (the default, and the only order without SORT) a page is a range of
/// sequence numbers, newest first, which needs no full-folder work: it costs the same in a
/// folder of ten messages or a hundred thousand. Any other order is the server's `SORT` over the
/// whole folder, kept by the connection for the next pages until the folder changes.
pub async fn page(
    session: &mut Session,
    folder: &str,
    page: u32,
    page_size: u32,
    order: Order,
) -> Result<MessagePage, ImapError> {
    let abilities = search::abilities(session).await?;
    let mailbox = session
        .examine(folder)
        .await
        .map_err(not_found_if_refused)?;
    if abilities.sort && order != Order::Received {
        // The page's UIDs are copied out so the session is free for the FETCH.
        let window = |uids: &[u32]| {
            let (page, pages, slice) = slice_page(uids, page, page_size);
            (uids.len(), page, pages, slice.to_vec())
        };
        let (total, page, pages, slice) = match session.sorted_uids(order) {
            Some(uids) => window(uids),
            None => {
                let uids = search::uids(session, abilities, &Criteria::default(), order).await?;
                session.keep_sorted(order, &uids);
                window(&uids)
            }
        };
        return Ok(MessagePage {
            total: u32::try_from(total).unwrap_or(u32::MAX),
            page,
            pages,
            messages: summaries(session, &slice).await?,
            sorted: true,
            can_thread: abilities.thread,
        });
    }
    let total = mailbox.exists;
    let pages = total.div_ceil(page_size).max(1);
    let page = page.clamp(1, pages);
    if total == 0 {
        return Ok(MessagePage {
            total,
            page,
            pages,
            messages: Vec::new(),
            sorted: false,
            can_thread: abilities.thread,
        });
    }
    let newest = total - (page - 1) * page_size;
    let oldest = newest.saturating_sub(page_size - 1).max(1);
    let fetches: Vec<_> = session
        .fetch(format!("{oldest}:{newest}"), SUMMARY_ITEMS)
        .await?
        .try_collect()
        .await?;
    let parser = MessageParser::default();
    let mut messages: Vec<MessageSummary> =
        fetches.iter().filter_map(|f| summary(&parser, f)).collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    Ok(MessagePage {
        total,
        page,
        pages,
        messages,
        sorted: false,
        can_thread: abilities.thread,
    })
}

/// Page `page` of `folder` as conversations, latest activity first; None when the server
/// cannot thread (the caller shows the plain list instead).
pub async fn conversation_page(
    session: &mut Session,
    folder: &str,
    page: u32,
    page_size: u32,
) -> Result<Option<ConversationPage>, ImapError> {
    if !search::abilities(session).await?.thread {
        return Ok(None);
    }
    session
        .examine(folder)
        .await
        .map_err(not_found_if_refused)?;
    let all = threads::threads(session).await?;
    let (page, pages, slice) = slice_page(&all, page, page_size);
    let uids: Vec<u32> = slice
        .iter()
        .flat_map(|t| t.messages.iter().map(|m| m.uid))
        .collect();
    let mut found: std::collections::HashMap<u32, MessageSummary> = summaries(session, &uids)
        .await?
        .into_iter()
        .map(|m| (m.uid, m))
        .collect();
    let conversations = slice
        .iter()
        .map(|t| Conversation {
            messages: t
                .messages
                .iter()
                .filter_map(|m| found.remove(&m.uid).map(|s| (m.depth, s)))
                .collect(),
        })
        .filter(|c| !c.messages.is_empty())
        .collect();
    Ok(Some(ConversationPage {
        total: u32::try_from(all.len()).unwrap_or(u32::MAX),
        page,
        pages,
        conversations,
    }))
}

/// Page `page` (from 1, clamped to the pages there are) of `items`: the page, the page count,
/// and its items.
pub fn slice_page<T>(items: &[T], page: u32, page_size: u32) -> (u32, u32, &[T]) {
    let page_size = page_size.max(1);
    let total = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let pages = total.div_ceil(page_size).max(1);
    let page = page.clamp(1, pages);
    let start = ((page - 1) as usize).saturating_mul(page_size as usize);
    let end = start.saturating_add(page_size as usize).min(items.len());
    (page, pages, items.get(start..end).unwrap_or(&[]))
}

// BODYSTRUCTURE tells signed and encrypted mail apart without fetching any body.
const SUMMARY_ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE \
     BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])";

/// The list rows of these messages of the selected folder, in the order given. A message
/// expunged meanwhile is left out.
pub async fn summaries(
    session: &mut Session,
    uids: &[u32],
) -> Result<Vec<MessageSummary>, ImapError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetches: Vec<_> = session
        .uid_fetch(set, SUMMARY_ITEMS)
        .await?
        .try_collect()
        .await?;
    let parser = MessageParser::default();
    let mut found: std::collections::HashMap<u32, MessageSummary> = fetches
        .iter()
        .filter_map(|f| summary(&parser, f))
        .map(|m| (m.uid, m))
        .collect();
    Ok(uids.iter().filter_map(|uid| found.remove(uid)).collect())
}

fn summary(parser: &MessageParser, f: &async_imap::types::Fetch) -> Option<MessageSummary> {
    let uid = f.uid?;
    let header = f.header().unwrap_or_default();
    let parsed = parser.parse_headers(header);
    let flags: Vec<Flag<'_>> = f.flags().collect();
    Some(MessageSummary {
        uid,
        from: parsed
            .as_ref()
            .map(|m| crate::mail::sender_label(m.from()))
            .unwrap_or_default(),
        subject: parsed
            .as_ref()
            .and_then(|m| m.subject())
            .unwrap_or("")
            .to_string(),
        date: parsed
            .as_ref()
            .and_then(|m| m.date())
            .map(|d| d.to_timestamp()),
        received: f.internal_date().map(|d| d.timestamp()),
        size: f.size.unwrap_or(0),
        seen: flags.contains(&Flag::Seen),
        answered: flags.contains(&Flag::Answered),
        flagged: flags.contains(&Flag::Flagged),
        protection: f.bodystructure().map(protection_of).unwrap_or_default(),
    })
}

fn pairs<'a>(params: &'a BodyParams<'_>) -> Vec<(&'a str, &'a str)> {
    params
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect()
}

/// What the message's top-level part declares; the parts inside do not matter.
fn protection_of(structure: &BodyStructure<'_>) -> Protection {
    // A clear signature over an encrypted part (sign after encrypting, as Sealmail and Outlook
    // can) is both: look inside signed wrappers, a few levels deep, as a reader would.
    let mut seen = own_protection(structure);
    let mut part = structure;
    for _ in 0..4 {
        let (BodyStructure::Multipart { bodies, .. }, true) = (part, seen.signed) else {
            break;
        };
        let Some(first) = bodies.first() else {
            break;
        };
        let inner = own_protection(first);
        seen.encrypted |= inner.encrypted;
        if !inner.signed {
            break;
        }
        part = first;
    }
    seen
}

fn own_protection(structure: &BodyStructure<'_>) -> Protection {
    let common = match structure {
        BodyStructure::Basic { common, .. }
        | BodyStructure::Text { common, .. }
        | BodyStructure::Message { common, .. }
        | BodyStructure::Multipart { common, .. } => common,
    };
    let params = pairs(&common.ty.params);
    let disposition = common
        .disposition
        .as_ref()
        .map(|d| pairs(&d.params))
        .unwrap_or_default();
    let filename = disposition
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
        .map(|(_, v)| *v);
    glance::protection(&common.ty.ty, &common.ty.subtype, &params, filename)
}

/// The raw message; reading it marks it seen, as opening a message does in any mail client.
pub async fn fetch(
    session: &mut Session,
    folder: &str,
    uid: u32,
    mark_seen: bool,
) -> Result<Vec<u8>, ImapError> {
    let item = if mark_seen { "BODY[]" } else { "BODY.PEEK[]" };
    Ok(fetch_item(session, folder, uid, item).await?.0)
}

/// One part of a message without the rest (`BODY.PEEK[section]`, RFC 3501 §6.4.5): its MIME
/// header fields followed by its body, as a message of its own. None when the server has no
/// such part.
pub async fn fetch_part(
    session: &mut Session,
    folder: &str,
    uid: u32,
    section: &[u32],
) -> Result<Option<Vec<u8>>, ImapError> {
    use async_imap::imap_proto::{MessageSection, SectionPath};
    if section.is_empty() || section.contains(&0) {
        return Ok(None);
    }
    let number = section
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    session.select(folder).await.map_err(not_found_if_refused)?;
    let fetches: Vec<_> = session
        .uid_fetch(
            uid.to_string(),
            format!("(BODY.PEEK[{number}.MIME] BODY.PEEK[{number}])"),
        )
        .await?
        .try_collect()
        .await?;
    let Some(fetch) = fetches.iter().find(|f| f.uid == Some(uid)) else {
        return Err(ImapError::NotFound);
    };
    let header = fetch.section(&SectionPath::Part(
        section.to_vec(),
        Some(MessageSection::Mime),
    ));
    let body = fetch.section(&SectionPath::Part(section.to_vec(), None));
    Ok(match (header, body) {
        (Some(header), Some(body)) => Some([header, body].concat()),
        _ => None,
    })
}

/// The raw message for its page, marked seen, and whether it is flagged.
pub async fn open(
    session: &mut Session,
    folder: &str,
    uid: u32,
) -> Result<(Vec<u8>, bool), ImapError> {
    fetch_item(session, folder, uid, "(FLAGS BODY[])").await
}

async fn fetch_item(
    session: &mut Session,
    folder: &str,
    uid: u32,
    item: &str,
) -> Result<(Vec<u8>, bool), ImapError> {
    session.select(folder).await.map_err(not_found_if_refused)?;
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), item)
        .await?
        .try_collect()
        .await?;
    let flagged = fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .any(|f| f.flags().any(|flag| flag == Flag::Flagged));
    let raw = fetches
        .iter()
        .find(|f| f.uid == Some(uid) && f.body().is_some())
        .and_then(|f| f.body())
        .map(<[u8]>::to_vec)
        .ok_or(ImapError::NotFound)?;
    Ok((raw, flagged))
}

/// Marks these messages of `folder` read or unread, in one command.
pub async fn set_seen(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
    seen: bool,
) -> Result<(), ImapError> {
    store_flag(session, folder, uids, "\\Seen", seen).await
}

/// Flags or unflags these messages of `folder`, in one command.
pub async fn set_flagged(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
    flagged: bool,
) -> Result<(), ImapError> {
    store_flag(session, folder, uids, "\\Flagged", flagged).await
}

async fn store_flag(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
    flag: &str,
    on: bool,
) -> Result<(), ImapError> {
    let Some(set) = uid_set(uids) else {
        return Ok(());
    };
    session.select(folder).await.map_err(not_found_if_refused)?;
    let change = format!("{}FLAGS.SILENT ({flag})", if on { "+" } else { "-" });
    let _: Vec<_> = session.uid_store(set, change).await?.try_collect().await?;
    Ok(())
}

/// Moves these messages of `from` to `to`, in one `UID MOVE`.
pub async fn move_messages(
    session: &mut Session,
    from: &str,
    uids: &[u32],
    to: &str,
) -> Result<(), ImapError> {
    let Some(set) = uid_set(uids) else {
        return Ok(());
    };
    session.select(from).await.map_err(not_found_if_refused)?;
    session.uid_mv(set, to).await?;
    Ok(())
}

/// Removes messages for good (used in Trash, and for a draft once it has been sent). Only these
/// UIDs are expunged (`UID EXPUNGE`), not whatever else someone marked deleted.
pub async fn delete_permanently(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
) -> Result<(), ImapError> {
    let Some(set) = uid_set(uids) else {
        return Ok(());
    };
    session.select(folder).await.map_err(not_found_if_refused)?;
    let _: Vec<_> = session
        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
        .await?
        .try_collect()
        .await?;
    let _: Vec<_> = session.uid_expunge(&set).await?.try_collect().await?;
    // UID EXPUNGE's answers are its own, not news the selection counts from.
    session.forget_selection();
    Ok(())
}

/// Where "Delete" put the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    ToTrash,
    /// They were in Trash already (or there is no Trash).
    ForGood,
}

/// "Delete" as people mean it: to Trash, and for good only from Trash itself.
pub async fn delete(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
) -> Result<Deleted, ImapError> {
    match special_folder(session, FolderRole::Trash).await? {
        Some(trash) if trash != folder => {
            move_messages(session, folder, uids, &trash).await?;
            Ok(Deleted::ToTrash)
        }
        _ => {
            delete_permanently(session, folder, uids).await?;
            Ok(Deleted::ForGood)
        }
    }
}

/// An IMAP UID set for `uids` (`3:5,9`), runs folded into ranges so a whole page stays one
/// short command; `None` for no UIDs, which no command should be sent for.
pub fn uid_set(uids: &[u32]) -> Option<String> {
    let mut sorted: Vec<u32> = uids.iter().copied().filter(|&u| u > 0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for uid in sorted {
        run = match run {
            Some((start, end)) if end.checked_add(1) == Some(uid) => Some((start, uid)),
            Some(done) => {
                parts.push(done);
                Some((uid, uid))
            }
            None => Some((uid, uid)),
        };
    }
    parts.extend(run);
    if parts.is_empty() {
        return None;
    }
    let text: Vec<String> = parts
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}:{end}")
            }
        })
        .collect();
    Some(text.join(","))
}

/// Stores a message; answers its UID when the server says (UIDPLUS).
pub async fn append(
    session: &mut Session,
    folder: &str,
    flags: &str,
    message: &[u8],
) -> Result<Option<u32>, ImapError> {
    Ok(session.append(folder, flags, message).await?)
}

/// The UID of the message with this Message-ID, if the folder has one. Used to file a sent copy
/// exactly once after an attempt that may have stored it already.
pub async fn find_by_message_id(
    session: &mut Session,
    folder: &str,
    message_id: &str,
) -> Result<Option<u32>, ImapError> {
    session.select(folder).await.map_err(not_found_if_refused)?;
    let quoted = message_id.replace(['\\', '"', '\r', '\n'], "");
    let uids = session
        .uid_search(format!("HEADER Message-ID \"{quoted}\""))
        .await?;
    Ok(uids.into_iter().max())
}

/// UIDs in `folder` of messages whose `header` holds `value` (a token: letters, digits, `-`,
/// `_`, `@`, `.`; anything else is removed before it reaches the command).
pub async fn find_by_header(
    session: &mut Session,
    folder: &str,
    header: &str,
    value: &str,
) -> Result<Vec<u32>, ImapError> {
    let token = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@' | '.'))
            .collect()
    };
    session.select(folder).await.map_err(not_found_if_refused)?;
    let uids = session
        .uid_search(format!("HEADER {} \"{}\"", token(header), token(value)))
        .await?;
    Ok(uids.into_iter().collect())
}

pub(super) fn not_found_if_refused(e: async_imap::error::Error) -> ImapError {
    match e {
        async_imap::error::Error::No(_) => ImapError::NotFound,
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_fold_runs_and_ignore_order_duplicates_and_zero() {
        assert_eq!(uid_set(&[]), None);
        assert_eq!(uid_set(&[0]), None);
        assert_eq!(uid_set(&[7]).as_deref(), Some("7"));
        assert_eq!(
            uid_set(&[9, 3, 4, 5, 5, 0, 11, 12]).as_deref(),
            Some("3:5,9,11:12")
        );
        assert_eq!(
            uid_set(&[u32::MAX, u32::MAX - 1, 1]).as_deref(),
            Some("1,4294967294:4294967295")
        );
    }
}
