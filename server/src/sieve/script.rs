//! The user's settings as one Sieve script (RFC 5228 with vacation, date, relational, fileinto,
//! imap4flags), and the settings read back from a script Sealmail wrote. No I/O.
//!
//! The settings travel inside the script, as JSON in one comment line: the script on the mail
//! server is then the only copy, so it can never disagree with a copy in our database, and the
//! marker line tells a script Sealmail wrote from one a person wrote by hand.

use super::settings::{Action, SieveSettings, format_day};

/// The name Sealmail stores its script under on the ManageSieve server.
pub const SCRIPT_NAME: &str = "sealmail";
const SETTINGS_MARKER: &str = "# sealmail-settings: ";

/// The script for `settings` (already validated), with CRLF line ends as RFC 5228 asks.
pub fn render(settings: &SieveSettings) -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push_str("\r\n");
    };
    line("# Out-of-office reply and filters, written by Sealmail. Change them on Sealmail's");
    line("# Out of office and Filters pages: edits made here are lost when those are saved.");
    // serde_json escapes every control character, so the JSON stays on this one comment line.
    let json = serde_json::to_string(settings).unwrap_or_default();
    line(&format!("{SETTINGS_MARKER}{json}"));
    line(r#"require ["vacation", "date", "relational", "fileinto", "imap4flags"];"#);

    // Discarded mail first: mail the user throws away unread gets no out-of-office reply.
    for filter in settings
        .filters
        .iter()
        .filter(|f| f.action == Action::Discard)
    {
        line(&condition(filter.field.header(), &filter.contains));
        line("    discard;");
        line("    stop;");
        line("}");
    }

    let vacation = &settings.vacation;
    if vacation.enabled {
        let mut dates = Vec::new();
        if let Some(start) = vacation.start {
            dates.push(format!(
                "currentdate :value \"ge\" \"date\" {}",
                quoted(&format_day(start))
            ));
        }
        if let Some(end) = vacation.end {
            dates.push(format!(
                "currentdate :value \"le\" \"date\" {}",
                quoted(&format_day(end))
            ));
        }
        let indent = if dates.is_empty() {
            ""
        } else {
            line(&format!("if allof ({}) {{", dates.join(", ")));
            "    "
        };
        // Always our own subject: without :subject the reply would repeat the original's, and
        // the reply never carries any of the original's content (no :mime, no variables).
        let addresses: Vec<String> = vacation.addresses.iter().map(|a| quoted(a)).collect();
        line(&format!(
            "{indent}vacation :days {} :subject {} :addresses [{}] {}",
            vacation.days,
            quoted(vacation.subject.trim()),
            addresses.join(", "),
            multi_line(&vacation.text),
        ));
        line(&format!("{indent};"));
        if !dates.is_empty() {
            line("}");
        }
    }

    // Flags before moves: a flag added after the message was filed would not reach the copy.
    for filter in settings.filters.iter().filter(|f| f.action == Action::Flag) {
        line(&condition(filter.field.header(), &filter.contains));
        line(r#"    addflag "\\Flagged";"#);
        line("}");
    }
    for filter in &settings.filters {
        if let Action::Move { folder } = &filter.action {
            line(&condition(filter.field.header(), &filter.contains));
            line(&format!("    fileinto {};", quoted(folder)));
            line("    stop;");
            line("}");
        }
    }
    out
}

/// The settings inside a script Sealmail wrote; `None` for any other script.
pub fn settings_in(script: &str) -> Option<SieveSettings> {
    script
        .lines()
        .find_map(|line| line.strip_prefix(SETTINGS_MARKER))
        .and_then(|json| serde_json::from_str(json.trim_end()).ok())
}

fn condition(header: &str, contains: &str) -> String {
    format!(
        "if header :contains {} {} {{",
        quoted(header),
        quoted(contains)
    )
}

/// A Sieve quoted string: only `"` and `\` need escaping (RFC 5228 2.4.2). Line breaks were
/// refused before, and are dropped here too so no input can ever end the string's line.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `text:` multi-line string: each line CRLF-ended, a line starting with '.' doubled, ended by
/// a lone '.' line (RFC 5228 2.4.2). The caller writes the `;` after it.
fn multi_line(value: &str) -> String {
    let mut out = String::from("text:\r\n");
    let normalised = value.replace("\r\n", "\n").replace('\r', "\n");
    for text_line in normalised.trim_end_matches('\n').split('\n') {
        if text_line.starts_with('.') {
            out.push('.');
        }
        out.push_str(text_line);
        out.push_str("\r\n");
    }
    out.push('.');
    out
}

#[cfg(test)]
mod tests {
    use super::super::settings::{Field, Filter, Vacation};
    use super::*;
    use time::macros::date;

    fn vacation() -> Vacation {
        Vacation {
            enabled: true,
            start: Some(date!(2026 - 12 - 01)),
            end: Some(date!(2026 - 12 - 12)),
            subject: r#"Away "until" C:\Monday"#.into(),
            text: "Hello,\n.\n.hidden\nBye".into(),
            days: 3,
            addresses: vec!["alice@example.test".into()],
        }
    }

    #[test]
    fn a_vacation_is_dated_escaped_and_dot_stuffed() {
        let script = render(&SieveSettings {
            vacation: vacation(),
            filters: vec![],
        });
        assert!(script.contains(
            "require [\"vacation\", \"date\", \"relational\", \"fileinto\", \"imap4flags\"];\r\n"
        ));
        assert!(script.contains(
            "if allof (currentdate :value \"ge\" \"date\" \"2026-12-01\", \
             currentdate :value \"le\" \"date\" \"2026-12-12\") {\r\n"
        ));
        assert!(
            script.contains(
                "vacation :days 3 :subject \"Away \\\"until\\\" C:\\\\Monday\" \
                 :addresses [\"alice@example.test\"] text:\r\nHello,\r\n..\r\n..hidden\r\nBye\r\n.\r\n    ;\r\n"
            ),
            "{script}"
        );
        // Nothing of the original message can be quoted: no variables, no :mime body.
        assert!(!script.contains("${"));
        assert!(!script.contains(":mime"));
    }

    #[test]
    fn a_vacation_without_dates_is_unconditional_and_an_off_one_is_absent() {
        let undated = Vacation {
            start: None,
            end: None,
            ..vacation()
        };
        let script = render(&SieveSettings {
            vacation: undated,
            filters: vec![],
        });
        assert!(script.contains("\r\nvacation :days 3"), "{script}");
        assert!(!script.contains("currentdate"));
        let off = Vacation {
            enabled: false,
            ..vacation()
        };
        let script = render(&SieveSettings {
            vacation: off,
            filters: vec![],
        });
        assert!(!script.contains("vacation :days"), "{script}");
    }

    #[test]
    fn filters_discard_first_flag_before_moving() {
        let filter = |field, contains: &str, action| Filter {
            field,
            contains: contains.into(),
            action,
        };
        let settings = SieveSettings {
            vacation: vacation(),
            filters: vec![
                filter(
                    Field::From,
                    "boss@example.test",
                    Action::Move {
                        folder: "Work/\"Boss\"".into(),
                    },
                ),
                filter(Field::Subject, "urgent", Action::Flag),
                filter(Field::ListId, "spam.example", Action::Discard),
            ],
        };
        let script = render(&settings);
        let at = |needle: &str| {
            script
                .find(needle)
                .unwrap_or_else(|| panic!("{needle} missing in {script}"))
        };
        let discard = at(
            "if header :contains \"list-id\" \"spam.example\" {\r\n    discard;\r\n    stop;\r\n}",
        );
        let vacation = at("vacation :days");
        let flag =
            at("if header :contains \"subject\" \"urgent\" {\r\n    addflag \"\\\\Flagged\";\r\n}");
        let moved = at(
            "if header :contains \"from\" \"boss@example.test\" {\r\n    fileinto \"Work/\\\"Boss\\\"\";\r\n    stop;\r\n}",
        );
        assert!(discard < vacation && vacation < flag && flag < moved);
    }

    #[test]
    fn settings_read_back_from_the_script_and_not_from_a_hand_written_one() {
        let settings = SieveSettings {
            vacation: vacation(),
            filters: vec![Filter {
                field: Field::Subject,
                contains: "line\u{2028}separator \"quoted\"".into(),
                action: Action::Flag,
            }],
        };
        assert_eq!(settings_in(&render(&settings)), Some(settings));
        assert_eq!(
            settings_in("require \"fileinto\";\r\nfileinto \"Archive\";\r\n"),
            None
        );
    }

    #[test]
    fn no_input_can_end_a_quoted_string_or_its_line() {
        assert_eq!(quoted("a\"b\\c\r\nd"), r#""a\"b\\cd""#);
    }
}
