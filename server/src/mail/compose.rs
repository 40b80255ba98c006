//! Writing a message: the form's fields in, RFC 5322 bytes out.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("\"{0}\" is not an email address")]
    BadAddress(String),
    #[error("{0}")]
    Unclosed(String),
    #[error("add at least one recipient in To, Cc or Bcc")]
    NoRecipients,
    #[error("the message could not be assembled: {0}")]
    Build(String),
}

/// A recipient: the address, and the display name when one was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub name: Option<String>,
    pub email: String,
}

impl Recipient {
    pub fn to_header_text(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} <{}>", self.email),
            None => self.email.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Draft {
    pub from: Recipient,
    pub to: Vec<Recipient>,
    pub cc: Vec<Recipient>,
    pub bcc: Vec<Recipient>,
    pub subject: String,
    /// The text, or with `html` the plain-text alternative derived from it.
    pub body: String,
    /// Formatted text, sanitised: the message goes out as multipart/alternative.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Without angle brackets.
    pub message_id: String,
    pub date: i64,
}

impl Draft {
    /// Everyone the message goes to, for the SMTP envelope.
    pub fn envelope_recipients(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for r in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            if !all.iter().any(|a| a.eq_ignore_ascii_case(&r.email)) {
                all.push(r.email.clone());
            }
        }
        all
    }
}

/// The compose form as typed. Validating it gives a [`Draft`] that can be sent; saving it keeps
/// every field exactly as typed, even an address that does not parse yet.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub body: String,
    /// Formatted text as the editor posted it (untrusted; sanitised when built). When present,
    /// the plain text is derived from it and `body` is not used.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The send id of the form this was typed in, kept with a saved draft so that sending the
    /// draft is the same send (one that went out, or may have, is not sent twice).
    pub send_id: Option<String>,
}

/// Private headers of a saved draft holding the recipient fields as typed.
pub const TYPED_TO: &str = "X-Sealmail-Typed-To";
pub const TYPED_CC: &str = "X-Sealmail-Typed-Cc";
pub const TYPED_BCC: &str = "X-Sealmail-Typed-Bcc";
/// Private header of a saved draft holding its form's send id.
pub const SEND_ID: &str = "X-Sealmail-Send-Id";

impl Composition {
    pub fn validate(
        &self,
        from: Recipient,
        message_id: String,
        date: i64,
    ) -> Result<Draft, ComposeError> {
        let recipients = [
            parse_recipients(&self.to)?,
            parse_recipients(&self.cc)?,
            parse_recipients(&self.bcc)?,
        ];
        let draft = self.draft(from, recipients, message_id, date);
        if draft.envelope_recipients().is_empty() {
            return Err(ComposeError::NoRecipients);
        }
        Ok(draft)
    }

    /// The bytes to keep in Drafts: recipients that parse become real headers, and every field
    /// is also kept exactly as typed.
    pub fn build_unsent(
        &self,
        from: Recipient,
        message_id: String,
        date: i64,
    ) -> Result<Vec<u8>, ComposeError> {
        let lenient = |typed: &str| parse_recipients(typed).unwrap_or_default();
        let recipients = [lenient(&self.to), lenient(&self.cc), lenient(&self.bcc)];
        let draft = self.draft(from, recipients, message_id, date);
        let mut headers = vec![
            (TYPED_TO, &self.to),
            (TYPED_CC, &self.cc),
            (TYPED_BCC, &self.bcc),
        ];
        if let Some(id) = &self.send_id {
            headers.push((SEND_ID, id));
        }
        splice(
            &header_section(&draft, Copy::Kept, &headers)?,
            &body_entity(&draft),
        )
    }

    /// A draft whose body and attachments the browser encrypted to the user's own certificate
    /// (`entity`): the header fields as in [`Composition::build_unsent`] (the subject stays
    /// readable, as in Outlook's encrypted drafts), then the entity. The form's body and
    /// attachments are left out: the server must not keep them in the clear.
    pub fn build_unsent_sealed(
        &self,
        from: Recipient,
        message_id: String,
        date: i64,
        entity: &[u8],
    ) -> Result<Vec<u8>, ComposeError> {
        let headers_only = Composition {
            body: String::new(),
            html: None,
            attachments: Vec::new(),
            ..self.clone()
        };
        let built = headers_only.build_unsent(from, message_id, date)?;
        splice(&built, entity)
    }

    fn draft(
        &self,
        from: Recipient,
        [to, cc, bcc]: [Vec<Recipient>; 3],
        message_id: String,
        date: i64,
    ) -> Draft {
        let html = self.html.as_deref().map(rich_text::sanitize);
        Draft {
            from,
            to,
            cc,
            bcc,
            subject: one_line(&self.subject),
            body: match &html {
                Some(clean) => rich_text::plain_text(clean),
                None => self.body.clone(),
            },
            html,
            attachments: self.attachments.clone(),
            // The form's ids were screened when it was read; screened again here because a
            // bad one would be written into the header raw, whoever built the composition.
            in_reply_to: self.in_reply_to.as_deref().and_then(super::ids::message_id),
            references: super::ids::message_ids(self.references.iter().map(String::as_str)),
            message_id,
            date,
        }
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Which copy of the message to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// What recipients get: no Bcc header, so Bcc recipients stay hidden.
    Delivered,
    /// The sender's own copy (Sent, Drafts) keeps the Bcc list.
    Kept,
}

/// Reads what a person types into To/Cc/Bcc as an RFC 5322 address list, by the rules the
/// browser module uses too (`send_rules::addresses`).
pub fn parse_recipients(input: &str) -> Result<Vec<Recipient>, ComposeError> {
    let mailboxes = send_rules::addresses::parse_list(input).map_err(|e| match e {
        send_rules::AddressError::NotAnAddress(typed) => ComposeError::BadAddress(typed),
        unclosed => ComposeError::Unclosed(unclosed.to_string()),
    })?;
    Ok(mailboxes
        .into_iter()
        .map(|m| Recipient {
            name: m.name,
            email: m.email,
        })
        .collect())
}

/// The RFC 5322 bytes of the draft, CRLF line ends, ready for SMTP or IMAP APPEND.
pub fn build(draft: &Draft, copy: Copy) -> Result<Vec<u8>, ComposeError> {
    splice(&header_section(draft, copy, &[])?, &body_entity(draft))
}

/// A message whose body the browser already signed and/or encrypted: the draft's header
/// fields (From, To, Cc, Subject, Date, Message-ID, threading; Bcc only in the kept copy) in
/// front of `entity`, which brings its own Content-* fields. The draft's body and attachments
/// are ignored: for encrypted mail the server never has them.
pub fn build_sealed(draft: &Draft, copy: Copy, entity: &[u8]) -> Result<Vec<u8>, ComposeError> {
    splice(&header_section(draft, copy, &[])?, entity)
}

/// The body as a MIME entity: text (and formatted text) and attachments, framed by the same
/// builder the browser's module frames what it signs and encrypts with, so mail reads the same
/// whichever side built it.
fn body_entity(draft: &Draft) -> Vec<u8> {
    let html = draft.html.as_deref().map(rich_text::document);
    let attachments: Vec<smime::mime::Attachment<'_>> = draft
        .attachments
        .iter()
        .map(|a| smime::mime::Attachment {
            name: &a.name,
            content_type: &a.content_type,
            data: &a.bytes,
        })
        .collect();
    smime::mime::build_mixed(
        &normalise_newlines(&draft.body),
        html.as_deref(),
        &attachments,
    )
}

/// The header section of `built` without its Content-* fields, then `entity`, which brings its
/// own.
fn splice(built: &[u8], entity: &[u8]) -> Result<Vec<u8>, ComposeError> {
    let end = built
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ComposeError::Build("no header section".into()))?;
    let mut out = Vec::with_capacity(end + entity.len() + 2);
    // Drop the placeholder body's Content-* fields (and their folded lines); the entity's own
    // describe the body.
    let mut skipping = false;
    for line in built[..end + 2].split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            skipping = line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"content-");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(entity);
    Ok(out)
}

/// The draft's header fields (mail-builder writes addresses, encoded words and the date), over
/// an empty placeholder body that [`splice`] replaces.
fn header_section(
    draft: &Draft,
    copy: Copy,
    extra: &[(&str, &String)],
) -> Result<Vec<u8>, ComposeError> {
    let address = |r: &Recipient| -> Address<'static> {
        Address::new_address(r.name.clone(), r.email.clone())
    };
    let list = |rs: &[Recipient]| Address::new_list(rs.iter().map(address).collect());
    let mut builder = MessageBuilder::new()
        .from(address(&draft.from))
        .subject(draft.subject.clone())
        .date(draft.date)
        .message_id(draft.message_id.clone())
        .text_body(String::new());
    if !draft.to.is_empty() {
        builder = builder.to(list(&draft.to));
    }
    if !draft.cc.is_empty() {
        builder = builder.cc(list(&draft.cc));
    }
    if copy == Copy::Kept && !draft.bcc.is_empty() {
        builder = builder.bcc(list(&draft.bcc));
    }
    if let Some(parent) = &draft.in_reply_to {
        builder = builder.in_reply_to(parent.clone());
    }
    if !draft.references.is_empty() {
        builder = builder.references(draft.references.clone());
    }
    for (name, value) in extra {
        if !value.trim().is_empty() {
            builder = builder.header(
                *name,
                mail_builder::headers::text::Text::new(one_line(value)),
            );
        }
    }
    builder
        .write_to_vec()
        .map_err(|e| ComposeError::Build(e.to_string()))
}

fn normalise_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// "Re: subject" without stacking prefixes.
pub fn reply_subject(subject: &str) -> String {
    if subject.trim_start().to_ascii_lowercase().starts_with("re:") {
        subject.to_string()
    } else {
        format!("Re: {subject}")
    }
}

pub fn forward_subject(subject: &str) -> String {
    let lower = subject.trim_start().to_ascii_lowercase();
    if lower.starts_with("fwd:") || lower.starts_with("fw:") {
        subject.to_string()
    } else {
        format!("Fwd: {subject}")
    }
}

/// The original text with "> " in front of each line, after an attribution line.
pub fn quote(attribution: &str, text: &str) -> String {
    let mut out = format!("\n\n{attribution}\n");
    for line in normalise_newlines(text).lines() {
        out.push_str(if line.is_empty() { ">" } else { "> " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn draft() -> Draft {
        Draft {
            from: Recipient {
                name: Some("Alice".into()),
                email: "alice@example.test".into(),
            },
            to: parse_recipients("Bob <bob@example.test>").unwrap(),
            cc: parse_recipients("carol@example.test").unwrap(),
            bcc: parse_recipients("dave@example.test").unwrap(),
            subject: "Quarterly numbers".into(),
            body: "Hello\nBob".into(),
            html: None,
            attachments: vec![Attachment {
                name: "n.bin".into(),
                content_type: "application/octet-stream".into(),
                bytes: vec![0, 159, 146, 150],
            }],
            in_reply_to: None,
            references: vec![],
            message_id: "abc@example.test".into(),
            date: 1_700_000_000,
        }
    }

    #[test]
    fn formatted_text_goes_out_clean_beside_its_plain_text() {
        let form = Composition {
            to: "bob@example.test".into(),
            subject: "Formatted".into(),
            body: "typed text the editor mirrored, not used".into(),
            html: Some(
                "<p>Hello <b>Bob</b><img src=\"https://tracker.test/p.gif\"></p>\
                 <ul><li>apples</li></ul><script>steal()</script>"
                    .into(),
            ),
            ..Composition::default()
        };
        let me = Recipient {
            name: None,
            email: "alice@example.test".into(),
        };
        let draft = form
            .validate(me, "f@example.test".into(), 1_700_000_000)
            .unwrap();
        let raw = build(&draft, Copy::Delivered).unwrap();
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("multipart/alternative"), "{text}");
        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("<b>Bob</b>"), "{html}");
        assert!(
            !html.contains("tracker") && !html.contains("steal"),
            "{html}"
        );
        let plain = parsed.body_text(0).unwrap();
        assert!(
            plain.contains("Hello **Bob**") && plain.contains("* apples"),
            "{plain}"
        );
        assert!(!plain.contains("mirrored"), "{plain}");
    }

    #[test]
    fn sealed_message_keeps_the_entity_and_the_draft_headers() {
        let entity = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\
Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n";
        let delivered = build_sealed(&draft(), Copy::Delivered, entity).unwrap();
        let text = String::from_utf8(delivered.clone()).unwrap();
        assert!(text.ends_with(std::str::from_utf8(entity).unwrap()));
        assert_eq!(text.matches("Content-Type:").count(), 1, "{text}");
        assert!(text.contains("Subject: Quarterly numbers\r\n"));
        assert!(text.contains("Message-ID: <abc@example.test>"));
        assert!(!text.contains("dave@example.test"), "Bcc leaked: {text}");
        let kept = String::from_utf8(build_sealed(&draft(), Copy::Kept, entity).unwrap()).unwrap();
        assert!(kept.contains("dave@example.test"));
        let parsed = MessageParser::default().parse(&delivered).unwrap();
        assert_eq!(parsed.subject(), Some("Quarterly numbers"));
    }

    #[test]
    fn an_encrypted_draft_keeps_the_typed_fields_and_never_the_body() {
        let entity = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\
Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n";
        let form = Composition {
            to: "bob at example".into(),
            bcc: "dave@example.test".into(),
            subject: "Plans".into(),
            body: "the secret plan".into(),
            attachments: vec![Attachment {
                name: "plan.txt".into(),
                content_type: "text/plain".into(),
                bytes: b"secret attachment".to_vec(),
            }],
            send_id: Some("s1".into()),
            ..Composition::default()
        };
        let me = Recipient {
            name: None,
            email: "alice@example.test".into(),
        };
        let raw = form
            .build_unsent_sealed(me, "d@example.test".into(), 1_700_000_000, entity)
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        assert!(text.ends_with(std::str::from_utf8(entity).unwrap()));
        assert_eq!(text.matches("Content-Type:").count(), 1, "{text}");
        assert!(!text.contains("secret"), "plaintext kept: {text}");
        assert!(!text.contains("plan.txt"), "attachment name kept: {text}");
        assert!(text.contains("Subject: Plans\r\n"));
        assert!(
            text.contains("X-Sealmail-Typed-To: bob at example"),
            "{text}"
        );
        assert!(text.contains("dave@example.test"), "Bcc kept in the draft");
        assert!(text.contains("X-Sealmail-Send-Id: s1"));
    }

    #[test]
    fn recipients_accept_names_commas_and_semicolons() {
        let r = parse_recipients(
            "Bob <bob@example.test>; carol@example.test, \"Dave D\" <dave@example.test>",
        )
        .unwrap();
        let emails: Vec<_> = r.iter().map(|r| r.email.as_str()).collect();
        assert_eq!(
            emails,
            [
                "bob@example.test",
                "carol@example.test",
                "dave@example.test"
            ]
        );
        assert_eq!(r[0].name.as_deref(), Some("Bob"));
    }

    #[test]
    fn a_mistyped_recipient_is_named() {
        assert_eq!(
            parse_recipients("bob@example.test, not an address").unwrap_err(),
            ComposeError::BadAddress("not an address".into())
        );
        assert!(parse_recipients("bob@localhost").is_err());
    }

    #[test]
    fn a_quoted_name_with_a_comma_is_one_recipient() {
        let r = parse_recipients("\"Doe, John\" <j@example.test>").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name.as_deref(), Some("Doe, John"));
    }

    #[test]
    fn bcc_appears_only_in_the_kept_copy() {
        let d = draft();
        let delivered = String::from_utf8(build(&d, Copy::Delivered).unwrap()).unwrap();
        let kept = String::from_utf8(build(&d, Copy::Kept).unwrap()).unwrap();
        assert!(!delivered.contains("dave@example.test"));
        assert!(kept.contains("Bcc: <dave@example.test>"), "{kept}");
        assert_eq!(
            d.envelope_recipients(),
            [
                "bob@example.test",
                "carol@example.test",
                "dave@example.test"
            ]
        );
    }

    #[test]
    fn built_message_parses_back_with_attachment_bytes_intact() {
        let raw = build(&draft(), Copy::Kept).unwrap();
        assert!(
            !raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "bare LF in output"
        );
        let view = crate::mail::read::view(&raw, false, None).unwrap();
        assert_eq!(view.subject, "Quarterly numbers");
        let part = crate::mail::read::part_content(&raw, view.attachments[0].part).unwrap();
        assert_eq!(part.bytes, vec![0, 159, 146, 150]);
    }

    #[test]
    fn a_saved_draft_keeps_an_unparseable_recipient_as_typed() {
        let form = Composition {
            to: "bob@example.test, bob at home".into(),
            subject: "s".into(),
            ..Default::default()
        };
        let from = Recipient {
            name: None,
            email: "alice@example.test".into(),
        };
        assert!(form.validate(from.clone(), "m@x.test".into(), 0).is_err());
        let raw = form.build_unsent(from, "m@x.test".into(), 0).unwrap();
        let view = crate::mail::read::view(&raw, false, None).unwrap();
        assert_eq!(
            view.typed_to.as_deref(),
            Some("bob@example.test, bob at home")
        );
    }

    #[test]
    fn threading_ids_and_attachment_types_cannot_add_header_fields() {
        let form = Composition {
            to: "bob@example.test".into(),
            subject: "s".into(),
            in_reply_to: Some("a@b\rReply-To: x@evil.test".into()),
            references: vec!["good@example.test".into(), "c@d\r\nBcc: x@evil.test".into()],
            attachments: vec![Attachment {
                name: "n.txt".into(),
                content_type: "text/plain\r\nReply-To: x@evil.test".into(),
                bytes: b"x".to_vec(),
            }],
            ..Default::default()
        };
        let from = Recipient {
            name: None,
            email: "alice@example.test".into(),
        };
        let draft = form.validate(from, "m@x.test".into(), 0).unwrap();
        let raw = String::from_utf8(build(&draft, Copy::Delivered).unwrap()).unwrap();
        assert!(!raw.contains("evil.test"), "{raw}");
        assert!(!raw.contains("In-Reply-To"), "{raw}");
        assert!(raw.contains("References: <good@example.test>"), "{raw}");
        assert!(raw.contains("application/octet-stream"), "{raw}");
    }

    #[test]
    fn subjects_do_not_stack_prefixes() {
        assert_eq!(reply_subject("Re: x"), "Re: x");
        assert_eq!(reply_subject("x"), "Re: x");
        assert_eq!(forward_subject("FW: x"), "FW: x");
    }
}
