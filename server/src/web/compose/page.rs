//! The compose page: a new message, a reply, a forward, or a draft reopened, with the From
//! choices and the original quoted.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::identities::{self, Identity};
use crate::imap::{self, Folder};
use crate::mail::compose;
use crate::mail::secure::{self, Sealed};
use crate::mail::{ids, read};
use crate::sessions::SignedIn;
use crate::web::Shared;
use crate::web::auth::{User, random_token};
use crate::web::errors::PageError;
use crate::web::identities as mine;
use crate::web::views::{self, Chrome, ComposePage, FromChoice, enc};

use super::form::kept_list;

#[derive(Deserialize)]
pub struct ComposeQuery {
    /// `reply`, `all`, `forward` or `draft`, with `folder` and `uid` naming the message.
    mode: Option<String>,
    folder: Option<String>,
    uid: Option<u32>,
    notice: Option<String>,
}

pub async fn compose_page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<ComposeQuery>,
) -> Result<Response, PageError> {
    let source = match (&q.folder, q.uid) {
        (Some(folder), Some(uid)) if q.mode.is_some() => Some((folder.clone(), uid)),
        _ => None,
    };
    let (folders, raw) = with_imap!(state, &user.0, |s| {
        let folders = imap::mailbox::folders(s).await?;
        let raw = match &source {
            Some((folder, uid)) => Some(imap::mailbox::fetch(s, folder, *uid, false).await?),
            None => None,
        };
        Ok((folders, raw))
    })?;
    let mut page = blank_page(
        &state,
        &user.0,
        &folders,
        views::notice_text(q.notice.as_deref()),
    );
    let identities = mine::load(&state, &user.0).await?;
    let mut chosen = identities.default().clone();
    let defaults = crate::options::load(&state.db, &user.0.email).await?;
    let policy = state.policy.current();
    page.sign = defaults.sign_by_default || policy.always_sign;
    page.encrypt = defaults.encrypt_by_default || policy.always_encrypt;
    page.sign_locked = policy.always_sign;
    page.encrypt_locked = policy.always_encrypt;
    page.policy = serde_json::to_string(&policy.for_client())
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    if let (Some(raw), Some((folder, uid)), Some(mode)) = (raw, source, q.mode.as_deref()) {
        // Quote what the reader saw: the signed content of signed mail. Encrypted mail cannot be
        // quoted here (the server cannot read it), and its ciphertext is not an attachment.
        let sealed = secure::classify(&raw);
        let mut original = read::view(sealed.display(&raw), false, None)
            .map_err(|e| PageError::BadRequest(e.to_string()))?;
        let encrypted = matches!(sealed, Sealed::Encrypted);
        if encrypted {
            original.plain_text = "[The original message is encrypted and is not quoted.]".into();
            original.formatted = None;
            original.attachments.clear();
        }
        if let Some(from) = prefill(&mut page, &identities.list, mode, &original, &folder, uid) {
            chosen = from.clone();
        }
        if encrypted && mode == "draft" {
            // The header fields are filled here; the body and attachments only the browser can
            // fill, once it has decrypted the draft with the user's key. It stays encrypted.
            page.body.clear();
            page.body_html.clear();
            page.encrypt = true;
            page.sealed_draft_href =
                Some(format!("/message/raw?folder={}&uid={}", enc(&folder), uid));
        }
        let signature = identities::signature_block(&chosen.signature);
        if mode == "draft" {
            // A draft reopens in the format it was saved in.
            page.formatted = original.formatted.is_some();
        } else {
            page.formatted = defaults.compose_formatted;
            page.body_html = rich_text::from_plain_text(&signature) + &page.body_html;
            page.body = signature + &page.body;
        }
    } else {
        page.formatted = defaults.compose_formatted;
        page.body = identities::signature_block(&chosen.signature);
        page.body_html = rich_text::from_plain_text(&page.body);
    }
    page.from_choices = from_choices(&identities.list, &chosen.address);
    Ok(page.into_response())
}

/// The From addresses the page offers, `selected` chosen.
pub(super) fn from_choices(list: &[Identity], selected: &str) -> Vec<FromChoice> {
    list.iter()
        .map(|i| FromChoice {
            address: i.address.clone(),
            from_text: i.from_text(),
            signature: i.signature.clone(),
            selected: i.address.eq_ignore_ascii_case(selected),
        })
        .collect()
}

pub(super) fn blank_page(
    state: &Shared,
    user: &SignedIn,
    folders: &[Folder],
    notice: Option<&'static str>,
) -> ComposePage {
    ComposePage {
        chrome: Chrome::new(&user.email, &user.csrf_token, folders, "", notice)
            .with_policy(&state.policy.current()),
        heading: "New message",
        error: None,
        to: String::new(),
        cc: String::new(),
        bcc: String::new(),
        subject: String::new(),
        body: String::new(),
        formatted: false,
        body_html: String::new(),
        send_id: random_token(),
        uncertain: false,
        max_upload_bytes: state.config.web.max_upload_bytes,
        draft_uid: None,
        source_folder: String::new(),
        source_uid: None,
        kept: Vec::new(),
        in_reply_to: String::new(),
        references: String::new(),
        sign: false,
        encrypt: false,
        sign_locked: false,
        encrypt_locked: false,
        policy: "{}".into(),
        sealed_draft_href: None,
        from_choices: Vec::new(),
    }
}

/// Fills the form from the message it answers, forwards or edits; says which of the user's
/// identities it is written from (the one the original was addressed to, or the draft's From).
fn prefill<'a>(
    page: &mut ComposePage,
    mine: &'a [Identity],
    mode: &str,
    original: &read::MessageView,
    folder: &str,
    uid: u32,
) -> Option<&'a Identity> {
    let is_mine = |a: &str| mine.iter().any(|i| i.address.eq_ignore_ascii_case(a));
    let not_me = |list: &[String], bare: &[String]| -> Vec<String> {
        list.iter()
            .zip(bare)
            .filter(|(_, b)| !is_mine(b))
            .map(|(full, _)| full.clone())
            .collect()
    };
    let addressed_to: Vec<String> = original
        .to_addresses
        .iter()
        .chain(&original.cc_addresses)
        .cloned()
        .collect();
    let attribution = format!(
        "On {}, {} wrote:",
        views::format_date(original.date),
        original.from.join(", ")
    );
    // The original's ids are the sender's text: only well-formed ones are carried into the
    // reply, where they become header fields.
    let threading = |page: &mut ComposePage| {
        if let Some(id) = original.message_id.as_deref().and_then(ids::message_id) {
            let mut refs = ids::message_ids(original.references.iter().map(String::as_str));
            refs.push(id.clone());
            page.in_reply_to = id;
            page.references = refs.join(" ");
        }
    };
    let keep_all = |page: &mut ComposePage| {
        page.source_folder = folder.to_string();
        page.source_uid = Some(uid);
        page.kept = kept_list(&original.attachments);
    };
    match mode {
        "reply" | "all" => {
            page.heading = if mode == "all" { "Reply all" } else { "Reply" };
            page.to = original.from.join(", ");
            if mode == "all" {
                let mut to = original.from.clone();
                to.extend(not_me(&original.to, &original.to_addresses));
                page.to = to.join(", ");
                page.cc = not_me(&original.cc, &original.cc_addresses).join(", ");
            }
            page.subject = compose::reply_subject(&original.subject);
            page.body = compose::quote(&attribution, &original.plain_text);
            page.body_html = rich_text::quote(&attribution, &formatted_original(original));
            threading(page);
            identities::for_reply(mine, &addressed_to)
        }
        "forward" => {
            page.heading = "Forward";
            page.subject = compose::forward_subject(&original.subject);
            page.body = format!(
                "\n\n---------- Forwarded message ----------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}\n\n{}",
                original.from.join(", "),
                views::format_date(original.date),
                original.subject,
                original.to.join(", "),
                original.plain_text
            );
            page.body_html = format!(
                "<p><br></p><p>{}</p>{}",
                rich_text::from_plain_text(&format!(
                    "---------- Forwarded message ----------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}",
                    original.from.join(", "),
                    views::format_date(original.date),
                    original.subject,
                    original.to.join(", "),
                )),
                rich_text::sanitize(&formatted_original(original))
            );
            keep_all(page);
            identities::for_reply(mine, &addressed_to)
        }
        "draft" => {
            page.heading = "Edit draft";
            page.to = original
                .typed_to
                .clone()
                .unwrap_or_else(|| original.to.join(", "));
            page.cc = original
                .typed_cc
                .clone()
                .unwrap_or_else(|| original.cc.join(", "));
            page.bcc = original
                .typed_bcc
                .clone()
                .unwrap_or_else(|| original.bcc.join(", "));
            page.subject = original.subject.clone();
            page.body = original
                .plain_text
                .trim_end_matches(['\r', '\n'])
                .to_string();
            page.body_html = rich_text::sanitize(&formatted_original(original));
            page.draft_uid = Some(uid);
            // The draft's own send id: if it was sent (or may have been) already, sending it
            // again is recognised as the same send.
            if let Some(id) = original.send_id.as_deref().filter(|id| ids::is_send_id(id)) {
                page.send_id = id.to_string();
            }
            let refs = ids::message_ids(original.references.iter().map(String::as_str));
            if let Some(parent) = refs.last() {
                page.in_reply_to = parent.clone();
                page.references = refs.join(" ");
            }
            keep_all(page);
            identities::for_reply(mine, &original.from_addresses)
        }
        _ => None,
    }
}

/// The original's formatted text, or its plain text as formatted text.
fn formatted_original(original: &read::MessageView) -> String {
    match &original.formatted {
        Some(html) => html.clone(),
        None => rich_text::from_plain_text(&original.plain_text),
    }
}
