//! Reading mail: folder lists, a message, attachments, and the actions on a message.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::User;
use super::errors::PageError;
use super::views::{
    self, AttachmentRow, Chrome, ConversationView, FolderPage, MessagePage, MessageRow, SearchBox,
    Security, enc, folder_href, message_href,
};
use super::{FolderRole, Shared};
use crate::imap::{self, Folder};
use crate::mail::read::{self, Body};
use crate::mail::secure::{self, Sealed, SignedMail, SignerFacts};
use crate::options;
use pki::{Certificate, Usage};

pub async fn home(_user: User) -> Redirect {
    Redirect::to("/mail?folder=INBOX")
}

pub async fn not_found() -> PageError {
    PageError::NotFound
}

#[derive(Deserialize)]
pub struct FolderQuery {
    folder: Option<String>,
    /// Text, not a number: a mangled link still shows the folder (from page 1).
    page: Option<String>,
    sort: Option<String>,
    notice: Option<String>,
    /// `all`: every selection box on the page starts ticked.
    select: Option<String>,
}

pub async fn folder(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<FolderQuery>,
) -> Result<Response, PageError> {
    let folder = q.folder.unwrap_or_else(|| "INBOX".into());
    // A message SMTP accepted earlier but whose Sent copy could not be filed gets filed now.
    super::deliver::file_pending_sent_copies(&state, &user.0).await;
    let page_size = state.config.web.page_size;
    let wanted = q.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1);
    let order = views::parse_order(q.sort.as_deref());
    let threaded = options::load(&state.db, &user.0.email).await?.conversations;
    let (folders, listing) = with_imap!(state, &user.0, |s| {
        let folders = imap::mailbox::folders(s).await?;
        // Without THREAD on the server the preference falls back to the plain list.
        let threads = if threaded {
            imap::mailbox::conversation_page(s, &folder, wanted, page_size).await?
        } else {
            None
        };
        let listing = match threads {
            Some(threads) => Listing::Conversations(threads),
            None => {
                Listing::Messages(imap::mailbox::page(s, &folder, wanted, page_size, order).await?)
            }
        };
        Ok((folders, listing))
    })?;
    let title = label_of(&folders, &folder);
    let sort = views::order_value(order);
    let page_href = |n: u32| {
        format!(
            "{}{}&page={n}",
            folder_href(&folder),
            views::sort_param(order)
        )
    };
    let all_selected = q.select.as_deref() == Some("all");
    let (caption, rows, conversations, can_thread, page, pages) = match listing {
        Listing::Messages(page) => (
            format!(
                "{} messages, page {} of {}, {}",
                page.total,
                page.page,
                page.pages,
                views::order_words(order, page.sorted)
            ),
            page.messages
                .iter()
                .map(|m| MessageRow {
                    checked: all_selected,
                    ..MessageRow::new(&folder, m)
                })
                .collect(),
            None,
            page.can_thread,
            page.page,
            page.pages,
        ),
        Listing::Conversations(page) => (
            format!(
                "{} conversations, page {} of {}, latest first",
                page.total, page.page, page.pages
            ),
            Vec::new(),
            Some(
                page.conversations
                    .iter()
                    .map(|c| {
                        let mut view = ConversationView::new(&folder, c);
                        for (_, row) in &mut view.messages {
                            row.checked = all_selected;
                        }
                        view
                    })
                    .collect(),
            ),
            true,
            page.page,
            page.pages,
        ),
    };
    Ok(FolderPage {
        chrome: Chrome::new(
            &user.0.email,
            &user.0.csrf_token,
            &folders,
            &folder,
            views::notice_text(q.notice.as_deref()),
        )
        .with_policy(&state.policy.current()),
        title,
        search: SearchBox::for_folder(&folder),
        sort,
        caption,
        show_folder: false,
        select: true,
        select_all_href: format!("{}&select=all", page_href(page)),
        rows,
        conversations,
        can_thread,
        page,
        pages,
        newer_href: (page > 1).then(|| page_href(page - 1)),
        older_href: (page < pages).then(|| page_href(page + 1)),
    }
    .into_response())
}

/// What a folder page lists: messages, or conversations when the user asked for them.
enum Listing {
    Messages(imap::mailbox::MessagePage),
    Conversations(imap::mailbox::ConversationPage),
}

#[derive(Deserialize)]
pub struct ListViewForm {
    csrf: String,
    folder: String,
    /// `conversations` or `messages`.
    show: String,
}

/// "Show as conversations" / "Show as a list": remembered for the user, for every folder.
pub async fn list_view(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<ListViewForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let conversations = match form.show.as_str() {
        "conversations" => true,
        "messages" => false,
        _ => {
            return Err(PageError::BadRequest(
                "Choose to show the folder as conversations or as a list.".into(),
            ));
        }
    };
    let mut chosen = options::load(&state.db, &user.0.email).await?;
    chosen.conversations = conversations;
    options::save(&state.db, &user.0.email, chosen).await?;
    let folder = if form.folder.is_empty() {
        "INBOX"
    } else {
        form.folder.as_str()
    };
    Ok(Redirect::to(&folder_href(folder)).into_response())
}

pub(super) fn label_of(folders: &[Folder], name: &str) -> String {
    folders
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.display_name.clone())
        .unwrap_or_else(|| name.to_string())
}

#[derive(Deserialize)]
pub struct MessageQuery {
    folder: String,
    uid: u32,
    images: Option<String>,
    notice: Option<String>,
}

pub async fn message(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<MessageQuery>,
) -> Result<Response, PageError> {
    let (folders, (raw, flagged)) = with_imap!(state, &user.0, |s| {
        let folders = imap::mailbox::folders(s).await?;
        let opened = imap::mailbox::open(s, &q.folder, q.uid).await?;
        Ok((folders, opened))
    })?;
    let sealed = match secure::classify(&raw) {
        // A signature made without certificates (`-nocerts`) still verifies when the server
        // knows the sender's certificate: the engine is offered every one it has for them.
        Sealed::Signed(signed) if signed.lacks_a_certificate() => {
            let candidates = known_certificates(&state, &user.0.email, &raw).await;
            if candidates.is_empty() {
                Sealed::Signed(signed)
            } else {
                secure::classify_with(&raw, &candidates)
            }
        }
        sealed => sealed,
    };
    let display = sealed.display(&raw);
    // Remote images in decrypted mail are an EFAIL channel: the page's policy also binds the
    // frame the browser shows the plaintext in, so encrypted mail never gets the relaxed one.
    let show_images = q.images.is_some() && !matches!(sealed, Sealed::Encrypted);
    let section_base = sealed.section_base();
    let part_url = |index: usize, part: &read::PartAddress| {
        format!(
            "{}&inline=1",
            attachment_href(&q.folder, q.uid, index, Some(part), section_base)
        )
    };
    let view = read::view(display, show_images, Some(&part_url))
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    // Every From address: a verdict on one of several senders must be able to say so.
    let from_address = view.from_addresses.join(", ");
    let security = match &sealed {
        Sealed::Plain => Security::default(),
        Sealed::Signed(signed) => Security {
            signatures: signature_reports(&state, &user.0.email, signed, &from_address).await,
            ..Security::default()
        },
        Sealed::Encrypted => Security {
            encrypted: true,
            ..Security::default()
        },
        Sealed::Damaged(why) => Security {
            damaged: Some(format!(
                "This message's signature or encryption is damaged and cannot be checked: {why}."
            )),
            ..Security::default()
        },
    };
    let (text_body, html_body, remote_blocked) = match view.body {
        _ if security.encrypted => (None, None, false),
        Body::Text(text) => (Some(text), None, false),
        Body::Html {
            html,
            remote_blocked,
        } => (None, Some(html), remote_blocked),
    };
    let role = folders
        .iter()
        .find(|f| f.name == q.folder)
        .and_then(|f| f.role);
    let chrome = Chrome::new(
        &user.0.email,
        &user.0.csrf_token,
        &folders,
        &q.folder,
        views::notice_text(q.notice.as_deref()),
    )
    .with_policy(&state.policy.current());
    let move_targets = chrome
        .folders
        .iter()
        .filter(|f| f.name != q.folder)
        .map(|f| views::FolderLink {
            name: f.name.clone(),
            label: f.label.clone(),
            unseen: 0,
            href: f.href.clone(),
            current: false,
        });
    let page = MessagePage {
        folder_label: label_of(&folders, &q.folder),
        folder_href: folder_href(&q.folder),
        move_targets: move_targets.collect(),
        chrome,
        uid: q.uid,
        subject: if view.subject.trim().is_empty() {
            "(no subject)".into()
        } else {
            view.subject
        },
        from: view.from.join(", "),
        sender_address: view.from_addresses.first().cloned().unwrap_or_default(),
        sender_name: view.sender_name.clone(),
        to: view.to.join(", "),
        cc: view.cc.join(", "),
        bcc: view.bcc.join(", "),
        date: views::format_date(view.date),
        timestamp: view.date.unwrap_or(0),
        text_body,
        html_body,
        show_images_href: remote_blocked
            .then(|| format!("{}&images=1", message_href(&q.folder, q.uid))),
        raw_href: format!("/message/raw?folder={}&uid={}", enc(&q.folder), q.uid),
        smart_card_only: state.policy.current().smart_card_only,
        attachments: view
            .attachments
            .iter()
            .filter(|_| !security.encrypted)
            .map(|a| AttachmentRow {
                href: attachment_href(&q.folder, q.uid, a.part, a.address.as_ref(), section_base),
                name: a.name.clone(),
                size: views::format_size(a.size),
                content_type: a.content_type.clone(),
            })
            .collect(),
        is_draft: role == Some(FolderRole::Drafts),
        flagged,
        security,
        folder: q.folder,
    };
    let mut response = page.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if show_images {
        let policy =
            views::content_security_policy(true, state.config.web.kiosk_app_origin.as_deref());
        if let Ok(policy) = HeaderValue::try_from(policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    Ok(response)
}

/// The link to one part. With the part's IMAP section (under `base`, where the entity shown
/// sits in the message) and digest, the download fetches only that part.
fn attachment_href(
    folder: &str,
    uid: u32,
    index: usize,
    part: Option<&read::PartAddress>,
    base: Option<&str>,
) -> String {
    let mut href = format!("/attachment?folder={}&uid={uid}&part={index}", enc(folder));
    if let (Some(base), Some(part)) = (base, part)
        && let Some(section) = &part.section
    {
        let section = match base {
            "" => section.clone(),
            base => format!("{base}.{section}"),
        };
        href.push_str(&format!("&section={section}&sum={}", part.sum));
    }
    href
}

#[derive(Deserialize)]
pub struct AttachmentQuery {
    folder: String,
    uid: u32,
    part: usize,
    inline: Option<String>,
    /// Where the IMAP server keeps the part, and its digest (see `read::PartAddress`).
    section: Option<String>,
    sum: Option<String>,
}

/// A section number as the link gave it (`1.2`): digits and dots only, never more than the
/// deepest nesting a message may reasonably have; anything else is read from the whole message.
fn section_number(text: &str) -> Option<Vec<u32>> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|n| n.parse::<u32>().ok().filter(|&n| n > 0 && n < 100_000))
        .collect::<Option<_>>()?;
    (!parts.is_empty() && parts.len() <= 32).then_some(parts)
}

/// Image types a browser can show without running anything (no SVG: it can carry script).
const INLINE_SAFE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

pub async fn attachment(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<AttachmentQuery>,
) -> Result<Response, PageError> {
    let lone = match (q.section.as_deref().and_then(section_number), &q.sum) {
        (Some(section), Some(sum)) => with_imap!(state, &user.0, |s| {
            imap::mailbox::fetch_part(s, &q.folder, q.uid, &section).await
        })?
        .and_then(|entity| read::lone_part_content(&entity, q.part, sum)),
        _ => None,
    };
    let part = match lone {
        Some(part) => part,
        // No section, or the server's part was not the one the page showed.
        None => {
            let raw = with_imap!(state, &user.0, |s| {
                imap::mailbox::fetch(s, &q.folder, q.uid, false).await
            })?;
            // Part numbers of signed mail count within the signed entity, as the page does.
            read::part_content(secure::classify(&raw).display(&raw), q.part)
                .ok_or(PageError::NotFound)?
        }
    };
    let inline = q.inline.is_some() && INLINE_SAFE.contains(&part.content_type.as_str());
    let content_type = if inline {
        part.content_type.clone()
    } else {
        "application/octet-stream".to_string()
    };
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        part.name.replace(
            |c: char| !c.is_ascii_graphic() && c != ' ' || c == '"' || c == '\\',
            "_"
        ),
        enc(&part.name)
    );
    let mut response = (StatusCode::OK, part.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox; frame-ancestors 'none'"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    folder: String,
    uid: u32,
    action: String,
    target: Option<String>,
}

pub async fn message_action(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let back = |notice: &str| {
        Redirect::to(&format!("{}&notice={notice}", folder_href(&form.folder))).into_response()
    };
    match form.action.as_str() {
        "delete" => {
            let deleted = with_imap!(state, &user.0, |s| {
                imap::mailbox::delete(s, &form.folder, &[form.uid]).await
            })?;
            Ok(back(match deleted {
                imap::mailbox::Deleted::ToTrash => "deleted",
                imap::mailbox::Deleted::ForGood => "purged",
            }))
        }
        "unread" | "read" => {
            let seen = form.action == "read";
            with_imap!(state, &user.0, |s| {
                imap::mailbox::set_seen(s, &form.folder, &[form.uid], seen).await
            })?;
            Ok(if seen {
                Redirect::to(&message_href(&form.folder, form.uid)).into_response()
            } else {
                back("unread")
            })
        }
        "flag" | "unflag" => {
            let flagged = form.action == "flag";
            with_imap!(state, &user.0, |s| {
                imap::mailbox::set_flagged(s, &form.folder, &[form.uid], flagged).await
            })?;
            let notice = if flagged { "flagged" } else { "unflagged" };
            Ok(Redirect::to(&format!(
                "{}&notice={notice}",
                message_href(&form.folder, form.uid)
            ))
            .into_response())
        }
        "move" => {
            let target = form
                .target
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    PageError::BadRequest("Choose the folder to move the message to.".into())
                })?;
            PageError::refusal_is_the_answer(with_imap!(state, &user.0, |s| {
                imap::mailbox::move_messages(s, &form.folder, &[form.uid], target).await
            }))?;
            Ok(back("moved"))
        }
        other => Err(PageError::BadRequest(format!(
            "Unknown action \"{other}\"."
        ))),
    }
}

/// Every certificate the directory, `owner`'s contacts and harvest hold for the message's
/// senders, for the engine to pick a signer's from. Trust is decided afterwards, as for a
/// carried certificate.
async fn known_certificates(state: &Shared, owner: &str, raw: &[u8]) -> Vec<smime::Certificate> {
    let mut out = Vec::new();
    for address in secure::from_addresses(raw) {
        out.extend(state.known_certificates(owner, &address).await);
    }
    out
}

/// Checks each signer's certificate (chain, revocation) and words the verdicts; a valid,
/// trusted signer's certificate goes into `owner`'s address book.
async fn signature_reports(
    state: &Shared,
    owner: &str,
    signed: &SignedMail,
    from: &str,
) -> Vec<secure::SignatureReport> {
    let now = crate::db::now();
    let mut reports = Vec::new();
    for signer in &signed.signers {
        let facts = SignerFacts::from_result(signer);
        let cert = signer
            .certificate
            .as_ref()
            .and_then(|c| Certificate::from_der(c.der()).ok());
        let checked = match &cert {
            Some(cert) => Some(
                state
                    .checker()
                    .check(cert, &signed.carried, Usage::Sign, None, now)
                    .await,
            ),
            None => None,
        };
        if let (Some(cert), Some(checked)) = (&cert, &checked) {
            super::api::learn_capabilities(state, &facts, cert, checked).await;
            // A certificate the server offered was known already: nothing to harvest.
            if !signer.certificate_supplied {
                super::api::harvest_signer(state, owner, &facts, cert, checked, from).await;
            }
        }
        reports.push(secure::report(
            &facts,
            cert.as_ref(),
            checked.as_ref(),
            from,
        ));
    }
    reports
}

#[derive(Deserialize)]
pub struct RawQuery {
    folder: String,
    uid: u32,
}

/// The message exactly as stored, for the browser to decrypt. Never cached: it is the
/// recipient's ciphertext, but still theirs only.
pub async fn raw_message(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<RawQuery>,
) -> Result<Response, PageError> {
    let raw = with_imap!(state, &user.0, |s| {
        imap::mailbox::fetch(s, &q.folder, q.uid, false).await
    })?;
    let mut response = (StatusCode::OK, raw).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
