//! Keeping the compose form in Drafts: the form's "Save draft" button, the page's autosave
//! (`POST /compose/draft`, answered in JSON), and drafts the browser encrypted to the user's own
//! certificate, which the server stores without ever holding their text.
//!
//! The rule this module keeps: at every moment at least one copy of the draft is in Drafts, and
//! after a save that succeeded exactly one. A new copy is appended before older ones go, so a
//! crash or a failing mail server between the two leaves two copies (the next save removes the
//! older), never none.

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::FolderRole;
use super::Shared;
use super::api::{ApiError, ApiUser, api_error};
use super::auth::random_token;
use super::compose::{domain_of, kept_attachments, kept_list, read_form, sender};
use super::errors::{PageError, TOO_LARGE};
use crate::db::now;
use crate::imap;
use crate::mail::compose::{self, Composition};
use crate::mail::secure::{self, Sealed};
use crate::mail::{ids, read};
use crate::sessions::SignedIn;

/// What a draft holds besides its header fields.
pub(super) enum Content<'a> {
    /// The body and attachments as typed, readable by the server.
    Plain,
    /// An `application/pkcs7-mime` entity the browser encrypted to the user's own certificate;
    /// the form's body and attachments are not kept.
    Encrypted(&'a [u8]),
}

pub(super) struct SavedDraft {
    pub folder: String,
    pub uid: u32,
    pub raw: Vec<u8>,
}

/// A save from a page that never decrypted the encrypted draft it was opened from: its form's
/// body is empty, not what the user wrote, and would replace the draft.
pub(super) const UNOPENED_ENCRYPTED: &str = "This draft is encrypted and was not opened in this browser, so saving now would \
     replace it with an empty one. Nothing was saved: open it where your digital ID is.";

/// Saves the form in Drafts (replacing the draft it was opened from, and any copy an earlier
/// save of the same form left) and says where it is.
pub(super) async fn save_draft(
    state: &Shared,
    user: &SignedIn,
    form: &Composition,
    from: &str,
    replaces: Option<u32>,
    content: Content<'_>,
) -> Result<SavedDraft, PageError> {
    // A draft keeps the From chosen, so editing it again starts from the same identity; one the
    // user may no longer send as is kept as the sign-in address.
    let identities = super::identities::load(state, user).await?;
    let from = sender(&identities, from).or_else(|_| sender(&identities, ""));
    let from = from.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let message_id = format!("{}@{}", random_token(), domain_of(&user.email));
    let built = match content {
        Content::Plain => form.build_unsent(from, message_id.clone(), now()),
        Content::Encrypted(entity) => {
            form.build_unsent_sealed(from, message_id.clone(), now(), entity)
        }
    };
    let raw = built.map_err(|e| PageError::BadRequest(e.to_string()))?;
    // The Message-ID is new, so only a second try (the first connection lost mid-APPEND) can
    // find the draft stored already.
    let mut tried = false;
    let (folder, uid) = with_imap!(state, user, |conn| {
        let drafts = imap::mailbox::special_folder(conn, FolderRole::Drafts)
            .await?
            .unwrap_or_else(|| "Drafts".into());
        let stored = match tried {
            true => imap::mailbox::find_by_message_id(conn, &drafts, &message_id).await?,
            false => None,
        };
        tried = true;
        let uid = match stored {
            Some(uid) => uid,
            None => match imap::mailbox::append(conn, &drafts, "(\\Draft \\Seen)", &raw).await? {
                Some(uid) => uid,
                // A server without UIDPLUS: look the draft up.
                None => imap::mailbox::find_by_message_id(conn, &drafts, &message_id)
                    .await?
                    .ok_or(imap::ImapError::NotFound)?,
            },
        };
        // One draft per send: the one it was opened from, and any saved by an earlier save of
        // the same form (autosave, a browser retry). Only older copies go: two saves racing
        // (an autosave and the one sent as the page closes) must not delete each other's.
        let mut older: Vec<u32> = replaces.into_iter().collect();
        if let Some(send_id) = &form.send_id {
            older.extend(
                imap::mailbox::find_by_header(conn, &drafts, compose::SEND_ID, send_id).await?,
            );
        }
        older.sort_unstable();
        older.dedup();
        older.retain(|old| *old < uid);
        imap::mailbox::delete_permanently(conn, &drafts, &older).await?;
        Ok((drafts, uid))
    })?;
    Ok(SavedDraft { folder, uid, raw })
}

/// `POST /compose/draft`: the page's own save (autosave, and "Save draft" for an encrypted
/// draft). Takes the compose form's fields; with an `entity` field, that encrypted entity
/// replaces the body and attachments. Answers `{draft_uid, folder, saved_at, encrypted, kept}`
/// — `kept` the attachments now in a plain draft, which the page offers as kept parts of it from
/// then on — or `{error}` saying the earlier copy is still in Drafts.
pub async fn save(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let not_saved = |status: StatusCode, why: &str| {
        let why = why.trim_end_matches('.');
        api_error(
            status,
            format!(
                "Your draft was not saved: {why}. The copy saved before, if any, is still in Drafts; what you typed is still on this page."
            ),
        )
    };
    let mut s = read_form(multipart).await.map_err(|e| match e {
        PageError::TooLarge => api_error(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE.into()),
        other => not_saved(StatusCode::BAD_REQUEST, &other.to_string()),
    })?;
    if !ids::is_send_id(&s.send_id) {
        return Err(not_saved(
            StatusCode::BAD_REQUEST,
            "the form's send id is missing or damaged",
        ));
    }
    if s.sealed_draft {
        return Err(api_error(StatusCode::CONFLICT, UNOPENED_ENCRYPTED.into()));
    }
    let user = &user.0;
    s.form.send_id = Some(s.send_id.clone());
    let content = match s.entity.as_deref() {
        Some(entity) => {
            // The contract with the page: what it calls an encrypted draft is one. Anything
            // else (a signed-only or plain entity) would keep the text readable on the server.
            if !matches!(secure::classify(entity), Sealed::Encrypted) {
                return Err(not_saved(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "the browser did not produce an encrypted draft",
                ));
            }
            Content::Encrypted(entity)
        }
        None => {
            let kept = kept_attachments(&state, user, &s)
                .await
                .map_err(|e| failed(e, &not_saved))?;
            s.form.attachments = kept.into_iter().chain(s.uploads.drain(..)).collect();
            Content::Plain
        }
    };
    let encrypted = matches!(content, Content::Encrypted(_));
    let saved = save_draft(&state, user, &s.form, &s.from, s.draft_uid, content)
        .await
        .map_err(|e| failed(e, &not_saved))?;
    let kept = if encrypted {
        Vec::new()
    } else {
        read::view(&saved.raw, false, None)
            .map(|view| kept_list(&view.attachments))
            .unwrap_or_default()
    };
    let kept: Vec<serde_json::Value> = kept
        .into_iter()
        .map(|k| {
            serde_json::json!({
                "part": k.part,
                "name": k.name,
                "content_type": k.content_type,
                "size": k.size,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "draft_uid": saved.uid,
        "folder": saved.folder,
        "saved_at": now(),
        "encrypted": encrypted,
        "kept": kept,
    }))
    .into_response())
}

/// A failed save, worded for the page: the mail server's trouble as such, a form that cannot
/// become a message as the reason.
fn failed(e: PageError, not_saved: &dyn Fn(StatusCode, &str) -> ApiError) -> ApiError {
    match e {
        PageError::BadRequest(why) => not_saved(StatusCode::UNPROCESSABLE_ENTITY, &why),
        PageError::NotFound => not_saved(
            StatusCode::NOT_FOUND,
            "an attachment it keeps is no longer in its message",
        ),
        PageError::SignIn { .. } => {
            api_error(StatusCode::UNAUTHORIZED, "Please sign in again.".into())
        }
        PageError::MailServer(imap::ImapError::Timeout) => not_saved(
            StatusCode::SERVICE_UNAVAILABLE,
            "your mailbox is not answering right now",
        ),
        other => {
            tracing::warn!("saving a draft failed: {other}");
            not_saved(
                StatusCode::SERVICE_UNAVAILABLE,
                "your mailbox cannot be reached right now",
            )
        }
    }
}
