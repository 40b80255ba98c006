//! The address book: the certificates the user added to contacts and those harvested from
//! signed mail, each with who it is for and when it runs out, and a way to remove it.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::views::{self, AddressBookPage, AddressBookRow, Chrome};
use crate::directory::UserSource;
use crate::directory::harvest::Kept;
use crate::imap;
use pki::Certificate;

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub async fn address_book(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
    let chrome = Chrome::new(
        &user.0.email,
        &user.0.csrf_token,
        &folders,
        "",
        views::notice_text(q.notice.as_deref()),
    )
    .with_policy(&state.policy.current());
    let kept = state
        .directory
        .address_book(&user.0.email)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let now = crate::db::now();
    let (harvested, contacts): (Vec<_>, Vec<_>) = kept
        .iter()
        .filter_map(|k| row(k, now))
        .partition(|r| r.source == UserSource::Harvested.as_str());
    Ok(AddressBookPage {
        chrome,
        contacts,
        harvested,
    }
    .into_response())
}

/// One certificate as the page shows it; a stored certificate that no longer parses is left
/// out (it could not be used either).
fn row(kept: &Kept, now: i64) -> Option<AddressBookRow> {
    let cert = Certificate::from_der(&kept.der).ok()?;
    Some(AddressBookRow {
        address: kept.address.clone(),
        subject: cert.subject(),
        issuer: cert.issuer(),
        expires: views::format_date(Some(cert.not_after())),
        expired: cert.not_after() < now,
        added: views::format_date(Some(kept.added_at)),
        source: kept.source.as_str(),
        fingerprint: kept.fingerprint.clone(),
    })
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    source: String,
    fingerprint: String,
}

/// Removes one certificate. Mail to its address is no longer encrypted to it (unless the
/// directory or another entry has one), and a harvested one comes back with the next valid
/// signature from its owner.
pub async fn remove(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<RemoveForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let source = UserSource::from_name(&form.source).ok_or_else(|| {
        PageError::BadRequest(format!("Unknown kind of certificate \"{}\".", form.source))
    })?;
    let removed = state
        .directory
        .forget(&user.0.email, source, &form.fingerprint)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    // Removing what is already gone (a second click, another tab) is not an error.
    let notice = if removed { "removed" } else { "gone" };
    Ok(Redirect::to(&format!("/contacts?notice={notice}")).into_response())
}
