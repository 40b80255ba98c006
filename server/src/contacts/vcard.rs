//! `.vcf` files: reading the contacts other programs export (Thunderbird, Roundcube, Google,
//! Apple: vCard 2.1, 3.0 and 4.0) and writing ours as vCard 4.0, with no I/O.
//!
//! The format's details — folded lines, backslash escapes, quoted-printable values, groups,
//! parameters — are left to `calcard` (Stalwart's parser and writer, the ones behind its
//! CardDAV server). This module only maps a card to the fields an address book here keeps (FN
//! or N, every EMAIL, the first TEL, NOTE, UID) and sets the limits a file must keep to.

use calcard::vcard::{VCard, VCardEntry, VCardProperty, VCardValue, VCardVersion};
use calcard::{Entry, Parser};

use super::{Contact, Draft};

/// Largest file taken, in bytes.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Most cards in one file.
pub const MAX_CARDS: usize = 10_000;

/// Why a file cannot be imported; nothing of it is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcardError {
    #[error("The file is larger than {} MB; split it into smaller files.", MAX_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("The file holds more than {MAX_CARDS} contacts; split it into smaller files.")]
    TooManyCards,
    #[error(
        "This is not a vCard (.vcf) file: it is not text. If it is a vCard in an old character set, save it again as UTF-8."
    )]
    NotText,
    #[error("This is not a vCard (.vcf) file: it holds no contact card.")]
    NotVcard,
    #[error("This is a calendar file, not a contacts (.vcf) file.")]
    Calendar,
    #[error("The file is damaged near contact {card}: {why}")]
    Damaged { card: usize, why: String },
}

/// Reads every card of a `.vcf` file, in order; the whole file is refused at its first fault.
pub fn parse(bytes: &[u8]) -> Result<Vec<Draft>, VcardError> {
    if bytes.len() > MAX_BYTES {
        return Err(VcardError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| VcardError::NotText)?;
    check_framing(text)?;
    let mut parser = Parser::new(text);
    let mut cards = Vec::new();
    loop {
        let card_number = cards.len() + 1;
        match parser.entry() {
            Entry::VCard(card) => {
                if cards.len() == MAX_CARDS {
                    return Err(VcardError::TooManyCards);
                }
                cards.push(draft_of(&card));
            }
            Entry::Eof => break,
            Entry::ICalendar(_) => return Err(VcardError::Calendar),
            Entry::InvalidLine(line) if line.trim().is_empty() => continue,
            Entry::InvalidLine(line) if cards.is_empty() => {
                // Text that is not a card at all, before any card: most likely another kind
                // of file; say so rather than "damaged".
                return Err(
                    if text
                        .trim_start()
                        .to_ascii_uppercase()
                        .starts_with("BEGIN:VCARD")
                    {
                        VcardError::Damaged {
                            card: card_number,
                            why: format!("the line \"{}\" is not part of a card.", shorten(&line)),
                        }
                    } else {
                        VcardError::NotVcard
                    },
                );
            }
            Entry::InvalidLine(line) => {
                return Err(VcardError::Damaged {
                    card: card_number,
                    why: format!("the line \"{}\" is not part of a card.", shorten(&line)),
                });
            }
            Entry::UnterminatedComponent(_) => {
                return Err(VcardError::Damaged {
                    card: card_number,
                    why: "the card is cut off (its END:VCARD line is missing).".into(),
                });
            }
            Entry::UnexpectedComponentEnd { .. } | Entry::TooManyComponents => {
                return Err(VcardError::Damaged {
                    card: card_number,
                    why: "its BEGIN and END lines do not match.".into(),
                });
            }
            _ => {
                return Err(VcardError::Damaged {
                    card: card_number,
                    why: "it holds something other than contact cards.".into(),
                });
            }
        }
    }
    if cards.is_empty() {
        return Err(VcardError::NotVcard);
    }
    Ok(cards)
}

/// Writes contacts as one vCard 4.0 file (CRLF lines, folded at 75 octets, as RFC 6350 says).
pub fn write(contacts: &[Contact]) -> String {
    let mut out = String::new();
    for c in contacts {
        let text = |name: VCardProperty, value: &str| {
            VCardEntry::new(name).with_value(VCardValue::Text(value.to_string()))
        };
        let mut entries = vec![text(VCardProperty::Fn, &c.display_name)];
        entries.extend(c.addresses.iter().map(|a| text(VCardProperty::Email, a)));
        if !c.phone.is_empty() {
            entries.push(text(VCardProperty::Tel, &c.phone));
        }
        if !c.notes.is_empty() {
            entries.push(text(VCardProperty::Note, &c.notes));
        }
        entries.push(text(VCardProperty::Uid, &c.uid));
        // Writing into a String cannot fail.
        let _ = VCard { entries }.write_to(&mut out, VCardVersion::V4_0);
    }
    out
}

/// Every card must be closed before the next begins and before the file ends. The parser
/// forgives a missing END:VCARD; an import must not, since a file cut off on the way (the usual
/// damage) would otherwise import its last card half read.
fn check_framing(text: &str) -> Result<(), VcardError> {
    let (mut open, mut card) = (false, 0);
    for line in text.lines() {
        let line = line.trim_start_matches('\u{feff}').trim_end();
        if line.eq_ignore_ascii_case("BEGIN:VCARD") {
            card += 1;
            if open {
                return Err(VcardError::Damaged {
                    card: card - 1,
                    why: "the card is cut off (its END:VCARD line is missing).".into(),
                });
            }
            open = true;
        } else if line.eq_ignore_ascii_case("END:VCARD") {
            if !open {
                return Err(VcardError::Damaged {
                    card: card + 1,
                    why: "an END:VCARD line has no BEGIN:VCARD before it.".into(),
                });
            }
            open = false;
        }
    }
    if open {
        return Err(VcardError::Damaged {
            card,
            why: "the card is cut off (its END:VCARD line is missing).".into(),
        });
    }
    Ok(())
}

fn draft_of(card: &VCard) -> Draft {
    let texts = |entry: &VCardEntry| -> Vec<String> {
        entry
            .values
            .iter()
            .flat_map(|v| match v {
                VCardValue::Text(t) => vec![t.clone()],
                VCardValue::Component(parts) => parts.clone(),
                _ => Vec::new(),
            })
            .collect()
    };
    let first_text = |property: VCardProperty| -> String {
        card.property(&property)
            .map(|e| texts(e).join(" "))
            .unwrap_or_default()
    };
    let mut display_name = first_text(VCardProperty::Fn);
    if display_name.trim().is_empty() {
        display_name = card
            .property(&VCardProperty::N)
            .map(name_of)
            .unwrap_or_default();
    }
    let addresses = card
        .properties(&VCardProperty::Email)
        .flat_map(texts)
        .map(|a| a.strip_prefix("mailto:").map(str::to_string).unwrap_or(a))
        .collect();
    let phone = first_text(VCardProperty::Tel);
    let phone = phone
        .strip_prefix("tel:")
        .map(str::to_string)
        .unwrap_or(phone);
    let notes = card
        .properties(&VCardProperty::Note)
        .map(|e| texts(e).join(", "))
        .collect::<Vec<_>>()
        .join("\n");
    Draft {
        uid: card.uid().map(str::to_string),
        display_name,
        addresses,
        phone,
        notes,
    }
}

/// A name from N (family; given; additional; prefixes; suffixes) in reading order.
fn name_of(entry: &VCardEntry) -> String {
    let parts: Vec<String> = entry
        .values
        .iter()
        .map(|v| match v {
            VCardValue::Text(t) => t.clone(),
            VCardValue::Component(parts) => parts.join(" "),
            _ => String::new(),
        })
        .collect();
    let at = |i: usize| parts.get(i).map(String::as_str).unwrap_or("");
    [at(3), at(1), at(2), at(0), at(4)]
        .iter()
        .filter(|p| !p.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn shorten(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Draft {
        let cards = parse(text.as_bytes()).unwrap();
        assert_eq!(cards.len(), 1, "{cards:?}");
        cards.into_iter().next().unwrap()
    }

    #[test]
    fn thunderbird_vcard_4_with_several_addresses() {
        let d = one(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n\
             EMAIL;PREF=1:ann@example.org\r\nEMAIL;TYPE=work:a.lee@work.example\r\n\
             TEL;VALUE=TEXT:+44 20 7946 0000\r\nUID:abc-1\r\nEND:VCARD\r\n",
        );
        assert_eq!(d.display_name, "Ann Lee");
        assert_eq!(d.addresses, ["ann@example.org", "a.lee@work.example"]);
        assert_eq!(d.phone, "+44 20 7946 0000");
        assert_eq!(d.uid.as_deref(), Some("abc-1"));
    }

    #[test]
    fn vcard_3_folded_lines_and_escaped_commas() {
        let d = one("BEGIN:VCARD\nVERSION:3.0\nN:Doe;John;;;\nFN:Doe\\, John\n\
             EMAIL;TYPE=INTERNET:j@example.test\nNOTE:Met at the fair\\, stand 4\\;\n  then lunch\\nlater\n\
             END:VCARD\n");
        assert_eq!(d.display_name, "Doe, John");
        assert_eq!(d.addresses, ["j@example.test"]);
        assert_eq!(d.notes, "Met at the fair, stand 4; then lunch\nlater");
    }

    #[test]
    fn a_card_without_fn_is_named_from_n() {
        let d = one(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Smith;Jane;Q;Dr.;\r\nEMAIL:jane@x.org\r\nEND:VCARD\r\n",
        );
        assert_eq!(d.display_name, "Dr. Jane Q Smith");
    }

    #[test]
    fn quoted_printable_vcard_2_1() {
        let d = one(
            "BEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=\r\n=C3=BCller\r\n\
             EMAIL;INTERNET:jm@x.org\r\nEND:VCARD\r\n",
        );
        assert_eq!(d.display_name, "Jürgen Müller");
        assert_eq!(d.addresses, ["jm@x.org"]);
    }

    #[test]
    fn written_contacts_read_back_the_same() {
        let contacts = vec![
            Contact {
                uid: "urn:uuid:1".into(),
                display_name: "Doe, John".into(),
                addresses: vec!["j@example.test".into(), "john@x.org".into()],
                phone: "+1 555 0100".into(),
                notes: "Line one; with, punctuation\nand a very long second line that will certainly need folding at seventy-five octets".into(),
            },
            Contact {
                uid: "urn:uuid:2".into(),
                display_name: "Zoë".into(),
                addresses: vec!["zoe@x.org".into()],
                phone: String::new(),
                notes: String::new(),
            },
        ];
        let text = write(&contacts);
        assert!(text.lines().all(|l| l.len() <= 76), "{text}");
        let back = parse(text.as_bytes()).unwrap();
        let back: Vec<Contact> = back
            .into_iter()
            .map(|d| d.check(|| unreachable!("UIDs are written")).unwrap())
            .collect();
        assert_eq!(back, contacts);
    }

    #[test]
    fn damaged_and_foreign_files_are_refused() {
        let cut = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEMAIL:a@x.org\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:B\r\n";
        assert!(
            matches!(
                parse(cut.as_bytes()),
                Err(VcardError::Damaged { card: 2, .. })
            ),
            "{:?}",
            parse(cut.as_bytes())
        );
        assert_eq!(
            parse(b"Name,Email\nAnn,ann@x.org\n"),
            Err(VcardError::NotVcard)
        );
        assert_eq!(parse(b""), Err(VcardError::NotVcard));
        assert_eq!(
            parse(&[0x89, b'P', b'N', b'G', 0xff, 0xfe]),
            Err(VcardError::NotText)
        );
        assert_eq!(
            parse(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"),
            Err(VcardError::Calendar)
        );
    }

    #[test]
    fn limits() {
        let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEMAIL:a@x.org\r\nEND:VCARD\r\n";
        assert_eq!(
            parse(card.repeat(MAX_CARDS).as_bytes()).unwrap().len(),
            MAX_CARDS
        );
        assert_eq!(
            parse(card.repeat(MAX_CARDS + 1).as_bytes()),
            Err(VcardError::TooManyCards)
        );
        assert_eq!(parse(&vec![b' '; MAX_BYTES + 1]), Err(VcardError::TooLarge));
    }
}
