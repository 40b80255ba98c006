//! Every failure a page can meet, and the page a person sees for it.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::imap::ImapError;
use crate::sessions::SessionError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, or one that ended: go and sign in.
    #[error("sign in required")]
    SignIn { expired: bool },
    /// A state-changing request that did not come from our own page.
    #[error("request refused: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("mail server: {0}")]
    MailServer(ImapError),
    #[error("internal: {0}")]
    Internal(#[from] Internal),
    /// A request body over its route's limit (a message with too many attachments).
    #[error("too large")]
    TooLarge,
}

/// A failure of Sealmail's own (its database, a task), kept typed for the log; the person
/// sees only that the request could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("sessions: {0}")]
    Sessions(#[from] SessionError),
    #[error("directory: {0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the send task failed: {0}")]
    SendTask(#[from] tokio::task::JoinError),
}

/// What the user is told when a message with its attachments is over the upload limit.
pub const TOO_LARGE: &str = "Your message was not sent: with its attachments it is larger than this server accepts. \
     Go back: what you typed is still there. Remove an attachment, or send the files in several messages.";

impl From<ImapError> for PageError {
    fn from(e: ImapError) -> Self {
        match e {
            ImapError::NotFound => PageError::NotFound,
            // The password stopped working mid-session (changed elsewhere): sign in again.
            ImapError::BadCredentials => PageError::SignIn { expired: true },
            other => PageError::MailServer(other),
        }
    }
}

impl PageError {
    /// The mail server saying no to a change (moving into a folder that cannot take mail, say)
    /// is an answer about this request, in the server's words, not an unreachable mailbox.
    pub fn refusal_is_the_answer<T>(result: Result<T, PageError>) -> Result<T, PageError> {
        match result {
            Err(PageError::MailServer(ImapError::Refused(why))) => Err(PageError::BadRequest(
                format!("The mail server refused this: {why}."),
            )),
            other => other,
        }
    }
}

impl From<SessionError> for PageError {
    fn from(e: SessionError) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<crate::directory::DirectoryError> for PageError {
    fn from(e: crate::directory::DirectoryError) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<serde_json::Error> for PageError {
    fn from(e: serde_json::Error) -> Self {
        PageError::Internal(e.into())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
    pub signed_in: bool,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn { expired } => {
                let to = if expired { "/login?expired=1" } else { "/login" };
                return Redirect::to(to).into_response();
            }
            PageError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                "Request refused",
                format!(
                    "This request could not be verified as coming from your own Sealmail page ({why}). \
                     Nothing was changed. Go back, reload the page and try again."
                ),
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "That message or folder does not exist any more. It may have been moved or deleted.".into(),
            ),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Request not understood", why),
            PageError::MailServer(ImapError::Busy) => {
                tracing::warn!("mail server problem: {}", ImapError::Busy);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too busy right now",
                    "Too many people are reading mail at this moment. Nothing was lost; try again in a minute.".into(),
                )
            }
            PageError::MailServer(ImapError::Timeout) => {
                tracing::warn!("mail server problem: {}", ImapError::Timeout);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Mail server not answering",
                    "Your mailbox is not answering right now. Nothing was lost; try again in a minute.".into(),
                )
            }
            PageError::MailServer(e) => {
                tracing::warn!("mail server problem: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Mail server unavailable",
                    "Your mailbox cannot be reached right now. Nothing was lost; try again in a minute.".into(),
                )
            }
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Message too large",
                TOO_LARGE.into(),
            ),
            PageError::Internal(e) => {
                tracing::error!("internal error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete this request. Nothing was lost; try again in a minute.".into(),
                )
            }
        };
        let page = ErrorPage {
            title,
            message,
            signed_in: status != StatusCode::FORBIDDEN,
        };
        (status, page).into_response()
    }
}
