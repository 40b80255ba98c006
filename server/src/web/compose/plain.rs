//! `POST /compose`: sending a message the server can read (or saving it as a draft), and the
//! pages that say what came of it.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::db::now;
use crate::imap;
use crate::mail::compose;
use crate::mail::{ids, read};
use crate::policy;
use crate::sessions::SignedIn;
use crate::web::Shared;
use crate::web::auth::User;
use crate::web::deliver::{Outcome, Part, deliver};
use crate::web::drafts::{self, Content, save_draft};
use crate::web::errors::PageError;
use crate::web::identities as mine;
use crate::web::views::enc;

use super::after_send::{SENT_LOCATION, remove_draft, send_again_id};
use super::checks::{expand_lists, policy_refusal};
use super::form::{
    BAD_SEND_ID, Submitted, domain_of, kept_attachments, kept_list, read_form, sender,
};
use super::page::{blank_page, from_choices};

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

pub(super) async fn send(
    state: &Shared,
    user: &SignedIn,
    s: Submitted,
) -> Result<Response, PageError> {
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
            if let Ok(view) = read::view(&saved.raw, false, None) {
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
