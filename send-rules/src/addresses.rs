//! What a person types into To, Cc and Bcc, read as an RFC 5322 address list.
//!
//! Commas inside a quoted display name (`"Doe, John" <j@example.test>`), inside angle brackets
//! or comments do not separate addresses; a group (`Team: a@x, b@x;`) stands for its members.
//! People used to Outlook separate addresses with `;`, so outside a group a semicolon
//! separates as a comma does. Every entry must become exactly one plausible address: nothing
//! typed is dropped silently.

use mail_parser::{Address, MessageParser};

/// One recipient: the address, and the display name when one was typed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("\"{0}\" is not an email address")]
    NotAnAddress(String),
    #[error("\"{0}\" has a quote, bracket or parenthesis that is not closed")]
    Unclosed(String),
}

/// The mailboxes of an address list, in the order typed (group members in place of the group).
pub fn parse_list(input: &str) -> Result<Vec<Mailbox>, AddressError> {
    // A pasted line break is a space to the person who pasted it, and must never reach a header.
    let input = input.replace(['\r', '\n'], " ");
    let mut out = Vec::new();
    for entry in entries(&input)? {
        out.extend(parse_entry(entry)?);
    }
    Ok(out)
}

/// The top-level entries of the list, split where a separator is not quoted, bracketed,
/// commented or inside a group.
fn entries(input: &str) -> Result<Vec<&str>, AddressError> {
    let mut entries = Vec::new();
    let mut start = 0;
    let (mut quoted, mut escaped, mut in_group) = (false, false, false);
    let (mut angle, mut comment) = (0usize, 0usize);
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => escaped = true,
            '"' if comment == 0 => quoted = !quoted,
            _ if quoted => {}
            '(' => comment += 1,
            ')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '<' => angle += 1,
            '>' if angle > 0 => angle -= 1,
            _ if angle > 0 => {}
            ':' => in_group = true,
            ';' if in_group => in_group = false,
            ',' if in_group => {}
            ',' | ';' => {
                entries.push(&input[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    let last = &input[start..];
    if quoted || angle > 0 || comment > 0 {
        return Err(AddressError::Unclosed(last.trim().to_string()));
    }
    entries.push(last);
    Ok(entries
        .into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect())
}

fn parse_entry(entry: &str) -> Result<Vec<Mailbox>, AddressError> {
    let header = format!("To: {entry}\r\n\r\n");
    let parsed = MessageParser::default().parse_headers(header.as_bytes());
    let bad = || AddressError::NotAnAddress(entry.to_string());
    let address = parsed.as_ref().and_then(|m| m.to()).ok_or_else(bad)?;
    let addrs: Vec<_> = match address {
        Address::List(list) => list.iter().collect(),
        Address::Group(groups) => groups.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    // An entry outside a group is one mailbox; more means the reader split something the
    // person did not (`a@x b@y`).
    let is_group = matches!(address, Address::Group(_));
    if addrs.is_empty() || (!is_group && addrs.len() != 1) {
        return Err(bad());
    }
    addrs
        .into_iter()
        .map(|a| {
            let email = a.address.as_deref().unwrap_or("").trim().to_string();
            if !is_plausible(&email) {
                return Err(AddressError::NotAnAddress(if email.is_empty() {
                    entry.to_string()
                } else {
                    email
                }));
            }
            let name = a
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            Ok(Mailbox { name, email })
        })
        .collect()
}

/// An address a mail server could route: `local@domain.tld`, nothing that would break a header.
pub fn is_plausible(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'))
}

/// A plain `local@domain` address as people type it into an address book (no display name,
/// no comments, no quoted local part): what a recipient field can take back unchanged.
pub fn is_plain_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        });
    local_ok && domain_ok && !text.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(input: &str) -> Vec<String> {
        parse_list(input)
            .unwrap()
            .into_iter()
            .map(|m| m.email)
            .collect()
    }

    #[test]
    fn a_quoted_name_with_a_comma_is_one_recipient() {
        let got = parse_list(r#""Doe, John" <j@example.test>"#).unwrap();
        assert_eq!(
            got,
            [Mailbox {
                name: Some("Doe, John".into()),
                email: "j@example.test".into()
            }]
        );
    }

    #[test]
    fn commas_and_semicolons_separate() {
        assert_eq!(
            emails("a@x.test, Bob <b@x.test>; c@x.test ,"),
            ["a@x.test", "b@x.test", "c@x.test"]
        );
    }

    #[test]
    fn a_group_stands_for_its_members() {
        assert_eq!(
            emails("Team: a@x.test, \"B, b\" <b@x.test>;, c@x.test"),
            ["a@x.test", "b@x.test", "c@x.test"]
        );
    }

    #[test]
    fn comments_and_escapes_do_not_split() {
        assert_eq!(
            emails(r#"a@x.test (Ann, sales), "Say \"hi\", Bo" <b@x.test>"#),
            ["a@x.test", "b@x.test"]
        );
    }

    #[test]
    fn nothing_typed_is_dropped() {
        assert_eq!(
            parse_list("a@x.test, not an address"),
            Err(AddressError::NotAnAddress("not an address".into()))
        );
        assert!(parse_list("a@x.test b@x.test").is_err());
        assert!(parse_list("Bob <bob>").is_err());
        assert_eq!(
            parse_list(r#""Doe, John <j@x.test>"#),
            Err(AddressError::Unclosed(r#""Doe, John <j@x.test>"#.into()))
        );
    }

    #[test]
    fn line_breaks_never_reach_an_address() {
        let got = parse_list("Eve\r\nBcc: x@evil.test <e@x.test>");
        assert!(got.is_err() || got.unwrap().iter().all(|m| !m.email.contains('\n')));
    }

    #[test]
    fn an_address_book_address_is_a_plain_dot_atom() {
        assert!(is_plain_address("ann.lee+x@mail.example.org"));
        assert!(!is_plain_address("\"ann lee\"@example.org"));
        assert!(!is_plain_address("ann..lee@example.org"));
        assert!(!is_plain_address("ann@-example.org"));
        assert!(!is_plain_address("ann@localhost"));
    }

    #[test]
    fn empty_input_is_no_recipients() {
        assert_eq!(parse_list("  , ;").unwrap(), []);
    }
}
