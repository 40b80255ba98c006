//! The Out of office page: a vacation reply with dates, subject, text and how often one sender
//! gets it, kept in the user's Sieve script (see `crate::sieve`).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::filters::{chrome, failure, today};
use super::views::{self, VacationFields, VacationPage};
use crate::sieve::settings::{self, Vacation, format_day, parse_day};
use crate::sieve::{SaveError, SettingsError, Stored};

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn fields_of(vacation: &Vacation) -> VacationFields {
    VacationFields {
        enabled: vacation.enabled,
        start: vacation.start.map(format_day).unwrap_or_default(),
        end: vacation.end.map(format_day).unwrap_or_default(),
        subject: vacation.subject.clone(),
        text: vacation.text.clone(),
        days: vacation.days.to_string(),
    }
}

pub async fn page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let chrome = chrome(&state, &user, views::notice_text(q.notice.as_deref())).await?;
    let Some(sieve) = &state.sieve else {
        return Ok(VacationPage {
            chrome,
            available: false,
            status: None,
            fields: VacationFields::default(),
            error: None,
            foreign: None,
        }
        .into_response());
    };
    let page = match sieve.load(&user.0.email, &user.0.password).await {
        Ok(stored) => {
            let vacation = &stored.settings().vacation;
            VacationPage {
                // What a hand-written script does is not ours to describe.
                status: match stored {
                    Stored::Ours { active: false, .. } if vacation.enabled => Some(
                        "Your out-of-office reply is saved, but switched off on the mail server: \
                         save it here to switch it on again."
                            .into(),
                    ),
                    Stored::Ours { .. } => Some(vacation.status(today())),
                    Stored::Foreign { .. } => None,
                },
                fields: fields_of(vacation),
                foreign: foreign_name(&stored),
                chrome,
                available: true,
                error: None,
            }
        }
        Err(e) => {
            let (status, error) = failure(
                "Your out-of-office reply cannot be read right now",
                &e.into(),
            );
            let page = VacationPage {
                chrome,
                available: true,
                status: None,
                fields: fields_of(&Vacation::default()),
                error: Some(error),
                foreign: None,
            };
            return Ok((status, page).into_response());
        }
    };
    Ok(page.into_response())
}

pub(super) fn foreign_name(stored: &Stored) -> Option<String> {
    match stored {
        Stored::Foreign { name, .. } => Some(name.clone()),
        Stored::Ours { .. } => None,
    }
}

#[derive(Deserialize)]
pub struct VacationForm {
    csrf: String,
    /// Check boxes: present ("on") when ticked.
    enabled: Option<String>,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    days: String,
    /// The user agreed to switch off a filter script Sealmail did not write.
    replace: Option<String>,
}

impl VacationForm {
    fn fields(&self) -> VacationFields {
        VacationFields {
            enabled: self.enabled.is_some(),
            start: self.start.clone(),
            end: self.end.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            days: self.days.clone(),
        }
    }

    /// The reply as asked, answering mail sent to any of `addresses` (the user's identities).
    fn vacation(&self, addresses: Vec<String>) -> Result<Vacation, SettingsError> {
        let days = self.days.trim();
        let days = if days.is_empty() {
            Vacation::default().days
        } else {
            days.parse().map_err(|_| {
                SettingsError(format!(
                    "{days:?} is not a number of days; write one from {} to {}.",
                    settings::DAYS_RANGE.start(),
                    settings::DAYS_RANGE.end()
                ))
            })?
        };
        Ok(Vacation {
            enabled: self.enabled.is_some(),
            start: parse_day(&self.start)?,
            end: parse_day(&self.end)?,
            subject: self.subject.trim().to_string(),
            text: self.text.clone(),
            days,
            addresses,
        })
    }
}

pub async fn save(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<VacationForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let Some(sieve) = &state.sieve else {
        return Err(PageError::BadRequest(
            "Out-of-office replies are not available on this server.".into(),
        ));
    };
    // Mail to an alias is mail to the user too: Sieve answers only mail addressed to one of these.
    let addresses: Vec<String> = super::identities::load(&state, &user.0)
        .await?
        .list
        .into_iter()
        .map(|i| i.address)
        .collect();
    let outcome = store(sieve, &user, &form, addresses).await;
    let (status, error, foreign) = match outcome {
        Ok(()) => return Ok(Redirect::to("/vacation?notice=vacation").into_response()),
        Err(refusal) => refusal,
    };
    let page = VacationPage {
        chrome: chrome(&state, &user, None).await?,
        available: true,
        status: None,
        fields: form.fields(),
        error: Some(error),
        foreign,
    };
    Ok((status, page).into_response())
}

/// Checks and saves the reply; a refusal says the page's status, its words, and the name of a
/// foreign script to ask about.
async fn store(
    sieve: &crate::sieve::ManageSieve,
    user: &User,
    form: &VacationForm,
    addresses: Vec<String>,
) -> Result<(), (StatusCode, String, Option<String>)> {
    let invalid = |e: SettingsError| (StatusCode::BAD_REQUEST, e.0, None);
    let vacation = form.vacation(addresses).map_err(invalid)?;
    vacation.validate(today()).map_err(invalid)?;
    let what = "Your out-of-office reply could not be saved";
    // The filters are kept as stored: this page changes only the reply.
    let stored = sieve
        .load(&user.0.email, &user.0.password)
        .await
        .map_err(|e| {
            let (status, error) = failure(what, &e.into());
            (status, error, None)
        })?;
    let mut settings = stored.settings().clone();
    settings.vacation = vacation;
    sieve
        .save(
            &user.0.email,
            &user.0.password,
            &settings,
            form.replace.is_some(),
        )
        .await
        .map_err(|e| {
            let (status, error) = failure(what, &e);
            let foreign = match e {
                SaveError::ForeignActive(name) => Some(name),
                _ => None,
            };
            (status, error, foreign)
        })
}
