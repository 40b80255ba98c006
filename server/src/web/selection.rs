//! Actions on the messages ticked in a folder's list: delete, move, mark read or unread, flag
//! or unflag. One IMAP command for all of them (`UID MOVE` or `UID STORE` with a UID set), so
//! a page of fifty costs what one message does. A plain form POST: it works without script.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::views::{self, folder_href};
use crate::imap;

/// More than the largest page (`page_size` is at most 500): a form with more was not ours.
const MAX_SELECTED: usize = 1000;

/// The form's fields. `uid` repeats (one per ticked box), which a struct cannot take, so the
/// form arrives as its pairs.
#[derive(Default)]
struct Selection {
    csrf: String,
    folder: String,
    action: String,
    target: String,
    sort: String,
    page: String,
    uids: Vec<u32>,
}

impl Selection {
    fn read(pairs: Vec<(String, String)>) -> Result<Self, PageError> {
        let mut form = Selection::default();
        for (name, value) in pairs {
            match name.as_str() {
                "csrf" => form.csrf = value,
                "folder" => form.folder = value,
                "action" => form.action = value,
                "target" => form.target = value,
                "sort" => form.sort = value,
                "page" => form.page = value,
                "uid" => {
                    let uid = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|&u: &u32| u > 0)
                        .ok_or_else(|| {
                            PageError::BadRequest("A selected message could not be read.".into())
                        })?;
                    form.uids.push(uid);
                }
                _ => {}
            }
        }
        if form.uids.len() > MAX_SELECTED {
            return Err(PageError::BadRequest(format!(
                "At most {MAX_SELECTED} messages can be changed at once."
            )));
        }
        Ok(form)
    }

    /// The folder page the form was on, with `notice`.
    fn back(&self, notice: &str) -> Response {
        let order = views::parse_order(Some(&self.sort));
        let sort = views::sort_param(order);
        let page: u32 = self.page.trim().parse().unwrap_or(1).max(1);
        Redirect::to(&format!(
            "{}{sort}&page={page}&notice={notice}",
            folder_href(&self.folder)
        ))
        .into_response()
    }
}

pub async fn act(
    State(state): State<Shared>,
    user: User,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Selection::read(pairs)?;
    user.check_token(&form.csrf)?;
    if form.folder.is_empty() {
        return Err(PageError::BadRequest(
            "The form did not say which folder the messages are in.".into(),
        ));
    }
    if form.uids.is_empty() {
        return Ok(form.back("none-selected"));
    }
    let (folder, uids) = (&form.folder, &form.uids);
    let notice = match form.action.as_str() {
        "delete" => {
            let deleted = with_imap!(state, &user.0, |s| {
                imap::mailbox::delete(s, folder, uids).await
            });
            match PageError::refusal_is_the_answer(deleted)? {
                imap::mailbox::Deleted::ToTrash => "selected-deleted",
                imap::mailbox::Deleted::ForGood => "selected-purged",
            }
        }
        "move" => {
            let target = form.target.as_str();
            if target.is_empty() {
                return Err(PageError::BadRequest(
                    "Choose the folder to move the selected messages to.".into(),
                ));
            }
            if target == folder {
                return Err(PageError::BadRequest(
                    "The selected messages are in that folder already.".into(),
                ));
            }
            PageError::refusal_is_the_answer(with_imap!(state, &user.0, |s| {
                imap::mailbox::move_messages(s, folder, uids, target).await
            }))?;
            "selected-moved"
        }
        "read" | "unread" => {
            let seen = form.action == "read";
            PageError::refusal_is_the_answer(with_imap!(state, &user.0, |s| {
                imap::mailbox::set_seen(s, folder, uids, seen).await
            }))?;
            if seen {
                "selected-read"
            } else {
                "selected-unread"
            }
        }
        "flag" | "unflag" => {
            let flagged = form.action == "flag";
            PageError::refusal_is_the_answer(with_imap!(state, &user.0, |s| {
                imap::mailbox::set_flagged(s, folder, uids, flagged).await
            }))?;
            if flagged {
                "selected-flagged"
            } else {
                "selected-unflagged"
            }
        }
        other => {
            return Err(PageError::BadRequest(format!(
                "Unknown action \"{other}\"."
            )));
        }
    };
    Ok(form.back(notice))
}
