//! Turns a raw message into what the message page shows: headers, a safe body, attachments.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::{address_list, bare_addresses};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("this message is malformed and cannot be shown")]
    Malformed,
}

#[derive(Debug)]
pub struct MessageView {
    pub subject: String,
    pub from: Vec<String>,
    pub from_addresses: Vec<String>,
    /// The first sender's display name, empty when it has none.
    pub sender_name: String,
    pub to: Vec<String>,
    pub to_addresses: Vec<String>,
    pub cc: Vec<String>,
    pub cc_addresses: Vec<String>,
    pub bcc: Vec<String>,
    pub date: Option<i64>,
    pub message_id: Option<String>,
    pub references: Vec<String>,
    pub body: Body,
    /// The body as plain text (HTML converted), for quoting in a reply.
    pub plain_text: String,
    /// The HTML body as the message carries it (unsanitised), for a formatted reply or a
    /// reopened formatted draft; `rich_text::sanitize` cleans it there.
    pub formatted: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Recipient fields exactly as typed, present on drafts this server saved.
    pub typed_to: Option<String>,
    /// A saved draft's send id (see `compose::SEND_ID`).
    pub send_id: Option<String>,
    pub typed_cc: Option<String>,
    pub typed_bcc: Option<String>,
}

#[derive(Debug)]
pub enum Body {
    Text(String),
    /// Sanitised HTML; `remote_blocked` says images from other sites were removed.
    Html {
        html: String,
        remote_blocked: bool,
    },
}

#[derive(Debug, Clone)]
pub struct AttachmentInfo {
    /// The part's index in the parsed message, stable for the same raw bytes.
    pub part: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
    /// Where the IMAP server keeps it, and a check of its bytes (see [`PartAddress`]); only
    /// when the caller makes links to parts.
    pub address: Option<PartAddress>,
}

/// Where a part is, for a link to it beside its index in the parsed message: the IMAP section
/// of it relative to the parsed entity (`"2"`, `"1.3"`; None for the entity itself) and a
/// digest of its decoded bytes. With the section the server fetches just
/// that part (`BODY.PEEK[section]`) instead of the whole message; the digest proves it is the
/// part the page showed, since the IMAP server's MIME tree and this parser's may differ on
/// malformed mail.
#[derive(Debug, Clone, PartialEq)]
pub struct PartAddress {
    pub section: Option<String>,
    pub sum: String,
}

/// Makes the link to a part from its index and address.
pub type PartUrl<'a> = &'a dyn Fn(usize, &PartAddress) -> String;

/// A part's decoded bytes, for download.
#[derive(Debug)]
pub struct PartContent {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Builds the page model. With `part_url` (a part's index and address to a link) each
/// attachment gets its address and `cid:` images their links; without it (a reply, a draft)
/// no part is hashed, and `cid:` images are left without a source.
pub fn view(
    raw: &[u8],
    show_remote_images: bool,
    part_url: Option<PartUrl<'_>>,
) -> Result<MessageView, ReadError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ReadError::Malformed)?;
    let attachment_parts: Vec<usize> = message
        .attachments
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| {
            message
                .parts
                .get(i)
                .is_some_and(|p| !matches!(p.body, PartType::Multipart(_)))
        })
        .collect();
    // Each linked part (an attachment, an image the HTML shows, or both) hashed once.
    let addresses: HashMap<usize, PartAddress> = match part_url {
        Some(_) => {
            let parents = parents(&message);
            let linked = message
                .parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.content_id().is_some())
                .map(|(i, _)| i)
                .chain(attachment_parts.iter().copied());
            linked
                .filter_map(|i| {
                    let part = message.parts.get(i)?;
                    Some((
                        i,
                        PartAddress {
                            section: section_of(&parents, i),
                            sum: sum_of(part_bytes(part)),
                        },
                    ))
                })
                .collect()
        }
        None => HashMap::new(),
    };
    let html_part = message
        .html_body
        .first()
        .and_then(|&i| message.parts.get(i as usize))
        .filter(|p| matches!(p.body, PartType::Html(_)));
    let formatted = html_part.map(|p| p.text_contents().unwrap_or_default().to_string());
    let body = match html_part {
        Some(part) => {
            let cid_urls: HashMap<String, String> = message
                .parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let url = match (part_url, addresses.get(&i)) {
                        (Some(url), Some(address)) => url(i, address),
                        _ => String::new(),
                    };
                    Some((p.content_id()?.trim_matches(['<', '>']).to_string(), url))
                })
                .collect();
            let (html, remote_blocked) = sanitize_html(
                part.text_contents().unwrap_or_default(),
                show_remote_images,
                &cid_urls,
            );
            Body::Html {
                html,
                remote_blocked,
            }
        }
        None => Body::Text(
            message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        ),
    };
    let attachments = attachment_parts
        .iter()
        .filter_map(|&i| {
            let part = message.parts.get(i)?;
            Some(AttachmentInfo {
                part: i,
                name: part_name(part, i),
                content_type: content_type_of(part),
                size: part.contents().len(),
                address: addresses.get(&i).cloned(),
            })
        })
        .collect();
    let references = match message.references().as_text_list() {
        Some(list) => list.iter().map(|s| s.to_string()).collect(),
        None => message
            .references()
            .as_text()
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
    };
    Ok(MessageView {
        subject: message.subject().unwrap_or("").to_string(),
        from: address_list(message.from()),
        from_addresses: bare_addresses(message.from()),
        sender_name: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name.as_deref())
            .map(|n| n.trim().to_string())
            .unwrap_or_default(),
        to: address_list(message.to()),
        to_addresses: bare_addresses(message.to()),
        cc: address_list(message.cc()),
        cc_addresses: bare_addresses(message.cc()),
        bcc: address_list(message.bcc()),
        date: message.date().map(|d| d.to_timestamp()),
        message_id: message.message_id().map(str::to_string),
        references,
        body,
        plain_text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        formatted,
        attachments,
        typed_to: typed(&message, super::compose::TYPED_TO),
        typed_cc: typed(&message, super::compose::TYPED_CC),
        typed_bcc: typed(&message, super::compose::TYPED_BCC),
        send_id: typed(&message, super::compose::SEND_ID),
    })
}

fn typed(message: &mail_parser::Message<'_>, header: &str) -> Option<String> {
    message
        .header(header)
        .and_then(|v| v.as_text())
        .map(|t| t.trim().to_string())
}

/// The decoded content of part `index`: exactly the bytes the sender attached.
pub fn part_content(raw: &[u8], index: usize) -> Option<PartContent> {
    let message = MessageParser::default().parse(raw)?;
    content_of(message.parts.get(index)?, index)
}

/// The decoded content of one part fetched on its own: `entity` is its MIME header fields
/// (IMAP `BODY[section.MIME]`) followed by its body (`BODY[section]`). `index` is the part's
/// number in the whole message, for the name of a part that has none. None unless its bytes
/// have the digest `sum` the page's link carried.
pub fn lone_part_content(entity: &[u8], index: usize, sum: &str) -> Option<PartContent> {
    let message = MessageParser::default().parse(entity)?;
    let content = content_of(message.parts.first()?, index)?;
    (sum_of(&content.bytes) == sum).then_some(content)
}

fn content_of(part: &mail_parser::MessagePart<'_>, index: usize) -> Option<PartContent> {
    if matches!(part.body, PartType::Multipart(_)) {
        return None;
    }
    Some(PartContent {
        name: part_name(part, index),
        content_type: content_type_of(part),
        bytes: part_bytes(part).to_vec(),
    })
}

fn part_bytes<'a>(part: &'a mail_parser::MessagePart<'_>) -> &'a [u8] {
    match &part.body {
        PartType::Message(inner) => inner.raw_message(),
        _ => part.contents(),
    }
}

/// The first 16 bytes of the SHA-256 of a part's decoded bytes, in hex.
fn sum_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    send_rules::hex(&sha2::Sha256::digest(bytes)[..16])
}

/// Each part's multipart parent and its 1-based place among that parent's parts.
fn parents(message: &mail_parser::Message<'_>) -> HashMap<usize, (usize, usize)> {
    let mut parents = HashMap::new();
    for (i, part) in message.parts.iter().enumerate() {
        if let PartType::Multipart(children) = &part.body {
            for (position, &child) in children.iter().enumerate() {
                parents.insert(child as usize, (i, position + 1));
            }
        }
    }
    parents
}

/// The IMAP section number of part `index` (RFC 3501 §6.4.5), from where it sits among its
/// multipart parents; None for the root, which has no number of its own.
fn section_of(parents: &HashMap<usize, (usize, usize)>, index: usize) -> Option<String> {
    let mut path = Vec::new();
    let mut child = index;
    while child != 0 {
        let &(parent, position) = parents.get(&child)?;
        // A parser's tree has no cycles; a bound keeps a surprise from looping.
        if path.len() > 100 {
            return None;
        }
        path.push(position.to_string());
        child = parent;
    }
    path.reverse();
    (!path.is_empty()).then(|| path.join("."))
}

fn part_name(part: &mail_parser::MessagePart<'_>, index: usize) -> String {
    part.attachment_name()
        .map(str::to_string)
        .unwrap_or_else(|| match &part.body {
            PartType::Message(m) => format!("{}.eml", m.subject().unwrap_or("message")),
            _ => format!("part-{index}"),
        })
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

/// Removes scripts, event handlers, styles and forms; keeps remote images out unless asked, so
/// opening a message does not tell the sender it was read.
fn sanitize_html(
    html: &str,
    show_remote_images: bool,
    cid_urls: &HashMap<String, String>,
) -> (String, bool) {
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&blocked);
    let cid_urls = cid_urls.clone();
    let clean = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "cid"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            let is_source = matches!((element, attribute), ("img", "src") | ("img", "srcset"));
            if !is_source {
                return Some(value.into());
            }
            if let Some(cid) = value.strip_prefix("cid:") {
                return cid_urls.get(cid).map(|url| url.clone().into());
            }
            if show_remote_images {
                Some(value.into())
            } else {
                flag.store(true, Ordering::Relaxed);
                None
            }
        })
        .clean(html)
        .to_string();
    (clean, blocked.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML_MAIL: &[u8] =
        b"From: Mallory <m@evil.test>\r\nTo: bob@example.test\r\nSubject: hi\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p onclick=\"steal()\">Hello<script>steal()</script></p><img src=\"https://evil.test/track.gif\">\
<a href=\"javascript:steal()\">x</a>\r\n";

    fn url(index: usize, _: &PartAddress) -> String {
        format!("/part/{index}")
    }

    #[test]
    fn parts_are_addressed_by_their_imap_section_and_checked_by_digest() {
        let raw = b"Subject: nested\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n\
--a\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=x.csv\r\n\r\na,b\r\n--a--\r\n";
        let view = view(raw, false, Some(&url)).unwrap();
        let [csv] = view.attachments.as_slice() else {
            panic!("{:?}", view.attachments)
        };
        let address = csv.address.as_ref().expect("addressed when links are made");
        assert_eq!(address.section.as_deref(), Some("2"));
        // What the IMAP server answers for BODY[2.MIME] and BODY[2].
        let lone =
            b"Content-Type: text/csv\r\nContent-Disposition: attachment; filename=x.csv\r\n\r\na,b";
        let content = lone_part_content(lone, csv.part, &address.sum).expect("same part");
        assert_eq!(
            (content.name.as_str(), content.bytes.as_slice()),
            ("x.csv", &b"a,b"[..])
        );
        // Another part under that number (the server's tree differed): refused, not served.
        let other = b"Content-Type: text/csv\r\n\r\nc,d";
        assert!(lone_part_content(other, csv.part, &address.sum).is_none());
    }

    #[test]
    fn html_loses_scripts_handlers_and_remote_images() {
        let view = view(HTML_MAIL, false, Some(&url)).unwrap();
        let Body::Html {
            html,
            remote_blocked,
        } = view.body
        else {
            panic!("expected html")
        };
        assert!(remote_blocked);
        assert!(html.contains("Hello"));
        for bad in ["script", "onclick", "evil.test", "javascript:"] {
            assert!(!html.contains(bad), "{bad} survived: {html}");
        }
    }

    #[test]
    fn remote_images_come_back_when_the_reader_asks() {
        let view = view(HTML_MAIL, true, Some(&url)).unwrap();
        let Body::Html {
            html,
            remote_blocked,
        } = view.body
        else {
            panic!("expected html")
        };
        assert!(!remote_blocked);
        assert!(html.contains("https://evil.test/track.gif"));
    }

    #[test]
    fn attachments_decode_to_the_exact_bytes() {
        let raw = b"From: a@example.test\r\nSubject: file\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n";
        let view = view(raw, false, Some(&url)).unwrap();
        assert!(matches!(&view.body, Body::Text(t) if t.trim() == "see file"));
        assert_eq!(view.attachments.len(), 1);
        let content = part_content(raw, view.attachments[0].part).unwrap();
        assert_eq!(content.name, "x.bin");
        assert_eq!(content.bytes, vec![0, 1, 2, 255]);
    }
}
