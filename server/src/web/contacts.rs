//! The address book: the user's personal contacts (each address with the certificate mail to
//! it would be encrypted to, or why there is none), added, edited, deleted, imported from and
//! exported to `.vcf`, and added in one click from a message; below them the certificates the
//! user added to contacts and those harvested from signed mail, with a way to remove each.

use axum::Form;
use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use serde::Deserialize;

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::views::{
    self, AddressBookPage, AddressBookRow, CertificateFacts, Chrome, ContactAddressRow,
    ContactFormPage, PersonRow,
};
use crate::contacts::{Contact, Draft, new_uid, vcard};
use crate::directory::UserSource;
use crate::directory::harvest::Kept;
use crate::directory::lookup;
use crate::imap;
use pki::{Certificate, Usage};

/// Address lookups in flight at once while the address book is drawn.
const LOOKUP_CONCURRENCY: usize = 16;

/// People listed on one page: each address is looked up as it is drawn, so a book of 10,000
/// is shown a page at a time.
const PAGE_SIZE: usize = 100;

#[derive(Deserialize)]
pub struct BookQuery {
    notice: Option<String>,
    /// Only people whose name or an address contains this.
    #[serde(default)]
    q: String,
    /// Text, not a number: a mangled link still shows page 1.
    page: Option<String>,
}

pub async fn address_book(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<BookQuery>,
) -> Result<Response, PageError> {
    let notice = views::notice_text(q.notice.as_deref());
    let number = q
        .page
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1);
    let listing = Listing {
        filter: q.q.trim().to_string(),
        number,
    };
    Ok(page(&state, &user, notice, &listing, None, None)
        .await?
        .into_response())
}

/// Which people the page lists.
#[derive(Default)]
struct Listing {
    filter: String,
    /// From 1.
    number: usize,
}

impl Listing {
    fn href(&self, number: usize) -> String {
        let mut href = format!("/contacts?page={number}");
        if !self.filter.is_empty() {
            href.push_str("&q=");
            href.push_str(&views::enc(&self.filter));
        }
        href
    }
}

async fn chrome(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
) -> Result<Chrome, PageError> {
    let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
    Ok(
        Chrome::new(&user.0.email, &user.0.csrf_token, &folders, "", notice)
            .with_policy(&state.policy.current()),
    )
}

/// The address book page, with an import's report or the reason it was refused.
async fn page(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
    listing: &Listing,
    report: Option<String>,
    error: Option<String>,
) -> Result<AddressBookPage, PageError> {
    let chrome = chrome(state, user, notice).await?;
    let owner = &user.0.email;
    let kept = state.directory.address_book(owner).await?;
    let now = crate::db::now();
    let (harvested, contacts): (Vec<_>, Vec<_>) = kept
        .iter()
        .filter_map(|k| row(k, now))
        .partition(|r| r.source == UserSource::Harvested.as_str());
    let number = listing.number.max(1);
    let offset = (number - 1).saturating_mul(PAGE_SIZE);
    let (people, total) = state
        .contacts
        .page(owner, &listing.filter, offset, PAGE_SIZE)
        .await?;
    let shown = if people.is_empty() {
        String::new()
    } else {
        format!("{}–{} of {total}", offset + 1, offset + people.len())
    };
    let previous_href = (number > 1).then(|| listing.href(number - 1));
    let next_href = (offset + people.len() < total).then(|| listing.href(number + 1));
    let people = futures::stream::iter(people)
        .map(|c| person_row(state, owner, c, now))
        .buffered(LOOKUP_CONCURRENCY)
        .collect()
        .await;
    Ok(AddressBookPage {
        chrome,
        people,
        filter: listing.filter.clone(),
        shown,
        previous_href,
        next_href,
        contacts,
        harvested,
        report,
        error,
    })
}

/// A contact with, for each address, what the recipient lookup of the compose page would
/// find: the same answer, so the page and a send never disagree.
async fn person_row(state: &Shared, owner: &str, contact: Contact, now: i64) -> PersonRow {
    let checker = state.checker();
    let mut addresses = Vec::new();
    for address in contact.addresses {
        let found = lookup::find_certificate(
            &state.directory,
            &checker,
            owner,
            &address,
            Usage::Encrypt,
            now,
        )
        .await;
        addresses.push(ContactAddressRow {
            certificate: found.certificate.as_ref().map(|cert| CertificateFacts {
                subject: cert.subject(),
                issuer: cert.issuer(),
                expires: views::format_date(Some(cert.not_after())),
                source: found.source.map(|s| s.label()).unwrap_or_default(),
            }),
            reason: found.reason,
            address,
        });
    }
    PersonRow {
        uid: contact.uid,
        name: contact.display_name,
        phone: contact.phone,
        notes: contact.notes,
        addresses,
    }
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

/// A contact that is no longer there (deleted in another tab, a stale link).
fn gone() -> PageError {
    PageError::BadRequest(
        "That contact is no longer in your address book; it may have been deleted in another tab. \
         Nothing was changed."
            .into(),
    )
}

#[derive(Deserialize)]
pub struct EditQuery {
    uid: Option<String>,
}

/// The form for a new contact, or for changing one.
pub async fn edit(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    let contact = match &q.uid {
        Some(uid) => Some(
            state
                .contacts
                .get(&user.0.email, uid)
                .await?
                .ok_or_else(gone)?,
        ),
        None => None,
    };
    let chrome = chrome(&state, &user, None).await?;
    let page = match contact {
        Some(c) => ContactFormPage {
            chrome,
            uid: Some(c.uid),
            name: c.display_name,
            addresses: c.addresses.join("\n"),
            phone: c.phone,
            notes: c.notes,
            error: None,
        },
        None => ContactFormPage {
            chrome,
            uid: None,
            name: String::new(),
            addresses: String::new(),
            phone: String::new(),
            notes: String::new(),
            error: None,
        },
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ContactForm {
    csrf: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    name: String,
    /// One per line, or separated by commas or semicolons.
    #[serde(default)]
    addresses: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    notes: String,
}

/// Saves the form: a new contact, or changes to one. A mistake shows the form again, as
/// typed, with what is wrong.
pub async fn save(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let uid = (!form.uid.is_empty()).then(|| form.uid.clone());
    if let Some(uid) = &uid
        && state.contacts.get(&user.0.email, uid).await?.is_none()
    {
        return Err(gone());
    }
    let draft = Draft {
        uid: uid.clone(),
        display_name: form.name.clone(),
        addresses: form
            .addresses
            .split(['\n', ',', ';'])
            .map(str::to_string)
            .collect(),
        phone: form.phone.clone(),
        notes: form.notes.clone(),
    };
    match draft.check(new_uid) {
        Ok(contact) => {
            state.contacts.save(&user.0.email, &contact).await?;
            Ok(Redirect::to("/contacts?notice=contact-saved").into_response())
        }
        Err(why) => {
            let page = ContactFormPage {
                chrome: chrome(&state, &user, None).await?,
                uid,
                name: form.name,
                addresses: form.addresses,
                phone: form.phone,
                notes: form.notes,
                error: Some(why.to_string()),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
    uid: String,
}

pub async fn delete(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let deleted = state.contacts.delete(&user.0.email, &form.uid).await?;
    // A second click, or another tab, is not an error.
    let notice = if deleted {
        "contact-deleted"
    } else {
        "contact-gone"
    };
    Ok(Redirect::to(&format!("/contacts?notice={notice}")).into_response())
}

#[derive(Deserialize)]
pub struct FromMessageForm {
    csrf: String,
    #[serde(default)]
    name: String,
    address: String,
}

/// "Add sender to contacts" on a message: one click, the sender's name and address.
pub async fn from_message(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<FromMessageForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let owner = &user.0.email;
    if state
        .contacts
        .holding(owner, &form.address)
        .await?
        .is_some()
    {
        return Ok(Redirect::to("/contacts?notice=contact-known").into_response());
    }
    let draft = Draft {
        uid: None,
        display_name: form.name,
        addresses: vec![form.address],
        ..Draft::default()
    };
    let contact = draft
        .check(new_uid)
        .map_err(|why| PageError::BadRequest(format!("The sender cannot be added: {why}")))?;
    state.contacts.save(owner, &contact).await?;
    Ok(Redirect::to("/contacts?notice=contact-added").into_response())
}

/// The form field an import's file comes in.
const VCF_FIELD: &str = "vcf";

/// Imports a `.vcf` file: everything in it or, when it is refused, nothing.
pub async fn import(
    State(state): State<Shared>,
    user: User,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut token = String::new();
    let mut file: Option<Vec<u8>> = None;
    let refused = |why: String| (StatusCode::UNPROCESSABLE_ENTITY, why);
    let read = async {
        while let Some(mut field) = multipart.next_field().await? {
            match field.name() {
                Some("csrf") => token = field.text().await?,
                Some(VCF_FIELD) => {
                    let mut bytes = Vec::new();
                    while let Some(chunk) = field.chunk().await? {
                        bytes.extend_from_slice(&chunk);
                        // Stop reading at the limit rather than hold a huge upload in memory.
                        if bytes.len() > vcard::MAX_BYTES {
                            break;
                        }
                    }
                    file = Some(bytes);
                }
                _ => {}
            }
        }
        Ok::<(), axum::extract::multipart::MultipartError>(())
    };
    let outcome = match read.await {
        Ok(()) => Ok(()),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(refused(vcard::VcardError::TooLarge.to_string()))
        }
        Err(e) => Err(refused(format!(
            "The upload could not be read: {}",
            e.body_text()
        ))),
    };
    if outcome.is_ok() {
        user.check_token(&token)?;
    }
    let outcome = outcome.and_then(|()| match file {
        Some(bytes) if !bytes.is_empty() => {
            vcard::parse(&bytes).map_err(|e| refused(e.to_string()))
        }
        _ => Err(refused("Choose a .vcf file to import.".into())),
    });
    let (status, report, error) = match outcome {
        Ok(cards) => {
            let report = state.contacts.import(&user.0.email, cards).await?;
            (StatusCode::OK, Some(report.summary()), None)
        }
        Err((status, why)) => (status, None, Some(format!("Nothing was imported. {why}"))),
    };
    let page = page(&state, &user, None, &Listing::default(), report, error).await?;
    Ok((status, page).into_response())
}

/// All contacts as one vCard 4.0 file.
pub async fn export(State(state): State<Shared>, user: User) -> Result<Response, PageError> {
    let contacts = state.contacts.list(&user.0.email).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/vcard; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contacts.vcf\"",
            ),
        ],
        vcard::write(&contacts),
    )
        .into_response())
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
        .await?;
    // Removing what is already gone (a second click, another tab) is not an error.
    let notice = if removed { "removed" } else { "gone" };
    Ok(Redirect::to(&format!("/contacts?notice={notice}")).into_response())
}
