//! View models: exactly what each template shows, already formatted.

use askama::Template;
use askama_web::WebTemplate;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::imap::{Folder, FolderRole};
use crate::policy::SmimePolicy;

/// No inline script or style anywhere, so the policy can be strict. `wasm-unsafe-eval` lets the
/// page compile our own WebAssembly module and nothing else. `remote_images` is for a message
/// whose reader clicked "Show images". Only the kiosk app, when there is one, may frame a page.
pub fn content_security_policy(remote_images: bool, kiosk_app_origin: Option<&str>) -> String {
    let images = if remote_images {
        "'self' https: http:"
    } else {
        "'self'"
    };
    let framers = kiosk_app_origin.unwrap_or("'none'");
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
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

pub use crate::mail::format_date;

pub fn format_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Short confirmations after an action, chosen by a fixed key so a link cannot inject text.
pub fn notice_text(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "sent" => "Your message was sent.",
        "deleted" => "The message was moved to Trash.",
        "purged" => "The message was deleted permanently.",
        "moved" => "The message was moved.",
        "unread" => "The message was marked as unread.",
        "saved" => "Draft saved.",
        "options" => "Your options were saved.",
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
        let folders = folders
            .iter()
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
    pub href: String,
    pub from: String,
    pub subject: String,
    pub date: String,
    pub size: String,
    pub unread: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub chrome: Chrome,
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
    pub rows: Vec<MessageRow>,
    pub total: u32,
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
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub date: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub show_images_href: Option<String>,
    pub attachments: Vec<AttachmentRow>,
    pub move_targets: Vec<FolderLink>,
    pub is_draft: bool,
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
