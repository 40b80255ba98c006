//! The Filters page: rules "if the sender, subject or mailing list contains X, move the message
//! to a folder, flag it, or delete it", kept in the user's Sieve script (see `crate::sieve`).
//! Also the pieces the Out of office page shares: the page furniture and how a ManageSieve
//! failure is worded.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::FolderRole;
use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::out_of_office::foreign_name;
use super::views::{self, Chrome, FilterFields, FilterRow, FiltersPage};
use crate::imap::{self, Folder};
use crate::sieve::settings::{Action, Field, Filter};
use crate::sieve::{SaveError, SieveError, SieveSettings};

pub(super) async fn chrome(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
) -> Result<Chrome, PageError> {
    Ok(chrome_and_folders(state, user, notice).await?.0)
}

async fn chrome_and_folders(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
) -> Result<(Chrome, Vec<Folder>), PageError> {
    let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
    let chrome = Chrome::new(&user.0.email, &user.0.csrf_token, &folders, "", notice)
        .with_policy(&state.policy.current());
    Ok((chrome, folders))
}

/// Today, for the reply's dates: the mail server compares them in its own time, which on a
/// server is normally UTC.
pub(super) fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// "<what>: <reason>." and the status the page is answered with. Nothing was changed in each case.
pub(super) fn failure(what: &str, error: &SaveError) -> (StatusCode, String) {
    match error {
        SaveError::ForeignActive(name) => (
            StatusCode::CONFLICT,
            format!(
                "{what}: your mailbox already runs a filter script that Sealmail did not write, \
                 \u{201c}{name}\u{201d}. Saving here switches it off (it is kept on the server, not deleted). \
                 Tick \u{201c}Replace it\u{201d} and save again if that is what you want."
            ),
        ),
        SaveError::Sieve(SieveError::Refused(why)) => (
            StatusCode::BAD_GATEWAY,
            format!("{what}: the mail server refused it: {}", why.trim()),
        ),
        SaveError::Sieve(SieveError::BadCredentials) => (
            StatusCode::BAD_GATEWAY,
            format!("{what}: the filter server did not accept your mail password."),
        ),
        SaveError::Sieve(e @ SieveError::Timeout) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what}: {e}. Nothing was changed; try again in a minute."),
        ),
        SaveError::Sieve(e) => {
            tracing::warn!("ManageSieve: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{what}: the filter server cannot be reached. Nothing was changed; try again in a minute."
                ),
            )
        }
    }
}

/// The folders a filter may move mail into, named as Sieve's fileinto wants them.
fn targets(folders: &[Folder]) -> Vec<String> {
    folders
        .iter()
        .filter(|f| f.role != Some(FolderRole::Inbox))
        .map(|f| utf7_imap::decode_utf7_imap(f.name.clone()))
        .collect()
}

fn rows(settings: &SieveSettings) -> Vec<FilterRow> {
    settings
        .filters
        .iter()
        .enumerate()
        .map(|(index, f)| FilterRow {
            index,
            field: f.field.label(),
            contains: f.contains.clone(),
            action: f.action.describe(),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let notice = views::notice_text(q.notice.as_deref());
    let (chrome, folders) = chrome_and_folders(&state, &user, notice).await?;
    let mut page = FiltersPage {
        chrome,
        available: state.sieve.is_some(),
        filters: Vec::new(),
        folders: targets(&folders),
        fields: FilterFields::default(),
        error: None,
        foreign: None,
    };
    let Some(sieve) = &state.sieve else {
        return Ok(page.into_response());
    };
    match sieve.load(&user.0.email, &user.0.password).await {
        Ok(stored) => {
            page.filters = rows(stored.settings());
            page.foreign = foreign_name(&stored);
            Ok(page.into_response())
        }
        Err(e) => {
            let (status, error) = failure("Your filters cannot be read right now", &e.into());
            page.error = Some(error);
            Ok((status, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    contains: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    folder: String,
    replace: Option<String>,
}

impl AddForm {
    fn fields(&self) -> FilterFields {
        FilterFields {
            field: self.field.clone(),
            contains: self.contains.clone(),
            action: self.action.clone(),
            folder: self.folder.clone(),
        }
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    index: usize,
    /// The rule's text as listed: a rule changed elsewhere meanwhile is not removed by mistake.
    matching: String,
}

/// Re-reads what is stored, applies `change`, and saves; answers with the page and the error,
/// what was typed kept, when anything fails.
async fn change(
    state: &Shared,
    user: &User,
    fields: FilterFields,
    replace: bool,
    notice: &str,
    change: impl FnOnce(&mut SieveSettings, &[String]) -> Result<(), String>,
) -> Result<Response, PageError> {
    let Some(sieve) = &state.sieve else {
        return Err(PageError::BadRequest(
            "Filters are not available on this server.".into(),
        ));
    };
    let (chrome, folders) = chrome_and_folders(state, user, None).await?;
    let folders = targets(&folders);
    let mut page = FiltersPage {
        chrome,
        available: true,
        filters: Vec::new(),
        folders,
        fields,
        error: None,
        foreign: None,
    };
    let what = "Your filters could not be saved";
    let stored = match sieve.load(&user.0.email, &user.0.password).await {
        Ok(stored) => stored,
        Err(e) => {
            let (status, error) = failure(what, &e.into());
            page.error = Some(error);
            return Ok((status, page).into_response());
        }
    };
    page.filters = rows(stored.settings());
    page.foreign = foreign_name(&stored);
    let mut settings = stored.settings().clone();
    if let Err(why) = change(&mut settings, &page.folders)
        .and_then(|()| settings.validate(today()).map_err(|e| e.0))
    {
        page.error = Some(format!("{what}: {why}"));
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    match sieve
        .save(&user.0.email, &user.0.password, &settings, replace)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/filters?notice={notice}")).into_response()),
        Err(e) => {
            let (status, error) = failure(what, &e);
            if let SaveError::ForeignActive(name) = &e {
                page.foreign = Some(name.clone());
            }
            page.error = Some(error);
            Ok((status, page).into_response())
        }
    }
}

pub async fn add(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let fields = form.fields();
    let replace = form.replace.is_some();
    change(
        &state,
        &user,
        fields,
        replace,
        "filter-added",
        |settings, folders| {
            let field = Field::parse(&form.field).ok_or("choose what the filter looks at.")?;
            let action = match form.action.as_str() {
                "move" => {
                    if !folders.contains(&form.folder) {
                        return Err(format!(
                            "there is no folder {:?} to move mail into.",
                            form.folder
                        ));
                    }
                    Action::Move {
                        folder: form.folder.clone(),
                    }
                }
                "flag" => Action::Flag,
                "discard" => Action::Discard,
                _ => return Err("choose what the filter does.".into()),
            };
            settings.filters.push(Filter {
                field,
                contains: form.contains.trim().to_string(),
                action,
            });
            Ok(())
        },
    )
    .await
}

pub async fn remove(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<RemoveForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    // Only Sealmail's own filters are listed, so there is nothing foreign to agree to replace.
    change(
        &state,
        &user,
        FilterFields::default(),
        false,
        "filter-removed",
        |settings, _| {
            if settings
                .filters
                .get(form.index)
                .is_none_or(|f| f.contains != form.matching)
            {
                return Err("that filter was changed meanwhile; look at the list again.".into());
            }
            settings.filters.remove(form.index);
            Ok(())
        },
    )
    .await
}
