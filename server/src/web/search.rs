//! The search page: `GET /search`, so results can be bookmarked and Back works.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::pages::label_of;
use super::views::{self, Chrome, MessageRow, SearchBox, SearchPage, enc};
use crate::imap::search::{self, Abilities, Criteria};
use crate::imap::{self, Folder, ImapError, MessageSummary};

/// Longer than any search a person types; a longer one is refused before the server sees it.
pub const MAX_QUERY_CHARS: usize = 500;
/// Results from every folder: the newest this many are listed, so one search over a large
/// mailbox costs a bounded amount of fetching.
pub const MAX_ALL_FOLDER_RESULTS: usize = 500;

/// Everything is text: a mangled link gets the page with a sentence, never a bare 400.
#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
    field: Option<String>,
    folder: Option<String>,
    scope: Option<String>,
    unread: Option<String>,
    flagged: Option<String>,
    attachments: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<String>,
}

pub async fn search(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let text = q.q.clone().unwrap_or_default();
    let field = views::parse_field(q.field.as_deref());
    let form = SearchBox {
        q: text.clone(),
        field: views::field_value(field),
        folder: q
            .folder
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "INBOX".into()),
        all_folders: q.scope.as_deref() == Some("all"),
        unread: q.unread.is_some(),
        flagged: q.flagged.is_some(),
        attachments: q.attachments.is_some(),
        since: q.since.clone().unwrap_or_default().trim().to_string(),
        until: q.until.clone().unwrap_or_default().trim().to_string(),
    };
    let criteria = criteria(&form, field);
    let (abilities, folders) = with_imap!(state, &user.0, |s| {
        // The folder list is the page's furniture; no search is sent for a refused query.
        let folders = imap::mailbox::folders(s).await?;
        let abilities = if criteria.is_ok() {
            search::abilities(s).await?
        } else {
            Abilities::default()
        };
        Ok((abilities, folders))
    })?;
    let mut page = SearchPage {
        chrome: Chrome::new(
            &user.0.email,
            &user.0.csrf_token,
            &folders,
            if form.all_folders { "" } else { &form.folder },
            None,
        )
        .with_policy(&state.policy.current()),
        scope_words: if form.all_folders {
            "all folders".into()
        } else {
            label_of(&folders, &form.folder)
        },
        show_folder: form.all_folders,
        select: false,
        search: form,
        problem: None,
        searched: false,
        caption: String::new(),
        rows: Vec::new(),
        matches: 0,
        shown_limit: None,
        page: 1,
        pages: 1,
        newer_href: None,
        older_href: None,
    };
    let criteria = match criteria {
        Ok(criteria) => criteria,
        Err(Refusal::Empty) => {
            page.problem =
                Some("Type a word to search for, or choose a filter, then press Search.".into());
            return Ok(page.into_response());
        }
        Err(Refusal::Invalid(why)) => {
            page.problem = Some(why);
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let page_size = state.config.web.page_size.max(1);
    let wanted = q.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1);
    let (hits, matches, limited) = if page.search.all_folders {
        every_folder(&state, &user, &folders, abilities, &criteria).await?
    } else {
        let folder = page.search.folder.clone();
        let (uids, summaries) = with_imap!(state, &user.0, |s| {
            let uids = search::find(s, &folder, abilities, &criteria).await?;
            let (_, _, slice) = imap::mailbox::slice_page(&uids, wanted, page_size);
            let summaries = imap::mailbox::summaries(s, slice).await?;
            Ok((uids, summaries))
        })?;
        // Only the wanted page was fetched; the rest of `uids` stands in for the count.
        let hits = Paged::Folder {
            folder,
            total: uids.len(),
            page: summaries,
        };
        (hits, uids.len(), false)
    };
    let (number, pages, rows) = hits.page(wanted, page_size, &folders);
    page.rows = rows;
    page.matches = matches;
    page.shown_limit = limited.then_some(MAX_ALL_FOLDER_RESULTS);
    page.searched = true;
    page.page = number;
    page.pages = pages;
    page.caption = format!(
        "{matches} {} found in {}, page {number} of {pages}, newest first",
        if matches == 1 { "message" } else { "messages" },
        page.scope_words
    );
    let href = |n: u32| format!("/search?{}&page={n}", query_string(&page.search));
    page.newer_href = (number > 1).then(|| href(number - 1));
    page.older_href = (number < pages).then(|| href(number + 1));
    Ok(page.into_response())
}

enum Refusal {
    Empty,
    Invalid(String),
}

fn criteria(form: &SearchBox, field: search::Field) -> Result<Criteria, Refusal> {
    let length = form.q.chars().count();
    if length > MAX_QUERY_CHARS {
        return Err(Refusal::Invalid(format!(
            "Your search is {length} characters long; the most is {MAX_QUERY_CHARS}. \
             Shorten it and search again."
        )));
    }
    let day = |text: &str, which: &str| -> Result<Option<time::Date>, Refusal> {
        if text.is_empty() {
            return Ok(None);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, format).map(Some).map_err(|_| {
            Refusal::Invalid(format!(
                "The {which} date \"{text}\" is not a date; write it as 2026-01-31."
            ))
        })
    };
    let criteria = Criteria {
        terms: search::terms(&form.q),
        field,
        unread: form.unread,
        flagged: form.flagged,
        attachments: form.attachments,
        since: day(&form.since, "from")?,
        until: day(&form.until, "to")?,
    };
    if let (Some(since), Some(until)) = (criteria.since, criteria.until)
        && since > until
    {
        return Err(Refusal::Invalid(
            "The from date is after the to date, so nothing could match.".into(),
        ));
    }
    if criteria.is_empty() {
        return Err(Refusal::Empty);
    }
    Ok(criteria)
}

/// The search as a query string, for the pager's links.
fn query_string(form: &SearchBox) -> String {
    let mut parts = vec![
        format!("q={}", enc(&form.q)),
        format!("field={}", form.field),
        format!("folder={}", enc(&form.folder)),
        format!("scope={}", if form.all_folders { "all" } else { "folder" }),
    ];
    for (name, on) in [
        ("unread", form.unread),
        ("flagged", form.flagged),
        ("attachments", form.attachments),
    ] {
        if on {
            parts.push(format!("{name}=1"));
        }
    }
    for (name, value) in [("since", &form.since), ("until", &form.until)] {
        if !value.is_empty() {
            parts.push(format!("{name}={}", enc(value)));
        }
    }
    parts.join("&")
}

/// What a search found, ready to be cut into pages.
enum Paged {
    /// One folder: only the wanted page was fetched.
    Folder {
        folder: String,
        total: usize,
        page: Vec<MessageSummary>,
    },
    /// Every folder: all listed hits, newest first.
    All(Vec<(String, MessageSummary)>),
}

impl Paged {
    fn page(self, wanted: u32, page_size: u32, folders: &[Folder]) -> (u32, u32, Vec<MessageRow>) {
        match self {
            Paged::Folder {
                folder,
                total,
                page,
            } => {
                let placeholder = vec![(); total];
                let (number, pages, _) = imap::mailbox::slice_page(&placeholder, wanted, page_size);
                let rows = page.iter().map(|m| MessageRow::new(&folder, m)).collect();
                (number, pages, rows)
            }
            Paged::All(hits) => {
                let (number, pages, slice) = imap::mailbox::slice_page(&hits, wanted, page_size);
                let rows = slice
                    .iter()
                    .map(|(folder, m)| MessageRow {
                        folder: Some(label_of(folders, folder)),
                        ..MessageRow::new(folder, m)
                    })
                    .collect();
                (number, pages, rows)
            }
        }
    }
}

/// Searches every selectable folder, one IMAP round of its own each (so each has the full
/// deadline), and merges the newest hits by date. Returns the hits, how many matched in all,
/// and whether only the newest [`MAX_ALL_FOLDER_RESULTS`] are listed.
async fn every_folder(
    state: &Shared,
    user: &User,
    folders: &[Folder],
    abilities: Abilities,
    criteria: &Criteria,
) -> Result<(Paged, usize, bool), PageError> {
    let mut hits: Vec<(String, MessageSummary)> = Vec::new();
    let mut matches = 0;
    for folder in folders {
        let found = with_imap!(state, &user.0, |s| {
            let mut uids = match search::find(s, &folder.name, abilities, criteria).await {
                Ok(uids) => uids,
                // Deleted since the folder list was read: nothing to find there.
                Err(ImapError::NotFound) => return Ok((0, Vec::new())),
                Err(e) => return Err(e),
            };
            let count = uids.len();
            uids.truncate(MAX_ALL_FOLDER_RESULTS);
            Ok((count, imap::mailbox::summaries(s, &uids).await?))
        });
        let (count, summaries) = found?;
        matches += count;
        hits.extend(summaries.into_iter().map(|m| (folder.name.clone(), m)));
    }
    // SORT's own rule: the Date header, or when there is none the arrival time.
    hits.sort_by_key(|(_, m)| std::cmp::Reverse(m.date.or(m.received).unwrap_or(i64::MIN)));
    hits.truncate(MAX_ALL_FOLDER_RESULTS);
    let limited = matches > hits.len();
    Ok((Paged::All(hits), matches, limited))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(q: &str) -> SearchBox {
        SearchBox {
            q: q.into(),
            ..SearchBox::for_folder("INBOX")
        }
    }

    #[test]
    fn empty_and_overlong_queries_are_refused_before_any_search() {
        assert!(matches!(
            criteria(&form("  \"\" "), search::Field::All),
            Err(Refusal::Empty)
        ));
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(matches!(
            criteria(&form(&long), search::Field::All),
            Err(Refusal::Invalid(why)) if why.contains("501 characters")
        ));
        let exactly = "ü".repeat(MAX_QUERY_CHARS);
        assert!(criteria(&form(&exactly), search::Field::All).is_ok());
    }

    #[test]
    fn a_filter_alone_is_a_search_and_wrong_dates_are_named() {
        let unread = SearchBox {
            unread: true,
            ..form("")
        };
        assert!(criteria(&unread, search::Field::All).is_ok());
        let wrong = SearchBox {
            since: "31/01/2026".into(),
            ..form("x")
        };
        assert!(matches!(
            criteria(&wrong, search::Field::All),
            Err(Refusal::Invalid(why)) if why.contains("31/01/2026")
        ));
        let backwards = SearchBox {
            since: "2026-02-01".into(),
            until: "2026-01-01".into(),
            ..form("x")
        };
        assert!(criteria(&backwards, search::Field::All).is_err());
    }

    #[test]
    fn pager_links_keep_the_whole_search() {
        let f = SearchBox {
            q: "a&b \"c\"".into(),
            all_folders: true,
            flagged: true,
            since: "2026-01-01".into(),
            ..form("")
        };
        assert_eq!(
            query_string(&f),
            "q=a%26b%20%22c%22&field=all&folder=INBOX&scope=all&flagged=1&since=2026%2D01%2D01"
        );
    }
}

/// At most this many encrypted messages of a folder (the newest) are offered to the browser's
/// index in one pass.
pub const MAX_ENCRYPTED_LISTED: usize = 10_000;

#[derive(Deserialize)]
pub struct EncryptedQuery {
    folder: String,
}

#[derive(Serialize)]
pub struct EncryptedMessages {
    messages: Vec<EncryptedMessage>,
}

/// What the browser's index keeps beside the words: the list row's fields.
#[derive(Serialize)]
pub struct EncryptedMessage {
    uid: u32,
    subject: String,
    from: String,
    date: i64,
}

/// `GET /api/search/encrypted?folder=INBOX`: the encrypted messages of a folder, newest first,
/// for the browser to fetch, open and index itself. Nothing of the index or of a query is ever
/// sent here; the server only says which messages it cannot read.
pub async fn encrypted_messages(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<EncryptedQuery>,
) -> Result<Json<EncryptedMessages>, PageError> {
    let summaries = with_imap!(state, &user.0, |s| {
        let mut uids = search::pkcs7_mime(s, &q.folder).await?;
        uids.truncate(MAX_ENCRYPTED_LISTED);
        imap::mailbox::summaries(s, &uids).await
    })?;
    let messages = summaries
        .into_iter()
        .filter(|m| m.protection.encrypted)
        .map(|m| EncryptedMessage {
            uid: m.uid,
            subject: m.subject,
            from: m.from,
            date: m.date.or(m.received).unwrap_or(0),
        })
        .collect();
    Ok(Json(EncryptedMessages { messages }))
}
