//! What both sends (a message the server can read, and one the browser sealed) do once the
//! message has gone, and what a send whose outcome is unknown offers next.

use crate::imap;
use crate::mail::compose;
use crate::sessions::SignedIn;
use crate::web::{FolderRole, Shared};

use super::form::Submitted;

/// "Send again as a new message", after a send whose outcome was uncertain: a send id of its
/// own, derived from the first so a double click still sends once.
pub(super) fn send_again_id(send_id: &str) -> String {
    format!("{send_id}-again")
}

/// After a send, the draft it came from goes, with any copy the page's autosave wrote of the
/// same form meanwhile (they carry its send id). A failure only costs a stale draft.
pub(super) async fn remove_draft(state: &Shared, user: &SignedIn, s: &Submitted) {
    let send_id = s.form.send_id.as_deref().unwrap_or(&s.send_id);
    let removed = with_imap!(state, user, |conn| {
        let Some(drafts) = imap::mailbox::special_folder(conn, FolderRole::Drafts).await? else {
            return Ok(());
        };
        let mut uids: Vec<u32> = s.draft_uid.into_iter().collect();
        uids.extend(imap::mailbox::find_by_header(conn, &drafts, compose::SEND_ID, send_id).await?);
        imap::mailbox::delete_permanently(conn, &drafts, &uids).await
    });
    if let Err(e) = removed {
        tracing::warn!(user = %user.email, "sent, but the draft could not be removed: {e}");
    }
}

/// Where a sent message's page goes: the Inbox, saying it was sent.
pub(super) const SENT_LOCATION: &str = "/mail?folder=INBOX&notice=sent";
