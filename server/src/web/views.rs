//! View models: exactly what each template shows, already formatted.

use askama::Template;
use askama_web::WebTemplate;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::imap::mailbox::Conversation;
use crate::imap::search::{Field, Order};
use crate::imap::{Folder, FolderRole, MessageSummary};
use crate::policy::SmimePolicy;

/// No inline script or style anywhere but the import map (allowed by its hash), so the policy
/// can be strict. `wasm-unsafe-eval` lets the page compile our own WebAssembly module and
/// nothing else. `remote_images` is for a message
/// whose reader clicked "Show images". Only the kiosk app, when there is one, may frame a page.
pub fn content_security_policy(remote_images: bool, kiosk_app_origin: Option<&str>) -> String {
    let images = if remote_images {
        "'self' https: http:"
    } else {
        "'self'"
    };
    let framers = kiosk_app_origin.unwrap_or("'none'");
    let import_map = crate::web::assets::import_map_source();
    format!(
        "default-src 'self'; script-src 'self' {import_map} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src {images}; connect-src 'self'; frame-ancestors {framers}; form-action 'self'; \
         base-uri 'none'; object-src 'none'"
    )
}

pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

pub fn folder_href(name: &str) -> String {
    format!("/mail?folder={}", enc(name))
}

pub fn message_href(folder: &str, uid: u32) -> String {
    format!("/message?folder={}&uid={uid}", enc(folder))
}

pub use crate::mail::{format_date, format_size};

/// Short confirmations after an action, chosen by a fixed key so a link cannot inject text.
pub fn notice_text(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "sent" => "Your message was sent.",
        "deleted" => "The message was moved to Trash.",
        "purged" => "The message was deleted permanently.",
        "moved" => "The message was moved.",
        "unread" => "The message was marked as unread.",
        "flagged" => "The message was flagged.",
        "unflagged" => "The flag was removed.",
        "saved" => "Draft saved.",
        "options" => "Your options were saved.",
        "vacation" => "Your out-of-office settings were saved.",
        "filter-added" => "The filter was added.",
        "filter-removed" => "The filter was removed.",
        "removed" => "The certificate was removed from your address book.",
        "gone" => "That certificate was no longer in your address book.",
        "contact-saved" => "The contact was saved.",
        "contact-added" => "The sender was added to your contacts.",
        "contact-known" => "The sender is already in your contacts.",
        "contact-deleted" => "The contact was deleted.",
        "contact-gone" => "That contact was no longer in your address book.",
        "identity-added" => "The address was added to your identities.",
        "identity-saved" => "The identity was saved.",
        "identity-default" => "New messages now start from that identity.",
        "identity-removed" => "The address was removed from your identities.",
        "none-selected" => "No message was selected: tick the box next to each message first.",
        "selected-deleted" => "The selected messages were moved to Trash.",
        "selected-purged" => "The selected messages were deleted permanently.",
        "selected-moved" => "The selected messages were moved.",
        "selected-read" => "The selected messages were marked as read.",
        "selected-unread" => "The selected messages were marked as unread.",
        "selected-flagged" => "The selected messages were flagged.",
        "selected-unflagged" => "The flags were removed from the selected messages.",
        "folder-created" => "The folder was created.",
        "folder-renamed" => "The folder was renamed.",
        "folder-deleted" => "The folder and its messages were deleted.",
        "subscribed" => "The folder is listed again.",
        "unsubscribed" => {
            "The folder is no longer listed; its mail stays, and it can be listed again here."
        }
        "emptied" => "Trash was emptied.",
        _ => return None,
    })
}

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub email: String,
    pub csrf: String,
    pub folders: Vec<FolderLink>,
    pub notice: Option<&'static str>,
    /// The kiosk setting: a removed smart card signs the user out.
    pub card_removal_signs_out: bool,
}

pub struct FolderLink {
    pub name: String,
    pub label: String,
    pub unseen: u32,
    pub href: String,
    pub current: bool,
}

impl Chrome {
    pub fn new(
        email: &str,
        csrf: &str,
        folders: &[Folder],
        current: &str,
        notice: Option<&'static str>,
    ) -> Self {
        // The sidebar lists what the user subscribed to (special folders always); the folders
        // page lists everything.
        let folders = folders
            .iter()
            .filter(|f| f.subscribed)
            .map(|f| FolderLink {
                name: f.name.clone(),
                label: f.display_name.clone(),
                // Unread counts in Sent, Drafts or Trash are noise.
                unseen: if matches!(
                    f.role,
                    Some(FolderRole::Sent | FolderRole::Drafts | FolderRole::Trash)
                ) {
                    0
                } else {
                    f.unseen
                },
                href: folder_href(&f.name),
                current: f.name == current,
            })
            .collect();
        Self {
            email: email.to_string(),
            csrf: csrf.to_string(),
            folders,
            notice,
            card_removal_signs_out: false,
        }
    }

    /// What the page furniture takes from the admin's policy.
    pub fn with_policy(mut self, policy: &SmimePolicy) -> Self {
        self.card_removal_signs_out = policy.card_removal_signs_out;
        self
    }
}

pub struct MessageRow {
    pub uid: u32,
    pub href: String,
    pub from: String,
    pub subject: String,
    pub date: String,
    pub size: String,
    pub unread: bool,
    pub flagged: bool,
    /// As the message's structure declares; the signature is only checked on opening.
    pub signed: bool,
    pub encrypted: bool,
    /// The folder's name for people, in results from every folder.
    pub folder: Option<String>,
    /// Its selection box starts ticked ("Select all on this page" without script).
    pub checked: bool,
    /// Seconds since 1970 of the date shown (0 if none): the search page places what the
    /// browser found inside encrypted messages among these rows by it.
    pub timestamp: i64,
}

impl MessageRow {
    pub fn new(folder: &str, m: &MessageSummary) -> Self {
        Self {
            uid: m.uid,
            href: message_href(folder, m.uid),
            from: if m.from.is_empty() {
                "(unknown sender)".into()
            } else {
                m.from.clone()
            },
            subject: if m.subject.trim().is_empty() {
                "(no subject)".into()
            } else {
                m.subject.clone()
            },
            date: format_date(m.date.or(m.received)),
            size: format_size(m.size as usize),
            unread: !m.seen,
            flagged: m.flagged,
            signed: m.protection.signed,
            encrypted: m.protection.encrypted,
            folder: None,
            checked: false,
            timestamp: m.date.or(m.received).unwrap_or(0),
        }
    }

    pub fn class(&self) -> &'static str {
        match (self.unread, self.flagged) {
            (true, true) => "unread flagged",
            (true, false) => "unread",
            (false, true) => "flagged",
            (false, false) => "",
        }
    }
}

/// One conversation in a folder shown as conversations: what its closed line says, and its
/// messages in reading order with how deep in the replies each is.
pub struct ConversationView {
    /// The subject of the message that starts it.
    pub subject: String,
    /// Who wrote its latest message, and when.
    pub from: String,
    pub date: String,
    pub unread: bool,
    pub messages: Vec<(u32, MessageRow)>,
}

impl ConversationView {
    pub fn new(folder: &str, conversation: &Conversation) -> Self {
        let messages: Vec<(u32, MessageRow)> = conversation
            .messages
            .iter()
            .map(|(depth, m)| (*depth, MessageRow::new(folder, m)))
            .collect();
        let latest = conversation.messages.iter().max_by_key(|(_, m)| m.uid);
        let latest_row = latest.map(|(_, m)| MessageRow::new(folder, m));
        Self {
            subject: messages
                .first()
                .map(|(_, r)| r.subject.clone())
                .unwrap_or_default(),
            from: latest_row
                .as_ref()
                .map(|r| r.from.clone())
                .unwrap_or_default(),
            date: latest_row.map(|r| r.date).unwrap_or_default(),
            unread: messages.iter().any(|(_, r)| r.unread),
            messages,
        }
    }

    /// Replies are indented, up to a depth a phone can still show.
    pub fn indent(depth: &u32) -> u32 {
        (*depth).min(5)
    }
}

/// The search form as the person left it, shown on folder pages and above results.
#[derive(Default)]
pub struct SearchBox {
    pub q: String,
    /// `all`, `from`, `to`, `subject` or `body`.
    pub field: &'static str,
    /// The folder "This folder" means (the server's name).
    pub folder: String,
    pub all_folders: bool,
    pub unread: bool,
    pub flagged: bool,
    pub attachments: bool,
    /// Days as `YYYY-MM-DD`, as the date inputs send them.
    pub since: String,
    pub until: String,
}

impl SearchBox {
    pub fn for_folder(folder: &str) -> Self {
        Self {
            field: field_value(Field::All),
            folder: folder.to_string(),
            ..Self::default()
        }
    }

    /// Opens the filters when one is in use, so a person sees why results are few.
    pub fn filtering(&self) -> bool {
        self.unread
            || self.flagged
            || self.attachments
            || !self.since.is_empty()
            || !self.until.is_empty()
    }
}

pub fn field_value(field: Field) -> &'static str {
    match field {
        Field::All => "all",
        Field::From => "from",
        Field::Recipients => "to",
        Field::Subject => "subject",
        Field::Body => "body",
    }
}

pub fn parse_field(value: Option<&str>) -> Field {
    match value.unwrap_or("") {
        "from" => Field::From,
        "to" => Field::Recipients,
        "subject" => Field::Subject,
        "body" => Field::Body,
        _ => Field::All,
    }
}

pub fn order_value(order: Order) -> &'static str {
    match order {
        Order::Received => "received",
        Order::Date => "date",
        Order::From => "from",
        Order::Subject => "subject",
        Order::Size => "size",
    }
}

/// The `&sort=` part of a folder link; none for the default order, so plain links stay plain.
pub fn sort_param(order: Order) -> String {
    if order == Order::default() {
        String::new()
    } else {
        format!("&sort={}", order_value(order))
    }
}

pub fn parse_order(value: Option<&str>) -> Order {
    match value.unwrap_or("") {
        "from" => Order::From,
        "subject" => Order::Subject,
        "size" => Order::Size,
        "date" => Order::Date,
        _ => Order::Received,
    }
}

/// How a list is ordered, in the words of its caption.
pub fn order_words(order: Order, sorted: bool) -> &'static str {
    match (order, sorted) {
        (Order::Received, _) => "newest first",
        (_, false) => "in order of arrival, newest first",
        (Order::Date, true) => "by date, newest first",
        (Order::From, true) => "by sender",
        (Order::Subject, true) => "by subject",
        (Order::Size, true) => "largest first",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub chrome: Chrome,
    /// `ClientPolicy` as JSON: dual keys and key archival shape the page.
    pub policy: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "contacts.html")]
pub struct AddressBookPage {
    pub chrome: Chrome,
    /// One page of the user's personal contacts, by name.
    pub people: Vec<PersonRow>,
    /// What the list is narrowed to ("Find a contact"), empty for everyone.
    pub filter: String,
    /// "1–100 of 250", empty when none is listed.
    pub shown: String,
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub contacts: Vec<AddressBookRow>,
    /// From signed mail.
    pub harvested: Vec<AddressBookRow>,
    /// What an import came to.
    pub report: Option<String>,
    /// Why an import was refused.
    pub error: Option<String>,
}

/// A personal contact as the address book lists it.
pub struct PersonRow {
    pub uid: String,
    pub name: String,
    pub phone: String,
    pub notes: String,
    pub addresses: Vec<ContactAddressRow>,
}

/// One of a contact's addresses and whether mail to it can be encrypted.
pub struct ContactAddressRow {
    pub address: String,
    /// The certificate mail to it would be encrypted to, when there is one.
    pub certificate: Option<CertificateFacts>,
    /// Why it cannot receive encrypted mail, or a warning about the certificate.
    pub reason: String,
}

pub struct CertificateFacts {
    pub subject: String,
    pub issuer: String,
    pub expires: String,
    /// Where it was found: "directory userCertificate", "contacts", "signed mail", …
    pub source: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "identities.html")]
pub struct IdentitiesPage {
    pub chrome: Chrome,
    pub identities: Vec<IdentityRow>,
    /// What the user may add, or None when the admin allows no addresses of their own.
    pub add_hint: Option<String>,
    pub error: Option<String>,
    /// The add form as typed, when it was refused.
    pub address: String,
    pub name: String,
    pub signature: String,
    pub max_name: usize,
    pub max_signature: usize,
}

pub struct IdentityRow {
    pub address: String,
    /// `Name <address>`, as the From header shows it.
    pub from_text: String,
    pub display_name: String,
    pub signature: String,
    pub is_default: bool,
    /// Where it comes from, in words.
    pub origin: &'static str,
    pub removable: bool,
}

/// A From address the compose page offers.
pub struct FromChoice {
    pub address: String,
    pub from_text: String,
    /// Its signature text, for the page's script to swap when the From changes.
    pub signature: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "contact_form.html")]
pub struct ContactFormPage {
    pub chrome: Chrome,
    /// None for a new contact.
    pub uid: Option<String>,
    pub name: String,
    /// One address per line, as typed.
    pub addresses: String,
    pub phone: String,
    pub notes: String,
    pub error: Option<String>,
}

pub struct AddressBookRow {
    pub address: String,
    pub subject: String,
    pub issuer: String,
    pub expires: String,
    pub expired: bool,
    /// When it was added or first harvested.
    pub added: String,
    /// `contact` or `harvested`: what the remove form names.
    pub source: &'static str,
    pub fingerprint: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "options.html")]
pub struct OptionsPage {
    pub chrome: Chrome,
    pub options: crate::options::UserOptions,
    /// Forced by the admin: the box is shown checked and locked.
    pub always_sign: bool,
    pub always_encrypt: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "folder.html")]
pub struct FolderPage {
    pub chrome: Chrome,
    pub title: String,
    pub search: SearchBox,
    /// The sort selector's value (`date`, `from`, `subject`, `size`).
    pub sort: &'static str,
    /// "50 messages, page 1 of 2, newest first".
    pub caption: String,
    /// Folder pages list one folder: no Folder column.
    pub show_folder: bool,
    /// Rows have selection boxes for the actions on selected messages.
    pub select: bool,
    /// This page with every box ticked: "Select all on this page" without script.
    pub select_all_href: String,
    pub rows: Vec<MessageRow>,
    /// Shown as conversations (then `rows` is empty).
    pub conversations: Option<Vec<ConversationView>>,
    /// The server can thread: the page offers "Show as conversations" / "Show as a list".
    pub can_thread: bool,
    pub page: u32,
    pub pages: u32,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
}

impl FolderPage {
    /// Neither messages nor conversations to list.
    pub fn lists_nothing(&self) -> bool {
        self.rows.is_empty() && self.conversations.as_ref().is_none_or(Vec::is_empty)
    }
}

/// One folder on the folders page.
pub struct ManagedFolder {
    pub name: String,
    pub label: String,
    /// The name within its parent, what "Rename" starts from.
    pub leaf: String,
    pub href: String,
    pub messages: String,
    pub subscribed: bool,
    /// Special folders: no rename, no delete, always listed.
    pub protected: bool,
    /// Trash with something in it: "Empty Trash" is offered.
    pub emptiable: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "folders.html")]
pub struct FoldersPage {
    pub chrome: Chrome,
    pub folders: Vec<ManagedFolder>,
    /// Why the last change was refused (nothing was changed).
    pub error: Option<String>,
    /// What was typed in the create form, kept when it is refused.
    pub typed: String,
    pub typed_parent: String,
    /// No hierarchy on this server: no "Inside" choice.
    pub nested: bool,
}

/// "Are you sure?" before something that deletes mail, naming how much.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub question: String,
    pub action: &'static str,
    pub folder: String,
    pub messages: u32,
    pub button: String,
    /// Shown above the question when asking again (the folder changed meanwhile).
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub chrome: Chrome,
    pub search: SearchBox,
    /// Why nothing was searched (an empty or too long query, a wrong date).
    pub problem: Option<String>,
    /// Whether a search ran (and so `rows` are its results).
    pub searched: bool,
    /// "Inbox" or "all folders".
    pub scope_words: String,
    pub caption: String,
    /// Results from every folder say which folder each is in.
    pub show_folder: bool,
    /// Results have no selection boxes (they span folders).
    pub select: bool,
    pub rows: Vec<MessageRow>,
    /// Every match, even beyond what is shown.
    pub matches: usize,
    /// Only the newest this many are listed.
    pub shown_limit: Option<usize>,
    pub page: u32,
    pub pages: u32,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
}

pub struct AttachmentRow {
    pub href: String,
    pub name: String,
    pub size: String,
    pub content_type: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub folder: String,
    pub folder_label: String,
    pub folder_href: String,
    pub uid: u32,
    pub subject: String,
    pub from: String,
    /// The first sender, for "Add to contacts": display name (may be empty) and address.
    pub sender_name: String,
    pub sender_address: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub date: String,
    /// The Date header in seconds since 1970 (0 without one): the browser's index of encrypted
    /// mail lists its results by it.
    pub timestamp: i64,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub show_images_href: Option<String>,
    pub attachments: Vec<AttachmentRow>,
    pub move_targets: Vec<FolderLink>,
    pub is_draft: bool,
    pub flagged: bool,
    /// Where the browser fetches the stored message to decrypt it.
    pub raw_href: String,
    /// SmartCardOnly: the page must not decrypt with keys held in the browser.
    pub smart_card_only: bool,
    pub security: Security,
}

/// What the message page says about S/MIME.
#[derive(Default)]
pub struct Security {
    /// One report per signer of signed-only mail (the server verified these).
    pub signatures: Vec<crate::mail::secure::SignatureReport>,
    /// The browser has to open it.
    pub encrypted: bool,
    pub damaged: Option<String>,
}

impl Security {
    /// An empty report: the page's `<template>` for banners the browser fills in.
    pub fn blank_signature(&self) -> crate::mail::secure::SignatureReport {
        Default::default()
    }
}

pub struct KeptAttachment {
    pub part: usize,
    pub name: String,
    pub content_type: String,
    pub size: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "compose.html")]
pub struct ComposePage {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub error: Option<String>,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub body: String,
    /// Written as formatted text: the page's editor starts from `body_html`, and the plain
    /// `body` stays the text for a browser without scripts.
    pub formatted: bool,
    pub body_html: String,
    pub send_id: String,
    /// An earlier attempt of this send may have gone out: "Send again as a new message" is
    /// offered (and plain "Send" is refused with the explanation).
    pub uncertain: bool,
    /// The upload limit, so the page can refuse oversized attachments before sending them.
    pub max_upload_bytes: usize,
    pub draft_uid: Option<u32>,
    pub source_folder: String,
    pub source_uid: Option<u32>,
    pub kept: Vec<KeptAttachment>,
    pub in_reply_to: String,
    pub references: String,
    /// Where the signing and encryption toggles start (the user's options).
    pub sign: bool,
    pub encrypt: bool,
    /// Forced on by the admin (AlwaysSign, AlwaysEncrypt): shown pressed and locked.
    pub sign_locked: bool,
    pub encrypt_locked: bool,
    /// The policy the page's script follows (`policy::ClientPolicy` as JSON).
    pub policy: String,
    /// Opened from an encrypted draft: where the browser fetches it to decrypt the body and
    /// attachments into the form.
    pub sealed_draft_href: Option<String>,
    /// The From addresses the user may choose from (a selector when there are several).
    pub from_choices: Vec<FromChoice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dates_read_naturally() {
        assert_eq!(format_size(512), "512 bytes");
        assert_eq!(format_size(2 * 1024 * 1024), "2.0 MB");
        assert_eq!(format_date(Some(0)), "1970-01-01 00:00 UTC");
        assert_eq!(format_date(None), "");
    }

    #[test]
    fn folder_names_are_escaped_in_links() {
        assert_eq!(folder_href("Work & Play"), "/mail?folder=Work%20%26%20Play");
    }

    #[test]
    fn unknown_notices_show_nothing() {
        assert_eq!(notice_text(Some("<script>")), None);
        assert!(notice_text(Some("sent")).is_some());
    }
}

/// What the out-of-office form holds: the stored reply, or what the user typed when saving it
/// failed.
#[derive(Debug, Clone, Default)]
pub struct VacationFields {
    pub enabled: bool,
    pub start: String,
    pub end: String,
    pub subject: String,
    pub text: String,
    pub days: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "vacation.html")]
pub struct VacationPage {
    pub chrome: Chrome,
    /// False when no ManageSieve server is configured: the page says so and shows no form.
    pub available: bool,
    /// "Your out-of-office reply is on until 12 December."
    pub status: Option<String>,
    pub fields: VacationFields,
    /// Why the reply could not be read or saved (nothing was changed).
    pub error: Option<String>,
    /// The name of an active script Sealmail did not write: saving asks before replacing it.
    pub foreign: Option<String>,
}

/// One filter as listed: "If Sender contains x: move to Work".
pub struct FilterRow {
    pub index: usize,
    pub field: &'static str,
    pub contains: String,
    pub action: String,
}

/// What the "Add a filter" form holds, kept when saving fails.
#[derive(Debug, Clone, Default)]
pub struct FilterFields {
    pub field: String,
    pub contains: String,
    pub action: String,
    pub folder: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "filters.html")]
pub struct FiltersPage {
    pub chrome: Chrome,
    pub available: bool,
    pub filters: Vec<FilterRow>,
    /// Folders a filter may move mail into, as Sieve names them (hierarchy with '/').
    pub folders: Vec<String>,
    pub fields: FilterFields,
    pub error: Option<String>,
    pub foreign: Option<String>,
}
