//! What a user chooses on the Out of office and Filters pages, and the checks it must pass before
//! it becomes a Sieve script. No I/O: "today" is handed in.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// Most filters one user may have; a page of rules, not a mail server's whole rule engine.
pub const MAX_FILTERS: usize = 100;
const MAX_SUBJECT_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 10_000;
const MAX_MATCH_CHARS: usize = 200;
/// Pigeonhole's own bounds for `:days` (sieve_vacation_min_period .. max_period, defaults).
pub const DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SieveSettings {
    pub vacation: Vacation,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacation {
    pub enabled: bool,
    /// First and last day the reply goes out (both included); none means from now / until
    /// turned off.
    #[serde(with = "iso_day")]
    pub start: Option<Date>,
    #[serde(with = "iso_day")]
    pub end: Option<Date>,
    pub subject: String,
    pub text: String,
    /// A sender gets the reply once in this many days, however often they write.
    pub days: u32,
    /// The user's own addresses: mail to them counts as mail to the user.
    pub addresses: Vec<String>,
}

impl Default for Vacation {
    fn default() -> Self {
        Self {
            enabled: false,
            start: None,
            end: None,
            subject: "Out of office".into(),
            text: String::new(),
            days: 7,
            addresses: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub field: Field,
    /// Matched anywhere in the header, letter case ignored.
    pub contains: String,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    From,
    Subject,
    ListId,
}

impl Field {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "from" => Field::From,
            "subject" => Field::Subject,
            "list-id" => Field::ListId,
            _ => return None,
        })
    }

    /// The header the rule looks at.
    pub fn header(self) -> &'static str {
        match self {
            Field::From => "from",
            Field::Subject => "subject",
            Field::ListId => "list-id",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::From => "Sender",
            Field::Subject => "Subject",
            Field::ListId => "Mailing list",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum Action {
    /// Into this folder (its name as the user sees it, hierarchy separated by '/').
    Move {
        folder: String,
    },
    Flag,
    Discard,
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Move { folder } => format!("move to {folder}"),
            Action::Flag => "flag it".into(),
            Action::Discard => "delete it at once".into(),
        }
    }
}

/// Why a choice on the page cannot be saved; the text is shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SettingsError> {
    Err(SettingsError(why.into()))
}

/// One line of text, no control characters: it becomes a quoted Sieve string or a header.
fn check_line(what: &str, value: &str, max: usize) -> Result<(), SettingsError> {
    if value.trim().is_empty() {
        return refuse(format!("{what} is empty."));
    }
    if value.chars().count() > max {
        return refuse(format!("{what} is longer than {max} characters."));
    }
    if value.chars().any(char::is_control) {
        return refuse(format!("{what} must be on one line."));
    }
    Ok(())
}

impl Vacation {
    /// Checks a reply about to be turned on (or kept) on `today`.
    pub fn validate(&self, today: Date) -> Result<(), SettingsError> {
        if !self.enabled {
            return Ok(());
        }
        check_line(
            "The subject of your reply",
            &self.subject,
            MAX_SUBJECT_CHARS,
        )?;
        if self.text.trim().is_empty() {
            return refuse("The text of your reply is empty: write what senders should read.");
        }
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return refuse(format!(
                "The text of your reply is longer than {MAX_TEXT_CHARS} characters."
            ));
        }
        if self
            .text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return refuse("The text of your reply contains control characters.");
        }
        if !DAYS_RANGE.contains(&self.days) {
            return refuse(format!(
                "A sender can get your reply once every {} to {} days; {} is outside that.",
                DAYS_RANGE.start(),
                DAYS_RANGE.end(),
                self.days
            ));
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && end < start
        {
            return refuse(format!(
                "The last day ({}) is before the first day ({}).",
                long_date(end),
                long_date(start)
            ));
        }
        if let Some(end) = self.end
            && end < today
        {
            return refuse(format!(
                "The last day ({}) is already over: choose a later date, or turn the reply off.",
                long_date(end)
            ));
        }
        if self.addresses.is_empty() {
            return refuse("Your reply needs at least one of your addresses.");
        }
        Ok(())
    }

    /// What the page says about the reply, e.g. "Your out-of-office reply is on until 12 December."
    pub fn status(&self, today: Date) -> String {
        if !self.enabled {
            return "Your out-of-office reply is off.".into();
        }
        match (self.start, self.end) {
            (_, Some(end)) if end < today => {
                "Your out-of-office reply is on, but its last day is over: it sends nothing.".into()
            }
            (Some(start), Some(end)) if start > today => format!(
                "Your out-of-office reply is on from {} until {}.",
                long_date(start),
                long_date(end)
            ),
            (Some(start), None) if start > today => {
                format!("Your out-of-office reply is on from {}.", long_date(start))
            }
            (_, Some(end)) => format!("Your out-of-office reply is on until {}.", long_date(end)),
            (_, None) => "Your out-of-office reply is on until you turn it off.".into(),
        }
    }
}

impl Filter {
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_line("The text to look for", &self.contains, MAX_MATCH_CHARS)?;
        if let Action::Move { folder } = &self.action {
            check_line("The folder", folder, MAX_MATCH_CHARS)?;
        }
        Ok(())
    }
}

impl SieveSettings {
    pub fn validate(&self, today: Date) -> Result<(), SettingsError> {
        self.vacation.validate(today)?;
        if self.filters.len() > MAX_FILTERS {
            return refuse(format!("You can have at most {MAX_FILTERS} filters."));
        }
        self.filters.iter().try_for_each(Filter::validate)
    }
}

/// "12 December": the page is about the next few weeks, so the year would be noise.
pub fn long_date(day: Date) -> String {
    format!("{} {}", day.day(), month_name(day.month()))
}

fn month_name(month: Month) -> &'static str {
    match month {
        Month::January => "January",
        Month::February => "February",
        Month::March => "March",
        Month::April => "April",
        Month::May => "May",
        Month::June => "June",
        Month::July => "July",
        Month::August => "August",
        Month::September => "September",
        Month::October => "October",
        Month::November => "November",
        Month::December => "December",
    }
}

/// `YYYY-MM-DD`, as `<input type="date">` sends it and Sieve's `date` extension compares it.
pub fn parse_day(value: &str) -> Result<Option<Date>, SettingsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value, &format)
        .map(Some)
        .map_err(|_| SettingsError(format!("{value:?} is not a date like 2026-12-24.")))
}

pub fn format_day(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

mod iso_day {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(day: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match day {
            Some(day) => s.serialize_str(&super::format_day(*day)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_day(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn on() -> Vacation {
        Vacation {
            enabled: true,
            start: Some(date!(2026 - 12 - 01)),
            end: Some(date!(2026 - 12 - 12)),
            subject: "Away".into(),
            text: "Back on Monday.".into(),
            days: 7,
            addresses: vec!["alice@example.test".into()],
        }
    }

    #[test]
    fn status_names_the_last_day() {
        assert_eq!(
            on().status(date!(2026 - 12 - 02)),
            "Your out-of-office reply is on until 12 December."
        );
        assert_eq!(
            on().status(date!(2026 - 11 - 02)),
            "Your out-of-office reply is on from 1 December until 12 December."
        );
        let off = Vacation {
            enabled: false,
            ..on()
        };
        assert_eq!(
            off.status(date!(2026 - 12 - 02)),
            "Your out-of-office reply is off."
        );
    }

    #[test]
    fn dates_in_the_wrong_order_or_past_are_refused() {
        let backwards = Vacation {
            start: Some(date!(2026 - 12 - 12)),
            end: Some(date!(2026 - 12 - 01)),
            ..on()
        };
        let error = backwards.validate(date!(2026 - 11 - 01)).unwrap_err();
        assert!(error.0.contains("before the first day"), "{error}");
        let error = on().validate(date!(2026 - 12 - 13)).unwrap_err();
        assert!(error.0.contains("already over"), "{error}");
        assert_eq!(on().validate(date!(2026 - 12 - 12)), Ok(()));
    }

    #[test]
    fn a_subject_on_two_lines_or_an_empty_text_is_refused() {
        let two_lines = Vacation {
            subject: "Away\r\nBcc: someone".into(),
            ..on()
        };
        assert!(two_lines.validate(date!(2026 - 12 - 02)).is_err());
        let empty = Vacation {
            text: "  \n".into(),
            ..on()
        };
        assert!(empty.validate(date!(2026 - 12 - 02)).is_err());
        let too_often = Vacation { days: 0, ..on() };
        assert!(too_often.validate(date!(2026 - 12 - 02)).is_err());
        // Off, nothing is checked: turning a reply off always works.
        let off = Vacation {
            enabled: false,
            text: String::new(),
            ..on()
        };
        assert_eq!(off.validate(date!(2027 - 01 - 01)), Ok(()));
    }

    #[test]
    fn days_parse_from_the_date_input() {
        assert_eq!(parse_day("2026-12-24"), Ok(Some(date!(2026 - 12 - 24))));
        assert_eq!(parse_day(""), Ok(None));
        assert!(parse_day("24.12.2026").is_err());
        assert!(parse_day("2026-02-30").is_err());
        assert_eq!(format_day(date!(2026 - 01 - 05)), "2026-01-05");
    }

    #[test]
    fn settings_survive_a_round_trip_through_json() {
        let settings = SieveSettings {
            vacation: on(),
            filters: vec![Filter {
                field: Field::ListId,
                contains: "announce".into(),
                action: Action::Move {
                    folder: "Lists/Announce".into(),
                },
            }],
        };
        let json = serde_json::to_string(&settings).expect("serialises");
        assert_eq!(
            serde_json::from_str::<SieveSettings>(&json).ok(),
            Some(settings)
        );
    }
}
