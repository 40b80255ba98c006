//! Mail as people see it: reading a raw message into a page model, and writing one from a form.
//! Pure functions: no IMAP or SMTP here.

pub mod compose;
pub mod glance;
pub mod ids;
pub mod read;
pub mod secure;

use mail_parser::Address;

/// "Alice Example" when the sender gave a name, the address otherwise.
pub fn sender_label(from: Option<&Address<'_>>) -> String {
    from.and_then(|a| a.first())
        .map(|addr| match (&addr.name, &addr.address) {
            (Some(name), _) if !name.trim().is_empty() => name.trim().to_string(),
            (_, Some(address)) => address.to_string(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// Every address of a header as "Name <address>" or the bare address.
pub fn address_list(address: Option<&Address<'_>>) -> Vec<String> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address.as_deref()?;
            Some(match addr.name.as_deref() {
                Some(name) if !name.trim().is_empty() => format!("{} <{email}>", name.trim()),
                _ => email.to_string(),
            })
        })
        .collect()
}

/// Bare e-mail addresses of a header, lower-cased for comparison.
pub fn bare_addresses(address: Option<&Address<'_>>) -> Vec<String> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|a| a.address.as_deref())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// A size as pages and messages to the user say it: "512 bytes", "12 KB", "2.0 MB".
pub fn format_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// A timestamp as pages show it (UTC), or nothing.
pub fn format_date(timestamp: Option<i64>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    timestamp
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_default()
}

/// A media type as `type/subtype` (RFC 2045 tokens), lower-cased; `application/octet-stream`
/// for anything else. Types come from received mail and from the browser's upload, and are
/// written as they are into the Content-Type of the mail we send, so parameters, quotes and
/// line breaks must not get through.
pub fn media_type(text: &str) -> String {
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    match text.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => text.to_ascii_lowercase(),
        _ => "application/octet-stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::media_type;

    #[test]
    fn media_types_are_bare_type_and_subtype_tokens() {
        assert_eq!(media_type("Image/PNG"), "image/png");
        assert_eq!(
            media_type("application/vnd.oasis.opendocument.text"),
            "application/vnd.oasis.opendocument.text"
        );
        for bad in [
            "text/html; charset=utf-8",
            "text/plain\r\nBcc: x@evil.test",
            "text/plain\rX: y",
            "text",
            "text/",
            "/plain",
            "text/pl ain",
            "text/plain/x",
            "t\"ext/plain",
            "",
        ] {
            assert_eq!(media_type(bad), "application/octet-stream", "{bad:?}");
        }
    }
}
