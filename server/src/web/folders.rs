//! The folders page: create (optionally inside another folder), rename, delete, subscribe and
//! unsubscribe, and empty Trash. Deleting asks first, naming how many messages go.
//!
//! What may be changed is decided in `imap::folders` against a fresh listing, never from what
//! the page offered: a forged form for Inbox gets the same refusal as the missing button implies.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::User;
use super::errors::PageError;
use super::views::{self, Chrome, ConfirmPage, FoldersPage, ManagedFolder, folder_href};
use super::{FolderRole, Shared};
use crate::imap::folders::{self as manage, FolderError, messages_words};
use crate::imap::{self, Folder};

#[derive(Deserialize)]
pub struct PageQuery {
    notice: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = views::notice_text(q.notice.as_deref());
    render(&state, &user, notice, Problem::default()).await
}

/// A refused change, shown above the folders with what was typed kept.
#[derive(Default)]
struct Problem {
    error: Option<FolderError>,
    typed: String,
    typed_parent: String,
}

impl Problem {
    fn of(error: FolderError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }
}

fn status_of(error: &FolderError) -> StatusCode {
    match error {
        FolderError::Protected(_) | FolderError::AlwaysListed | FolderError::NotTrash => {
            StatusCode::FORBIDDEN
        }
        FolderError::Exists(_)
        | FolderError::HasChildren(_)
        | FolderError::Changed { .. }
        | FolderError::Refused(_) => StatusCode::CONFLICT,
        FolderError::Missing(_) => StatusCode::NOT_FOUND,
        FolderError::Empty
        | FolderError::Delimiter(_)
        | FolderError::Control
        | FolderError::TooLong
        | FolderError::Dots
        | FolderError::Wildcard => StatusCode::BAD_REQUEST,
    }
}

async fn render(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
    problem: Problem,
) -> Result<Response, PageError> {
    let (folders, listing) = with_imap!(state, &user.0, |s| {
        let folders = imap::mailbox::folders(s).await?;
        let listing = imap::folders::listing(s).await?;
        Ok((folders, listing))
    })?;
    let trash = listing.special(FolderRole::Trash);
    let delimiter = listing.delimiter.as_deref();
    let managed = folders
        .iter()
        .map(|f| ManagedFolder {
            name: f.name.clone(),
            leaf: match delimiter {
                Some(d) => f
                    .display_name
                    .rsplit(d)
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                None => f.display_name.clone(),
            },
            label: f.display_name.clone(),
            href: folder_href(&f.name),
            messages: messages_words(f.messages),
            subscribed: f.subscribed,
            protected: manage::is_protected(&f.name, f.role),
            emptiable: trash == Some(f.name.as_str()) && f.messages > 0,
        })
        .collect();
    let status = problem.error.as_ref().map_or(StatusCode::OK, status_of);
    let page = FoldersPage {
        chrome: chrome(state, user, &folders, notice),
        folders: managed,
        error: problem.error.map(|e| e.to_string()),
        typed: problem.typed,
        typed_parent: problem.typed_parent,
        nested: listing.delimiter.is_some(),
    };
    Ok((status, page).into_response())
}

fn chrome(state: &Shared, user: &User, folders: &[Folder], notice: Option<&'static str>) -> Chrome {
    Chrome::new(&user.0.email, &user.0.csrf_token, folders, "", notice)
        .with_policy(&state.policy.current())
}

fn done(notice: &str) -> Response {
    Redirect::to(&format!("/folders?notice={notice}")).into_response()
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    name: String,
    /// The folder to create it in; empty or absent: at the top.
    parent: Option<String>,
}

pub async fn create(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let parent = form.parent.as_deref().filter(|p| !p.is_empty());
    let created = with_imap!(state, &user.0, |s| {
        manage::create(s, parent, &form.name).await
    })?;
    match created {
        Ok(_) => Ok(done("folder-created")),
        Err(error) => {
            let problem = Problem {
                error: Some(error),
                typed: form.name,
                typed_parent: form.parent.unwrap_or_default(),
            };
            render(&state, &user, None, problem).await
        }
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    csrf: String,
    folder: String,
    name: String,
}

pub async fn rename(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<RenameForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let renamed = with_imap!(state, &user.0, |s| {
        manage::rename(s, &form.folder, &form.name).await
    })?;
    match renamed {
        Ok(_) => Ok(done("folder-renamed")),
        Err(error) => render(&state, &user, None, Problem::of(error)).await,
    }
}

#[derive(Deserialize)]
pub struct SubscriptionForm {
    csrf: String,
    folder: String,
    /// `yes`: subscribe (list it); anything else: unsubscribe.
    listed: String,
}

pub async fn subscription(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<SubscriptionForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let on = form.listed == "yes";
    let changed = with_imap!(state, &user.0, |s| {
        manage::set_subscribed(s, &form.folder, on).await
    })?;
    match changed {
        Ok(()) => Ok(done(if on { "subscribed" } else { "unsubscribed" })),
        Err(error) => render(&state, &user, None, Problem::of(error)).await,
    }
}

#[derive(Deserialize)]
pub struct FolderQuery {
    folder: String,
}

/// What deleting a folder or emptying Trash asks, and how its confirmation is posted.
#[derive(Clone, Copy)]
enum Kind {
    DeleteFolder,
    EmptyTrash,
}

impl Kind {
    fn confirm(
        self,
        chrome: Chrome,
        label: &str,
        folder: String,
        messages: u32,
        error: Option<String>,
    ) -> ConfirmPage {
        let (heading, question, action, button) = match self {
            Kind::DeleteFolder => (
                format!("Delete folder \"{label}\""),
                if messages == 0 {
                    format!("Delete folder \"{label}\"? It is empty.")
                } else {
                    format!(
                        "Delete folder \"{label}\" and its {}?",
                        messages_words(messages)
                    )
                },
                "/folders/delete",
                "Delete folder".to_string(),
            ),
            Kind::EmptyTrash => (
                format!("Empty {label}"),
                format!(
                    "Empty {label}: delete its {} for good? They cannot be brought back.",
                    messages_words(messages)
                ),
                "/folders/empty",
                format!("Empty {label}"),
            ),
        };
        ConfirmPage {
            chrome,
            heading,
            question,
            action,
            folder,
            messages,
            button,
            error,
        }
    }

    /// How many messages would go, or why this may not be done to `folder`.
    async fn count(
        self,
        state: &Shared,
        user: &User,
        folder: &str,
    ) -> Result<(Vec<Folder>, Result<u32, FolderError>), PageError> {
        with_imap!(state, &user.0, |s| {
            let folders = imap::mailbox::folders(s).await?;
            let count = match self {
                Kind::DeleteFolder => manage::deletion(s, folder).await?,
                Kind::EmptyTrash => manage::trash_count(s, folder).await?,
            };
            Ok((folders, count))
        })
    }
}

async fn ask(
    state: &Shared,
    user: &User,
    kind: Kind,
    folder: String,
) -> Result<Response, PageError> {
    let (folders, count) = kind.count(state, user, &folder).await?;
    match count {
        Ok(messages) => {
            let label = super::pages::label_of(&folders, &folder);
            let chrome = chrome(state, user, &folders, None);
            Ok(kind
                .confirm(chrome, &label, folder, messages, None)
                .into_response())
        }
        Err(error) => render(state, user, None, Problem::of(error)).await,
    }
}

pub async fn confirm_delete(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<FolderQuery>,
) -> Result<Response, PageError> {
    ask(&state, &user, Kind::DeleteFolder, q.folder).await
}

pub async fn confirm_empty(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<FolderQuery>,
) -> Result<Response, PageError> {
    ask(&state, &user, Kind::EmptyTrash, q.folder).await
}

#[derive(Deserialize)]
pub struct ConfirmedForm {
    csrf: String,
    folder: String,
    /// The count the person was shown: if the folder holds another number now, they are asked
    /// again rather than losing mail they never saw counted.
    messages: String,
}

pub async fn delete(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    confirmed(&state, &user, Kind::DeleteFolder, form).await
}

pub async fn empty(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    confirmed(&state, &user, Kind::EmptyTrash, form).await
}

async fn confirmed(
    state: &Shared,
    user: &User,
    kind: Kind,
    form: ConfirmedForm,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let expected: u32 = form.messages.trim().parse().map_err(|_| {
        PageError::BadRequest("The confirmation did not say how many messages go.".into())
    })?;
    let folder = form.folder;
    let outcome = with_imap!(state, &user.0, |s| {
        match kind {
            Kind::DeleteFolder => manage::delete(s, &folder, expected).await,
            Kind::EmptyTrash => manage::empty_trash(s, &folder, expected).await,
        }
    })?;
    match outcome {
        Ok(()) => Ok(done(match kind {
            Kind::DeleteFolder => "folder-deleted",
            Kind::EmptyTrash => "emptied",
        })),
        Err(error @ FolderError::Changed { now, .. }) => {
            let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
            let label = super::pages::label_of(&folders, &folder);
            let chrome = chrome(state, user, &folders, None);
            let page = kind.confirm(chrome, &label, folder, now, Some(error.to_string()));
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(error) => render(state, user, None, Problem::of(error)).await,
    }
}
