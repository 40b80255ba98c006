//! Writing and sending mail.
//!
//! The rule this module keeps: a message the user sent is delivered and filed in Sent exactly
//! once, or the user is told it was not sent and the draft is in Drafts. See `outbox` for how a
//! retried send stays single.

use axum::Json;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::api::{ApiError, ApiUser, api_error};
use super::auth::{User, random_token};
use super::deliver::{Outcome, Part, deliver};
use super::drafts::{self, Content, save_draft};
use super::errors::{PageError, TOO_LARGE};
use super::identities::{self as mine, Mine};
use super::views::{self, Chrome, ComposePage, FromChoice, KeptAttachment, enc};
use super::{FolderRole, Shared};
use crate::db::now;
use crate::identities::{self, Identity};
use crate::imap::{self, Folder};
use crate::mail::compose::{self, Attachment, Composition, Recipient};
use crate::mail::secure::{self, Sealed};
use crate::mail::{ids, read};
use crate::policy;
use crate::sessions::SignedIn;
use pki::Usage;

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
        let mut original = read::view(sealed.display(&raw), false, &|_| String::new())
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
fn from_choices(list: &[Identity], selected: &str) -> Vec<FromChoice> {
    list.iter()
        .map(|i| FromChoice {
            address: i.address.clone(),
            from_text: i.from_text(),
            signature: i.signature.clone(),
            selected: i.address.eq_ignore_ascii_case(selected),
        })
        .collect()
}

fn blank_page(
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

/// The attachments of a source message, offered as checked boxes on the form.
pub(super) fn kept_list(attachments: &[read::AttachmentInfo]) -> Vec<KeptAttachment> {
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
const BAD_SEND_ID: &str =
    "The form's send id is missing or damaged, so nothing was sent; reload the page and try again.";

/// The compose form as posted.
#[derive(Default)]
pub(super) struct Submitted {
    pub(super) csrf: String,
    pub(super) action: String,
    pub(super) send_id: String,
    pub(super) form: Composition,
    pub(super) draft_uid: Option<u32>,
    pub(super) source_folder: String,
    pub(super) source_uid: Option<u32>,
    pub(super) keep_parts: Vec<usize>,
    pub(super) uploads: Vec<Attachment>,
    /// The signed and/or encrypted MIME entity the browser built (sealed sends only).
    pub(super) entity: Option<Vec<u8>>,
    /// Extra sealed messages for Bcc recipients (`fork_to` addresses, `fork_entity` bytes, in
    /// pairs), when encrypted mail is split so no RecipientInfo reveals a Bcc recipient.
    pub(super) fork_to: Vec<String>,
    pub(super) fork_entities: Vec<Vec<u8>>,
    /// The page was opened from an encrypted draft (its script clears this once it has
    /// decrypted it): a plain save would replace the draft with an empty one.
    pub(super) sealed_draft: bool,
    /// The From address chosen (empty: the sign-in address).
    pub(super) from: String,
}

pub(super) async fn read_form(mut multipart: Multipart) -> Result<Submitted, PageError> {
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

pub async fn submit(
    State(state): State<Shared>,
    user: User,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let mut submitted = read_form(multipart).await?;
    user.check_token(&submitted.csrf)?;
    if !ids::is_send_id(&submitted.send_id) {
        return Err(PageError::BadRequest(BAD_SEND_ID.into()));
    }
    let kept = kept_attachments(&state, &user.0, &submitted).await?;
    submitted.form.attachments = kept
        .into_iter()
        .chain(std::mem::take(&mut submitted.uploads))
        .collect();
    match submitted.action.as_str() {
        "save" if submitted.sealed_draft => {
            Err(PageError::BadRequest(drafts::UNOPENED_ENCRYPTED.into()))
        }
        "save" => {
            submitted.form.send_id = Some(submitted.send_id.clone());
            let saved = save_draft(
                &state,
                &user.0,
                &submitted.form,
                &submitted.from,
                submitted.draft_uid,
                Content::Plain,
            )
            .await?;
            let to = format!(
                "/compose?mode=draft&folder={}&uid={}&notice=saved",
                enc(&saved.folder),
                saved.uid
            );
            Ok(Redirect::to(&to).into_response())
        }
        "send" => send(&state, &user.0, submitted).await,
        "send-new" => {
            submitted.form.send_id = Some(submitted.send_id.clone());
            submitted.send_id = send_again_id(&submitted.send_id);
            send(&state, &user.0, submitted).await
        }
        other => Err(PageError::BadRequest(format!(
            "Unknown action \"{other}\"."
        ))),
    }
}

pub(super) async fn kept_attachments(
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
pub(super) fn sender(mine: &Mine, typed: &str) -> Result<Recipient, identities::Refusal> {
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

pub(super) fn domain_of(email: &str) -> &str {
    email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost")
}

async fn send(state: &Shared, user: &SignedIn, s: Submitted) -> Result<Response, PageError> {
    // A plain message is neither signed nor encrypted: refused outright when the policy forces
    // either (the browser never posts one then; a modified one might).
    if let Err(violation) = policy::check_plain(&state.policy.current()) {
        let why = policy_refusal(state, user, violation);
        return not_sent(state, user, s, StatusCode::UNPROCESSABLE_ENTITY, why).await;
    }
    let identities = mine::load(state, user).await?;
    let from = match sender(&identities, &s.from) {
        Ok(from) => from,
        Err(refusal) => {
            let why = refusal.to_string();
            return not_sent(state, user, s, StatusCode::UNPROCESSABLE_ENTITY, why).await;
        }
    };
    // The Message-ID is derived from the send id, so every retry of this send is the same message.
    let message_id = format!("{}@{}", s.send_id, domain_of(&user.email));
    let draft = match s.form.validate(from, message_id, now()) {
        Ok(draft) => draft,
        Err(e) => {
            let why = e.to_string();
            return not_sent(state, user, s, StatusCode::UNPROCESSABLE_ENTITY, why).await;
        }
    };
    // The limit counts people, so distribution lists are expanded first, as for the lookup.
    if let Err(why) = expand_lists(state, user, &draft.envelope_recipients()).await {
        return not_sent(state, user, s, StatusCode::UNPROCESSABLE_ENTITY, why).await;
    }
    let part = Part {
        send_id: &s.send_id,
        recipients: draft.envelope_recipients(),
        file_in_sent: true,
    };
    match deliver(state, user, &part, &draft, |copy| {
        compose::build(&draft, copy)
    })
    .await?
    {
        Outcome::Sent => {
            remove_draft(state, user, &s).await;
            Ok(sent_redirect())
        }
        Outcome::NotSent(status, why) => not_sent(state, user, s, status, why).await,
        Outcome::Uncertain(why) => may_have_been_sent(state, user, s, why).await,
    }
}

/// "Send again as a new message", after a send whose outcome was uncertain: a send id of its
/// own, derived from the first so a double click still sends once.
fn send_again_id(send_id: &str) -> String {
    format!("{send_id}-again")
}

/// After a send, the draft it came from goes, with any copy the page's autosave wrote of the
/// same form meanwhile (they carry its send id). A failure only costs a stale draft.
async fn remove_draft(state: &Shared, user: &SignedIn, s: &Submitted) {
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

/// `POST /compose/sealed`: a message whose body the browser signed and/or encrypted (the
/// `entity` field) with the compose form's header fields. Answers JSON — `{"location": …}` once
/// sent, `{"error": …}` when not. Nothing is saved as a draft on failure: the server cannot
/// read an encrypted body, so the page keeps the message and the user decides.
pub async fn submit_sealed(
    State(state): State<Shared>,
    ApiUser(user): ApiUser,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let mut s = read_form(multipart).await.map_err(|e| match e {
        PageError::TooLarge => api_error(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE.into()),
        other => api_error(StatusCode::BAD_REQUEST, other.to_string()),
    })?;
    if s.action == "send-new" {
        s.form.send_id = Some(s.send_id.clone());
        s.send_id = send_again_id(&s.send_id);
    }
    if !ids::is_send_id(&s.send_id) {
        return Err(api_error(StatusCode::BAD_REQUEST, BAD_SEND_ID.into()));
    }
    let Some(entity) = s.entity.as_deref() else {
        return Err(not_sent_json(
            StatusCode::BAD_REQUEST,
            "the signed or encrypted message is missing",
        ));
    };
    if s.fork_to.len() != s.fork_entities.len() {
        return Err(not_sent_json(
            StatusCode::BAD_REQUEST,
            "the messages for Bcc recipients came without their recipients",
        ));
    }
    let refused = |why: String| not_sent_json(StatusCode::UNPROCESSABLE_ENTITY, &why);
    let user = &user.0;
    let identities = mine::load(&state, user)
        .await
        .map_err(|e| not_sent_json(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?;
    let from = sender(&identities, &s.from).map_err(|e| refused(e.to_string()))?;
    let own: Vec<String> = identities.list.iter().map(|i| i.address.clone()).collect();
    let who = policy::Sender {
        from: &from.email,
        own: &own,
    };
    let message_id = format!("{}@{}", s.send_id, domain_of(&user.email));
    let draft = s
        .form
        .validate(from.clone(), message_id, now())
        .map_err(|e| refused(e.to_string()))?;
    // Once for the whole send, however many messages it is split into.
    expand_lists(&state, user, &draft.envelope_recipients())
        .await
        .map_err(refused)?;

    // Policy is enforced here again: the page follows it, but a modified page must not get
    // around it.
    let policy = state.policy.current();
    let shape = check_sealed(&state, user, &policy, who, entity).await?;
    let mut forks: Vec<Vec<String>> = Vec::with_capacity(s.fork_to.len());
    for to in &s.fork_to {
        let parsed = compose::parse_recipients(to).map_err(|e| refused(e.to_string()))?;
        forks.push(parsed.into_iter().map(|r| r.email).collect());
    }
    let mut bcc: Vec<String> = Vec::new();
    for r in &draft.bcc {
        if !bcc.iter().any(|b| b.eq_ignore_ascii_case(&r.email)) {
            bcc.push(r.email.clone());
        }
    }
    let encrypted = shape.encryption.is_some();
    let mode = policy.bcc_mode();
    policy::check_split(mode, encrypted, &bcc, &forks)
        .map_err(|v| refused(policy_refusal(&state, user, v)))?;
    let mut fork_shapes = Vec::with_capacity(forks.len());
    for fork_entity in &s.fork_entities {
        fork_shapes.push(check_sealed(&state, user, &policy, who, fork_entity).await?);
    }
    if !forks.is_empty() {
        // No message may name a Bcc recipient it does not go to. (The sender is named in every
        // message, to keep Sent readable; Bcc to oneself reveals nothing.)
        for address in bcc.iter().filter(|a| !a.eq_ignore_ascii_case(&user.email)) {
            let hidden = known_certificates(&state, user, address).await;
            let in_fork = |f: &Vec<String>| f.iter().any(|a| a.eq_ignore_ascii_case(address));
            let leaks = policy::reveals(&shape, &hidden)
                || forks
                    .iter()
                    .zip(&fork_shapes)
                    .any(|(f, shape)| !in_fork(f) && policy::reveals(shape, &hidden));
            if leaks {
                let violation = policy::Violation::BccRevealed(address.clone());
                return Err(refused(policy_refusal(&state, user, violation)));
            }
        }
    }

    // Under AlwaysEncrypt every recipient must be able to open what reaches them (the page
    // offers no "encrypt anyway" then): each message must name a certificate of each of its
    // recipients.
    if policy.always_encrypt {
        let bcc_split = !forks.is_empty();
        let mut parts: Vec<(&policy::Shape, Vec<String>)> = vec![(
            &shape,
            draft
                .envelope_recipients()
                .into_iter()
                .filter(|r| !bcc_split || !bcc.iter().any(|b| b.eq_ignore_ascii_case(r)))
                .collect(),
        )];
        parts.extend(fork_shapes.iter().zip(forks.iter().cloned()));
        for (part, recipients) in parts {
            // A distribution list has no certificate; its members must each be able to open it.
            let people = expand_lists(&state, user, &recipients)
                .await
                .map_err(refused)?;
            for address in people {
                let theirs = known_certificates(&state, user, &address).await;
                if !policy::reveals(part, &theirs) {
                    let violation = policy::Violation::NotForRecipient(address);
                    return Err(refused(policy_refusal(&state, user, violation)));
                }
            }
        }
    }

    // The message for To and Cc (and everyone, when nothing was split) is the Sent copy; each
    // split-off message has its own outbox id, so a retry sends only what did not go out.
    let visible: Vec<String> = if forks.is_empty() {
        draft.envelope_recipients()
    } else {
        draft
            .envelope_recipients()
            .into_iter()
            .filter(|r| !bcc.iter().any(|b| b.eq_ignore_ascii_case(r)))
            .collect()
    };
    let main = Part {
        send_id: &s.send_id,
        recipients: visible,
        file_in_sent: true,
    };
    let unavailable = |e: PageError| not_sent_json(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    let outcome = deliver(&state, user, &main, &draft, |copy| {
        compose::build_sealed(&draft, copy, entity)
    })
    .await
    .map_err(unavailable)?;
    match outcome {
        Outcome::Sent => {}
        Outcome::NotSent(status, why) => return Err(not_sent_json(status, &why)),
        Outcome::Uncertain(why) => return Ok(uncertain_json(&why)),
    }
    for (to, fork_entity) in forks.iter().zip(&s.fork_entities) {
        let send_id = fork_send_id(&s.send_id, to);
        let part = Part {
            send_id: &send_id,
            recipients: to.clone(),
            file_in_sent: false,
        };
        let outcome = deliver(&state, user, &part, &draft, |copy| {
            compose::build_sealed(&draft, copy, fork_entity)
        })
        .await
        .map_err(unavailable)?;
        if let Outcome::Uncertain(why) = outcome {
            return Ok(uncertain_json(&format!(
                "It went to the To and Cc recipients, but for {}: {why}",
                to.join(", ")
            )));
        }
        if let Outcome::NotSent(status, why) = outcome {
            let why = format!(
                "it went to the To and Cc recipients, but not yet to {} ({why}); sending again sends it only where it has not gone",
                to.join(", ")
            );
            return Err(not_sent_json(status, &why));
        }
    }
    remove_draft(&state, user, &s).await;
    Ok(Json(serde_json::json!({ "location": SENT_LOCATION })).into_response())
}

/// `addresses` with distribution lists replaced by their members (nested lists followed), as
/// the lookup endpoint expands them; an error says the user's recipient limit was passed, which
/// is how every send checks that limit.
async fn expand_lists(
    state: &Shared,
    user: &SignedIn,
    addresses: &[String],
) -> Result<Vec<String>, String> {
    let checker = state.checker();
    let settings = &checker.settings;
    let directory = state.directory.clone();
    let limit = settings.recipient_limit_for(&user.email);
    let expanded = crate::directory::lookup::expand(
        addresses,
        |address| {
            let directory = directory.clone();
            async move { directory.members(&address, limit).await }
        },
        limit,
        std::time::Duration::from_secs(settings.dl_expansion_timeout_seconds),
    )
    .await
    .map_err(|e| e.to_string().trim_end_matches('.').to_string())?;
    Ok(expanded.recipients.into_iter().map(|r| r.address).collect())
}

/// The outbox id of the message split off for `to`: named by who it goes to, not by its
/// position, so a retry with a changed Bcc list cannot mistake one recipient's copy for
/// another's.
fn fork_send_id(send_id: &str, to: &[String]) -> String {
    use sha2::Digest;
    let mut addresses: Vec<String> = to.iter().map(|a| a.to_ascii_lowercase()).collect();
    addresses.sort();
    addresses.dedup();
    let digest = sha2::Sha256::digest(addresses.join(",").as_bytes());
    let short = send_rules::hex(&digest[..8]);
    format!("{send_id}-bcc-{short}")
}

/// One sealed message against the policy, then its outer signer's certificate against the
/// trust store: the signer must be this user, with a certificate valid now.
async fn check_sealed(
    state: &Shared,
    user: &SignedIn,
    policy: &policy::SmimePolicy,
    who: policy::Sender<'_>,
    entity: &[u8],
) -> Result<policy::Shape, ApiError> {
    let refused = |why: &str| not_sent_json(StatusCode::UNPROCESSABLE_ENTITY, why);
    if !matches!(
        smime::mime::parse_smime(entity),
        Ok(smime::mime::SmimeContent::ClearSigned { .. }
            | smime::mime::SmimeContent::Opaque { .. })
    ) {
        count_refusal(state, user, policy::Violation::Malformed.label());
        return Err(refused(
            "the browser did not produce a signed or encrypted message",
        ));
    }
    let shape = policy::check_submission(policy, who, entity)
        .map_err(|v| refused(&policy_refusal(state, user, v)))?;
    for signer in &shape.outer_signers {
        let Ok(cert) = pki::Certificate::from_der(signer.der()) else {
            count_refusal(state, user, "certificate_unusable");
            return Err(refused("the certificate you signed with cannot be read"));
        };
        // check_submission made sure it names one of the user's addresses.
        let address = who
            .address_in(signer)
            .unwrap_or_else(|| who.from.to_string());
        let checker = state.checker();
        let checked = checker
            .check(&cert, &[], Usage::Sign, Some(&address), now())
            .await;
        if !checked.usable(checker.settings.check_crl) {
            count_refusal(state, user, "certificate_unusable");
            return Err(refused(&format!(
                "the digital ID you signed with cannot be used: {}",
                checked.reason()
            )));
        }
    }
    Ok(shape)
}

/// Counts and logs a send refused by policy, and words the reason for the user. The log and
/// the metric get a fixed word only: the user's words may name a Bcc recipient.
fn policy_refusal(state: &Shared, user: &SignedIn, violation: policy::Violation) -> String {
    count_refusal(state, user, violation.label());
    violation.to_string()
}

fn count_refusal(state: &Shared, user: &SignedIn, reason: &'static str) {
    state.metrics.policy_refusal(reason);
    tracing::info!(user = %user.email, reason, "send refused by the S/MIME policy");
}

/// Every certificate the server knows for a recipient, as the engine's type.
async fn known_certificates(
    state: &Shared,
    user: &SignedIn,
    address: &str,
) -> Vec<smime::Certificate> {
    crate::directory::lookup::known_certificates(&state.directory, &user.email, address)
        .await
        .iter()
        .filter_map(|c| smime::Certificate::from_der(c.der()).ok())
        .collect()
}

fn not_sent_json(status: StatusCode, why: &str) -> ApiError {
    let why = why.trim_end_matches('.');
    api_error(
        status,
        format!(
            "Your message was not sent: {why}. It is still on this page: send it again, or save it as a draft."
        ),
    )
}

/// A sealed send that may have gone out: the page keeps the message and offers "Send again as a
/// new message".
fn uncertain_json(why: &str) -> Response {
    let body = serde_json::json!({ "error": why, "uncertain": true });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

const SENT_LOCATION: &str = "/mail?folder=INBOX&notice=sent";

fn sent_redirect() -> Response {
    Redirect::to(SENT_LOCATION).into_response()
}

/// The message was not sent: keep it as a draft and show the form again with the reason.
async fn not_sent(
    state: &Shared,
    user: &SignedIn,
    s: Submitted,
    status: StatusCode,
    why: String,
) -> Result<Response, PageError> {
    unsent_page(state, user, s, status, why, false).await
}

/// The mail server may have the message (see `deliver::UNCERTAIN`): the form comes back as for
/// a send that failed, but worded so, and with "Send again as a new message".
async fn may_have_been_sent(
    state: &Shared,
    user: &SignedIn,
    s: Submitted,
    why: String,
) -> Result<Response, PageError> {
    unsent_page(state, user, s, StatusCode::CONFLICT, why, true).await
}

async fn unsent_page(
    state: &Shared,
    user: &SignedIn,
    s: Submitted,
    status: StatusCode,
    why: String,
    uncertain: bool,
) -> Result<Response, PageError> {
    let why = if why.ends_with('.') {
        why
    } else {
        format!("{why}.")
    };
    // The draft keeps this send's id, so sending it from Drafts cannot send it twice.
    let mut form = s.form.clone();
    form.send_id = Some(s.send_id.clone());
    let saved = if s.sealed_draft {
        Err(PageError::BadRequest(drafts::UNOPENED_ENCRYPTED.into()))
    } else {
        save_draft(state, user, &form, &s.from, s.draft_uid, Content::Plain).await
    };
    let folders =
        with_imap!(state, user, |conn| { imap::mailbox::folders(conn).await }).unwrap_or_default();
    let mut page = blank_page(state, user, &folders, None);
    page.heading = if uncertain {
        "Message may have been sent"
    } else {
        "Message not sent"
    };
    page.uncertain = uncertain;
    if let Ok(identities) = mine::load(state, user).await {
        let chosen = match s.from.trim() {
            "" => identities.default().address.clone(),
            typed => typed.to_ascii_lowercase(),
        };
        page.from_choices = from_choices(&identities.list, &chosen);
    }
    page.to = s.form.to.clone();
    page.cc = s.form.cc.clone();
    page.bcc = s.form.bcc.clone();
    page.subject = s.form.subject.clone();
    page.body = s.form.body.clone();
    if let Some(html) = &s.form.html {
        page.formatted = true;
        page.body_html = rich_text::sanitize(html);
    }
    page.in_reply_to = s.form.in_reply_to.clone().unwrap_or_default();
    page.references = s.form.references.join(" ");
    // The same send id: if the first attempt did go out after all, a retry cannot send it twice.
    page.send_id = s.send_id.clone();
    match saved {
        Ok(saved) => {
            page.error = Some(if uncertain {
                format!("{why} A copy has been saved in Drafts.")
            } else {
                format!("Your message was not sent: {why} It has been saved in Drafts.")
            });
            page.draft_uid = Some(saved.uid);
            page.source_folder = saved.folder;
            page.source_uid = Some(saved.uid);
            if let Ok(view) = read::view(&saved.raw, false, &|_| String::new()) {
                page.kept = kept_list(&view.attachments);
            }
        }
        Err(e) => {
            tracing::warn!(user = %user.email, "saving the unsent draft failed: {e}");
            let not_sent = if uncertain {
                why
            } else {
                format!("Your message was not sent: {why}")
            };
            page.error = Some(format!(
                "{not_sent} It could not be saved in Drafts either, so keep this page open; \
                 attached files must be added again."
            ));
            page.draft_uid = s.draft_uid;
        }
    }
    Ok((status, page).into_response())
}
