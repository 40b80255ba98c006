//! The user's own S/MIME pages: Digital IDs (the browser's key store; the server only serves
//! the page, the keys never reach it) and Options (signing and encryption defaults).

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::views::{self, Chrome, KeysPage, OptionsPage};
use crate::imap;
use crate::options::{self, UserOptions};

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

async fn chrome(state: &Shared, user: &User, notice: Option<&str>) -> Result<Chrome, PageError> {
    let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
    Ok(Chrome::new(
        &user.0.email,
        &user.0.csrf_token,
        &folders,
        "",
        views::notice_text(notice),
    )
    .with_policy(&state.policy.current()))
}

pub async fn keys_page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let chrome = chrome(&state, &user, q.notice.as_deref()).await?;
    let policy = serde_json::to_string(&state.policy.current().for_client())?;
    Ok(KeysPage { chrome, policy }.into_response())
}

pub async fn options_page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let chrome = chrome(&state, &user, q.notice.as_deref()).await?;
    let options = options::load(&state.db, &user.0.email).await?;
    let policy = state.policy.current();
    Ok(OptionsPage {
        chrome,
        options,
        always_sign: policy.always_sign,
        always_encrypt: policy.always_encrypt,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct OptionsForm {
    csrf: String,
    /// Check boxes: present ("on") when checked.
    sign: Option<String>,
    encrypt: Option<String>,
    formatted: Option<String>,
}

pub async fn save_options(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<OptionsForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    // A box the policy forces is disabled, so the browser leaves it out of the form; keep the
    // user's own earlier choice for the day the policy is lifted.
    let policy = state.policy.current();
    let before = options::load(&state.db, &user.0.email).await?;
    let chosen = UserOptions {
        sign_by_default: if policy.always_sign {
            before.sign_by_default
        } else {
            form.sign.is_some()
        },
        encrypt_by_default: if policy.always_encrypt {
            before.encrypt_by_default
        } else {
            form.encrypt.is_some()
        },
        conversations: before.conversations,
        compose_formatted: form.formatted.is_some(),
    };
    options::save(&state.db, &user.0.email, chosen).await?;
    Ok(Redirect::to("/options?notice=options").into_response())
}
