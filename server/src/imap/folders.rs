//! Managing folders: create, rename, delete, subscribe, empty Trash.
//!
//! Every change is checked here against a fresh LIST before its command is sent, so a forged or
//! stale form cannot rename a special folder, delete one with folders inside it, or empty a
//! folder that has changed since the person confirmed. A refusal is a `FolderError`, whose text
//! is the sentence the person reads; `ImapError` stays for the mail server failing.

use futures::TryStreamExt;

use super::mailbox::{self, FolderRole};
use super::{ImapError, Session};
use async_imap::types::NameAttribute;

/// Longest folder name a person may type (one level, in characters). Generous for people, far
/// below what servers and file systems under them choke on.
pub const MAX_NAME_CHARS: usize = 100;

/// Names the conventional special folders go by on servers without SPECIAL-USE; these are
/// protected whether or not the server marks them.
const CONVENTIONAL: &[&str] = &["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"];

/// Why a folder change was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderError {
    #[error("Type a name for the folder.")]
    Empty,
    #[error(
        "A folder name cannot contain \"{0}\": it separates a folder from the folders inside it. \
         To put a folder inside another, choose that one under \"Inside\"."
    )]
    Delimiter(String),
    #[error("A folder name cannot contain control characters such as tabs or line breaks.")]
    Control,
    #[error("A folder name can be at most {MAX_NAME_CHARS} characters long.")]
    TooLong,
    #[error("A folder name cannot be \".\" or contain \"..\".")]
    Dots,
    #[error("A folder name cannot contain \"*\" or \"%\": mail programs read them as wildcards.")]
    Wildcard,
    #[error("There is already a folder called \"{0}\".")]
    Exists(String),
    #[error("There is no folder \"{0}\" any more. It may have been renamed or deleted.")]
    Missing(String),
    #[error(
        "\"{0}\" is a special folder (Inbox, Drafts, Sent, Trash, Junk and Archive are): \
         it cannot be renamed or deleted."
    )]
    Protected(String),
    #[error(
        "\"{0}\" has folders inside it. Delete or rename those first, so no mail is deleted \
         that you did not see counted."
    )]
    HasChildren(String),
    #[error("Only Trash can be emptied; to remove other mail, select it in its folder.")]
    NotTrash,
    #[error(
        "\"{folder}\" changed since you confirmed: it now holds {}. Nothing was deleted; \
         look again and confirm.", count_words(.now)
    )]
    Changed { folder: String, now: u32 },
    #[error("Special folders are always listed; they cannot be unsubscribed.")]
    AlwaysListed,
    #[error("The mail server refused: {0}")]
    Refused(String),
}

/// "1 message", "12 messages".
pub fn messages_words(n: u32) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

fn count_words(n: &u32) -> String {
    messages_words(*n)
}

/// One folder as LIST shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub role: Option<FolderRole>,
    pub selectable: bool,
}

/// Every folder name (selectable or not) and the server's hierarchy delimiter.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// `None`: the server has a flat namespace, and no folder can be inside another.
    pub delimiter: Option<String>,
    pub folders: Vec<Listed>,
}

impl Listing {
    pub fn find(&self, name: &str) -> Option<&Listed> {
        self.folders.iter().find(|f| f.name == name)
    }

    /// Whether a folder with this (server) name exists; INBOX is one name in any case.
    pub fn exists(&self, name: &str) -> bool {
        self.folders.iter().any(|f| {
            f.name == name
                || (f.name.eq_ignore_ascii_case("INBOX") && name.eq_ignore_ascii_case("INBOX"))
        })
    }

    /// The folders inside `name`, at any depth.
    pub fn descendants<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Listed> + 'a {
        let prefix = self.delimiter.as_deref().map(|d| format!("{name}{d}"));
        self.folders
            .iter()
            .filter(move |f| prefix.as_deref().is_some_and(|p| f.name.starts_with(p)))
    }

    /// The folder `name` is inside, if any.
    pub fn parent_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        let d = self.delimiter.as_deref()?;
        name.rfind(d).map(|at| &name[..at])
    }

    /// The special folder for `role`, as `mailbox::special_folder` picks it.
    pub fn special(&self, role: FolderRole) -> Option<&str> {
        let names: Vec<(String, Option<FolderRole>)> = self
            .folders
            .iter()
            .filter(|f| f.selectable)
            .map(|f| (f.name.clone(), f.role))
            .collect();
        let picked = mailbox::pick_role(&names, role)?.to_string();
        self.folders
            .iter()
            .find(|f| f.name == picked)
            .map(|f| f.name.as_str())
    }
}

/// Whether a folder may not be renamed or deleted: special-use ones, and the conventional
/// names, which other mail programs treat as special even where the server does not say so.
pub fn is_protected(name: &str, role: Option<FolderRole>) -> bool {
    role.is_some() || CONVENTIONAL.iter().any(|c| name.eq_ignore_ascii_case(c))
}

/// Checks one level of a folder name as a person typed it, and encodes it for the server
/// (modified UTF-7).
pub fn check_name(typed: &str, delimiter: Option<&str>) -> Result<String, FolderError> {
    let name = typed.trim();
    if name.is_empty() {
        return Err(FolderError::Empty);
    }
    if name.chars().any(char::is_control) {
        return Err(FolderError::Control);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FolderError::TooLong);
    }
    if let Some(d) = delimiter
        && name.contains(d)
    {
        return Err(FolderError::Delimiter(d.to_string()));
    }
    if name == "." || name.contains("..") {
        return Err(FolderError::Dots);
    }
    if name.contains(['*', '%']) {
        return Err(FolderError::Wildcard);
    }
    Ok(utf7_imap::encode_utf7_imap(name.to_string()))
}

/// The full server name of a folder called `leaf` (already encoded) inside `parent`.
fn join(listing: &Listing, parent: Option<&str>, leaf: &str) -> String {
    match (parent, listing.delimiter.as_deref()) {
        (Some(parent), Some(d)) => format!("{parent}{d}{leaf}"),
        _ => leaf.to_string(),
    }
}

pub async fn listing(session: &mut Session) -> Result<Listing, ImapError> {
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await?
        .try_collect()
        .await?;
    let mut delimiter = names.iter().find_map(|n| n.delimiter().map(str::to_string));
    if delimiter.is_none() {
        // RFC 3501 §6.3.8: LIST "" "" answers with the delimiter alone.
        let root: Vec<_> = session
            .list(Some(""), Some(""))
            .await?
            .try_collect()
            .await?;
        delimiter = root.iter().find_map(|n| n.delimiter().map(str::to_string));
    }
    Ok(Listing {
        delimiter,
        folders: names
            .iter()
            .map(|n| Listed {
                name: n.name().to_string(),
                role: mailbox::role_of(n.name(), n.attributes()),
                selectable: !n.attributes().iter().any(|a| {
                    matches!(a, NameAttribute::NoSelect)
                        || matches!(a, NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent"))
                }),
            })
            .collect(),
    })
}

/// Creates folder `typed` inside `parent` (a server name; `None`: at the top) and subscribes
/// to it, so it shows in the folder list. Answers the new folder's server name.
pub async fn create(
    session: &mut Session,
    parent: Option<&str>,
    typed: &str,
) -> Result<Result<String, FolderError>, ImapError> {
    let listing = listing(session).await?;
    let leaf = match check_name(typed, listing.delimiter.as_deref()) {
        Ok(leaf) => leaf,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(parent) = parent
        && !listing.exists(parent)
    {
        return Ok(Err(FolderError::Missing(mailbox::display_name(
            parent, None,
        ))));
    }
    let name = join(&listing, parent, &leaf);
    if listing.exists(&name) {
        return Ok(Err(FolderError::Exists(mailbox::display_name(&name, None))));
    }
    if let Err(e) = refused(session.create(&name).await)? {
        return Ok(Err(e));
    }
    refused(session.subscribe(&name).await)?.ok();
    Ok(Ok(name))
}

/// Renames `folder` (a server name) to `typed`, in the same place; folders inside it move with
/// it, and so do their subscriptions (IMAP leaves those behind).
pub async fn rename(
    session: &mut Session,
    folder: &str,
    typed: &str,
) -> Result<Result<String, FolderError>, ImapError> {
    let listing = listing(session).await?;
    let found = match changeable(&listing, folder) {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let leaf = match check_name(typed, listing.delimiter.as_deref()) {
        Ok(leaf) => leaf,
        Err(e) => return Ok(Err(e)),
    };
    let name = join(&listing, listing.parent_of(folder), &leaf);
    if name == folder {
        return Ok(Ok(name));
    }
    if listing.exists(&name) {
        return Ok(Err(FolderError::Exists(mailbox::display_name(&name, None))));
    }
    let subscribed = mailbox::subscriptions(session).await?;
    let moved: Vec<(String, String)> = std::iter::once(found)
        .chain(listing.descendants(folder))
        .filter(|f| subscribed.contains(&f.name))
        .map(|f| (f.name.clone(), format!("{name}{}", &f.name[folder.len()..])))
        .collect();
    // This connection may have the folder (or one inside it) selected under its old name.
    session.forget_selection();
    if let Err(e) = refused(session.rename(folder, &name).await)? {
        return Ok(Err(e));
    }
    for (old, new) in moved {
        // The rename happened; a subscription that does not follow is a small loss, shown
        // as "not listed" on the folders page, where one click fixes it.
        refused(session.unsubscribe(&old).await)?.ok();
        refused(session.subscribe(&new).await)?.ok();
    }
    Ok(Ok(name))
}

/// How many messages `folder` holds, and whether it may be deleted at all.
pub async fn deletion(
    session: &mut Session,
    folder: &str,
) -> Result<Result<u32, FolderError>, ImapError> {
    let listing = listing(session).await?;
    let found = match changeable(&listing, folder) {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if listing.descendants(folder).next().is_some() {
        return Ok(Err(FolderError::HasChildren(mailbox::display_name(
            folder, None,
        ))));
    }
    if !found.selectable {
        return Ok(Ok(0));
    }
    Ok(Ok(session.status(folder, "(MESSAGES)").await?.exists))
}

/// Deletes `folder` and its messages, if it still holds the `expected` number the person was
/// shown and agreed to.
pub async fn delete(
    session: &mut Session,
    folder: &str,
    expected: u32,
) -> Result<Result<(), FolderError>, ImapError> {
    let messages = match deletion(session, folder).await? {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    if messages != expected {
        return Ok(Err(FolderError::Changed {
            folder: mailbox::display_name(folder, None),
            now: messages,
        }));
    }
    session.forget_selection();
    if let Err(e) = refused(session.delete(folder).await)? {
        return Ok(Err(e));
    }
    // Servers keep subscriptions to names that are gone (RFC 3501 §6.3.6); a new folder of
    // the same name would otherwise start out listed.
    refused(session.unsubscribe(folder).await)?.ok();
    Ok(Ok(()))
}

pub async fn set_subscribed(
    session: &mut Session,
    folder: &str,
    on: bool,
) -> Result<Result<(), FolderError>, ImapError> {
    let listing = listing(session).await?;
    let Some(found) = listing.find(folder) else {
        return Ok(Err(FolderError::Missing(mailbox::display_name(
            folder, None,
        ))));
    };
    if !on && is_protected(&found.name, found.role) {
        return Ok(Err(FolderError::AlwaysListed));
    }
    let done = if on {
        session.subscribe(folder).await
    } else {
        session.unsubscribe(folder).await
    };
    refused(done)
}

/// Trash's name and how many messages it holds; `NotTrash` for any other folder.
pub async fn trash_count(
    session: &mut Session,
    folder: &str,
) -> Result<Result<u32, FolderError>, ImapError> {
    let listing = listing(session).await?;
    if listing.special(FolderRole::Trash) != Some(folder) {
        return Ok(Err(FolderError::NotTrash));
    }
    Ok(Ok(session.status(folder, "(MESSAGES)").await?.exists))
}

/// Deletes every message in Trash for good, if it holds the `expected` number the person was
/// shown and agreed to.
pub async fn empty_trash(
    session: &mut Session,
    folder: &str,
    expected: u32,
) -> Result<Result<(), FolderError>, ImapError> {
    if let Err(e) = trash_count(session, folder).await? {
        return Ok(Err(e));
    }
    // The count must be now's, not as of an earlier selection.
    session.forget_selection();
    let selected = session
        .select(folder)
        .await
        .map_err(mailbox::not_found_if_refused)?;
    if selected.exists != expected {
        return Ok(Err(FolderError::Changed {
            folder: mailbox::display_name(folder, Some(FolderRole::Trash)),
            now: selected.exists,
        }));
    }
    if selected.exists == 0 {
        return Ok(Ok(()));
    }
    let _: Vec<_> = session
        .store("1:*", "+FLAGS.SILENT (\\Deleted)")
        .await?
        .try_collect()
        .await?;
    let _: Vec<_> = session.expunge().await?.try_collect().await?;
    // EXPUNGE's answers are its own, not news the selection counts from.
    session.forget_selection();
    Ok(Ok(()))
}

/// `folder` from the listing, if it exists and may be renamed or deleted.
fn changeable<'a>(listing: &'a Listing, folder: &str) -> Result<&'a Listed, FolderError> {
    let found = listing
        .find(folder)
        .ok_or_else(|| FolderError::Missing(mailbox::display_name(folder, None)))?;
    match protection(listing, found) {
        Some(refusal) => Err(refusal),
        None => Ok(found),
    }
}

/// Why `folder` may not be renamed or deleted, if it may not: it is special, or a special
/// folder is inside it (and would go with it).
fn protection(listing: &Listing, folder: &Listed) -> Option<FolderError> {
    let special = |f: &Listed| is_protected(&f.name, f.role);
    if special(folder) || listing.descendants(&folder.name).any(special) {
        return Some(FolderError::Protected(mailbox::display_name(
            &folder.name,
            folder.role,
        )));
    }
    None
}

/// A server's NO (or BAD) to a folder command is the person's answer, not an outage.
fn refused(result: async_imap::error::Result<()>) -> Result<Result<(), FolderError>, ImapError> {
    match result {
        Ok(()) => Ok(Ok(())),
        Err(async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text)) => {
            Ok(Err(FolderError::Refused(clean(&text))))
        }
        Err(other) => Err(other.into()),
    }
}

/// The server's words without its response code (`[ALREADYEXISTS] …`).
fn clean(text: &str) -> String {
    let text = text.trim();
    let text = match text.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((_, rest)) => rest.trim(),
        None => text,
    };
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &[(&str, Option<FolderRole>)]) -> Listing {
        Listing {
            delimiter: Some("/".into()),
            folders: names
                .iter()
                .map(|(n, r)| Listed {
                    name: n.to_string(),
                    role: *r,
                    selectable: true,
                })
                .collect(),
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let d = Some("/");
        assert_eq!(check_name("   ", d), Err(FolderError::Empty));
        assert_eq!(
            check_name("a/b", d),
            Err(FolderError::Delimiter("/".into()))
        );
        assert_eq!(check_name("a\tb", d), Err(FolderError::Control));
        assert_eq!(check_name("a\u{85}b", d), Err(FolderError::Control));
        assert_eq!(check_name(&"x".repeat(101), d), Err(FolderError::TooLong));
        assert_eq!(check_name(&"é".repeat(100), d).map(|_| ()), Ok(()));
        assert_eq!(check_name("..", d), Err(FolderError::Dots));
        assert_eq!(check_name("a..b", d), Err(FolderError::Dots));
        assert_eq!(check_name("100%", d), Err(FolderError::Wildcard));
        assert_eq!(check_name(" Projects ", d).as_deref(), Ok("Projects"));
        // A flat server has no delimiter to refuse.
        assert_eq!(check_name("a/b", None).as_deref(), Ok("a/b"));
    }

    #[test]
    fn names_are_encoded_for_the_server() {
        assert_eq!(
            check_name("Réunions", Some("/")).as_deref(),
            Ok("R&AOk-unions")
        );
        assert_eq!(check_name("A&B", Some("/")).as_deref(), Ok("A&-B"));
    }

    #[test]
    fn special_folders_and_their_parents_are_protected() {
        let l = listing(&[
            ("INBOX", Some(FolderRole::Inbox)),
            ("Sent", Some(FolderRole::Sent)),
            ("Trash", None),
            ("Projects", None),
            ("Projects/Old", None),
            ("Keep", None),
            ("Keep/Drafts", Some(FolderRole::Drafts)),
        ]);
        let refused = |n: &str| protection(&l, l.find(n).unwrap()).is_some();
        assert!(refused("INBOX") && refused("Sent"));
        assert!(
            refused("Trash"),
            "conventional names count without SPECIAL-USE"
        );
        assert!(refused("Keep"), "a special folder inside goes with it");
        assert!(!refused("Projects") && !refused("Projects/Old"));
        assert_eq!(l.parent_of("Projects/Old"), Some("Projects"));
        assert_eq!(l.parent_of("Projects"), None);
        assert_eq!(
            l.descendants("Projects")
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["Projects/Old"]
        );
        assert!(l.exists("inbox"));
        assert_eq!(l.special(FolderRole::Trash), Some("Trash"));
    }

    #[test]
    fn the_count_reads_naturally() {
        assert_eq!(messages_words(1), "1 message");
        assert_eq!(messages_words(12), "12 messages");
        let changed = FolderError::Changed {
            folder: "Projects".into(),
            now: 3,
        };
        assert!(changed.to_string().contains("now holds 3 messages"));
        assert_eq!(
            clean("[ALREADYEXISTS] Mailbox already exists"),
            "Mailbox already exists"
        );
    }
}
