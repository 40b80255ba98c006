//! X.509 times as seconds since the Unix epoch.
//!
//! Our own parser rather than `der`'s: that one cannot represent UTCTime years 1950–1969,
//! which RFC 5280 allows and PKITS uses (a notBefore of 1950).

use super::der::{DerError, GENERALIZED_TIME, Tlv, UTC_TIME};

/// Seconds since 1970-01-01T00:00:00Z; negative before it.
pub type UnixTime = i64;

/// Reads a UTCTime or GeneralizedTime in the RFC 5280 form (`Z`, seconds, no fractions).
pub fn parse(tlv: &Tlv<'_>) -> Result<UnixTime, DerError> {
    let v = tlv.value;
    let (year, rest) = match tlv.tag {
        UTC_TIME if v.len() == 13 => {
            let yy = two(v, 0)?;
            // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        GENERALIZED_TIME if v.len() == 15 => (two(v, 0)? * 100 + two(v, 2)?, &v[4..]),
        _ => return Err(DerError::Invalid("time")),
    };
    if rest.get(10) != Some(&b'Z') {
        return Err(DerError::Invalid("time zone"));
    }
    let (month, day) = (two(rest, 0)?, two(rest, 2)?);
    let (hour, minute, second) = (two(rest, 4)?, two(rest, 6)?, two(rest, 8)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(DerError::Invalid("time"));
    }
    let days = days_since_epoch(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn two(v: &[u8], at: usize) -> Result<i64, DerError> {
    match (v.get(at), v.get(at + 1)) {
        (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => {
            Ok(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
        }
        _ => Err(DerError::Invalid("time digits")),
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date, counted by whole years then months: the
/// years involved are 1950..=9999, so the loop is short and obviously right.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let mut days = 0;
    if year >= 1970 {
        for y in 1970..year {
            days += if is_leap(y) { 366 } else { 365 };
        }
    } else {
        for y in year..1970 {
            days -= if is_leap(y) { 366 } else { 365 };
        }
    }
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tag: u8, s: &str) -> Result<UnixTime, DerError> {
        let mut der = vec![tag, s.len() as u8];
        der.extend_from_slice(s.as_bytes());
        parse(&Tlv::parse_exact(&der).unwrap())
    }

    #[test]
    fn known_instants() {
        assert_eq!(t(UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(t(UTC_TIME, "000229120000Z"), Ok(951_825_600));
        assert_eq!(t(GENERALIZED_TIME, "20301231235959Z"), Ok(1_924_991_999));
        assert_eq!(t(UTC_TIME, "500101120100Z"), Ok(-631_108_740));
    }

    #[test]
    fn refuses_malformed() {
        assert!(t(UTC_TIME, "7001010000Z").is_err());
        assert!(t(UTC_TIME, "700230000000Z").is_err());
        assert!(t(GENERALIZED_TIME, "20300101000000+0100").is_err());
    }
}
