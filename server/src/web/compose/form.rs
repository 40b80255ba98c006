//! What a posted compose form says: its fields and files, the attachments it keeps from a draft
//! or the original, and the From it asks for.

use axum::extract::Multipart;
use axum::http::StatusCode;

use crate::identities;
use crate::imap;
use crate::mail::compose::{Attachment, Composition, Recipient};
use crate::mail::secure;
use crate::mail::{ids, read};
use crate::sessions::SignedIn;
use crate::web::Shared;
use crate::web::errors::PageError;
use crate::web::identities::Mine;
use crate::web::views::{self, KeptAttachment};

/// The attachments of a source message, offered as checked boxes on the form.
pub(in crate::web) fn kept_list(attachments: &[read::AttachmentInfo]) -> Vec<KeptAttachment> {
    attachments
        .iter()
        .map(|a| KeptAttachment {
            part: a.part,
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: views::format_size(a.size),
        })
        .collect()
}

/// The send id becomes our Message-ID: one that is missing or not ours sends nothing.
pub(in crate::web) const BAD_SEND_ID: &str =
    "The form's send id is missing or damaged, so nothing was sent; reload the page and try again.";

/// The compose form as posted.
#[derive(Default)]
pub(in crate::web) struct Submitted {
    pub(in crate::web) csrf: String,
    pub(in crate::web) action: String,
    pub(in crate::web) send_id: String,
    pub(in crate::web) form: Composition,
    pub(in crate::web) draft_uid: Option<u32>,
    pub(in crate::web) source_folder: String,
    pub(in crate::web) source_uid: Option<u32>,
    pub(in crate::web) keep_parts: Vec<usize>,
    pub(in crate::web) uploads: Vec<Attachment>,
    /// The signed and/or encrypted MIME entity the browser built (sealed sends only).
    pub(in crate::web) entity: Option<Vec<u8>>,
    /// Extra sealed messages for Bcc recipients (`fork_to` addresses, `fork_entity` bytes, in
    /// pairs), when encrypted mail is split so no RecipientInfo reveals a Bcc recipient.
    pub(in crate::web) fork_to: Vec<String>,
    pub(in crate::web) fork_entities: Vec<Vec<u8>>,
    /// The page was opened from an encrypted draft (its script clears this once it has
    /// decrypted it): a plain save would replace the draft with an empty one.
    pub(in crate::web) sealed_draft: bool,
    /// The From address chosen (empty: the sign-in address).
    pub(in crate::web) from: String,
}

pub(in crate::web) async fn read_form(mut multipart: Multipart) -> Result<Submitted, PageError> {
    let mut s = Submitted::default();
    let (mut formatted, mut body_html) = (false, None);
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::TooLarge
        } else {
            PageError::BadRequest(format!("The form could not be read: {e}"))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "entity" {
            s.entity = Some(field.bytes().await.map_err(bad)?.to_vec());
            continue;
        }
        if name == "fork_entity" {
            s.fork_entities
                .push(field.bytes().await.map_err(bad)?.to_vec());
            continue;
        }
        if name == "attachments" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let content_type =
                crate::mail::media_type(field.content_type().unwrap_or("application/octet-stream"));
            let bytes = field.bytes().await.map_err(bad)?;
            if !file_name.is_empty() {
                s.uploads.push(Attachment {
                    name: file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "csrf" => s.csrf = value,
            "action" => s.action = value,
            "send_id" => s.send_id = value,
            "to" => s.form.to = value,
            "cc" => s.form.cc = value,
            "bcc" => s.form.bcc = value,
            "subject" => s.form.subject = value,
            "body" => s.form.body = value,
            "in_reply_to" => s.form.in_reply_to = ids::message_id(&value),
            "references" => s.form.references = ids::message_ids(value.split_whitespace()),
            "draft_uid" => s.draft_uid = value.parse().ok(),
            "source_folder" => s.source_folder = value,
            "source_uid" => s.source_uid = value.parse().ok(),
            "keep_part" => s.keep_parts.extend(value.parse::<usize>().ok()),
            "fork_to" => s.fork_to.push(value),
            "sealed_draft" => s.sealed_draft = !value.is_empty(),
            "from" => s.from = value,
            "format" => formatted = value == "html",
            "body_html" => body_html = Some(value),
            _ => {}
        }
    }
    // The editor's text counts only when the user wrote in it: without scripts the page posts
    // just the plain text area.
    s.form.html = body_html.filter(|_| formatted);
    Ok(s)
}

pub(in crate::web) async fn kept_attachments(
    state: &Shared,
    user: &SignedIn,
    s: &Submitted,
) -> Result<Vec<Attachment>, PageError> {
    let Some(uid) = s
        .source_uid
        .filter(|_| !s.keep_parts.is_empty() && !s.source_folder.is_empty())
    else {
        return Ok(Vec::new());
    };
    let raw = with_imap!(state, user, |conn| {
        imap::mailbox::fetch(conn, &s.source_folder, uid, false).await
    })?;
    let sealed = secure::classify(&raw);
    s.keep_parts
        .iter()
        .map(|&part| {
            read::part_content(sealed.display(&raw), part)
                .map(|p| Attachment {
                    name: p.name,
                    content_type: crate::mail::media_type(&p.content_type),
                    bytes: p.bytes,
                })
                .ok_or(PageError::NotFound)
        })
        .collect()
}

/// The From of a message: the identity the form chose (the sign-in address when it names
/// none), if the user may send as it.
pub(in crate::web) fn sender(mine: &Mine, typed: &str) -> Result<Recipient, identities::Refusal> {
    let typed = match typed.trim() {
        "" => mine.primary(),
        typed => typed,
    };
    let identity = mine.sendable(typed)?;
    Ok(Recipient {
        name: Some(identity.display_name.clone()).filter(|n| !n.is_empty()),
        email: identity.address.clone(),
    })
}

pub(in crate::web) fn domain_of(email: &str) -> &str {
    email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost")
}
