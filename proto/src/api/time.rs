//! The API's `timestamp` type: epoch seconds as a JSON number.
//!
//! rest-json has no `timestampFormat` trait on any X-Ray member, so every timestamp travels as
//! epoch seconds in a JSON number. We always write a float (`1528317567.0`, as AWS does), and
//! read integers, floats and, leniently, RFC 3339 / ISO-8601 strings (the AWS CLI takes those
//! from users; a hand-written client may send them through). The date arithmetic is written here
//! (days-from-civil) rather than pulled from a date crate.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time as (possibly fractional) seconds since the Unix epoch, the wire form of every
/// X-Ray API `timestamp` member.
///
/// Serializes as a JSON number (always with a fraction, e.g. `1700000000.0`); deserializes from a
/// JSON integer, a JSON float, a numeric string or an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct EpochSeconds(pub f64);

/// Why a timestamp string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: {reason}")]
pub struct TimestampError {
    /// The text that was rejected.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl EpochSeconds {
    /// The Unix epoch itself (`0.0`).
    pub const EPOCH: EpochSeconds = EpochSeconds(0.0);

    /// Wraps a number of seconds since the epoch.
    pub const fn new(seconds: f64) -> Self {
        EpochSeconds(seconds)
    }

    /// The seconds since the epoch.
    pub const fn as_secs_f64(self) -> f64 {
        self.0
    }

    /// Converts to a [`SystemTime`]; `None` if the value is not finite or out of range.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if !self.0.is_finite() {
            return None;
        }
        let magnitude = Duration::try_from_secs_f64(self.0.abs()).ok()?;
        if self.0 >= 0.0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }

    /// Parses an RFC 3339 / ISO-8601 date-time such as `2026-11-27T17:40:00Z` or
    /// `2026-11-27T17:40:00.123+01:00`.
    ///
    /// Lenient in the ways clients are: `t`/space accepted for `T`, `z` for `Z`, a missing offset
    /// means UTC, seconds may be omitted, an offset may be written `+0100` or `+01`, and a bare date
    /// means midnight UTC.
    pub fn parse_rfc3339(input: &str) -> Result<Self, TimestampError> {
        parse_rfc3339(input.trim()).map_err(|reason| TimestampError {
            input: input.to_owned(),
            reason,
        })
    }

    /// Formats as RFC 3339 in UTC, with milliseconds when the value has a fraction
    /// (`2026-11-27T17:40:00Z`, `2026-11-27T17:40:00.123Z`). Non-finite values give `None`.
    pub fn to_rfc3339(self) -> Option<String> {
        if !self.0.is_finite() {
            return None;
        }
        let total_ms = (self.0 * 1000.0).round();
        if total_ms.abs() > 1.0e17 {
            return None;
        }
        // In range: |total_ms| <= 1e17 fits i64.
        let total_ms = total_ms as i64;
        let days = total_ms.div_euclid(86_400_000);
        let ms_of_day = total_ms.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss, ms) = (
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000,
        );
        Some(if ms == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
        })
    }
}

impl From<f64> for EpochSeconds {
    fn from(seconds: f64) -> Self {
        EpochSeconds(seconds)
    }
}

impl From<EpochSeconds> for f64 {
    fn from(t: EpochSeconds) -> Self {
        t.0
    }
}

impl From<SystemTime> for EpochSeconds {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => EpochSeconds(after.as_secs_f64()),
            Err(before) => EpochSeconds(-before.duration().as_secs_f64()),
        }
    }
}

impl FromStr for EpochSeconds {
    type Err = TimestampError;

    /// Accepts a decimal number of seconds (`"1700000000.5"`) or an RFC 3339 string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
            && let Ok(v) = trimmed.parse::<f64>()
        {
            return if v.is_finite() {
                Ok(EpochSeconds(v))
            } else {
                Err(TimestampError {
                    input: s.to_owned(),
                    reason: "not a finite number",
                })
            };
        }
        EpochSeconds::parse_rfc3339(s)
    }
}

impl Serialize for EpochSeconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.0.is_finite() {
            // serde_json would silently write `null`, which every SDK rejects.
            return Err(serde::ser::Error::custom(
                "timestamp is not a finite number",
            ));
        }
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for EpochSeconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EpochSecondsVisitor)
    }
}

struct EpochSecondsVisitor;

impl Visitor<'_> for EpochSecondsVisitor {
    type Value = EpochSeconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("epoch seconds as a number, or an RFC 3339 date-time string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(EpochSeconds(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(EpochSeconds(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.is_finite() {
            Ok(EpochSeconds(v))
        } else {
            Err(E::custom("timestamp is not a finite number"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.parse().map_err(E::custom)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day number.
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

/// A tiny cursor over ASCII bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, n: usize, what: &'static str) -> Result<i64, &'static str> {
        let mut v = 0i64;
        for _ in 0..n {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(c - b'0');
                    self.pos += 1;
                }
                _ => return Err(what),
            }
        }
        Ok(v)
    }
}

fn parse_rfc3339(s: &str) -> Result<EpochSeconds, &'static str> {
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4, "expected a 4-digit year")?;
    if !c.eat(b'-') {
        return Err("expected '-' after the year");
    }
    let month = c.digits(2, "expected a 2-digit month")?;
    if !c.eat(b'-') {
        return Err("expected '-' after the month");
    }
    let day = c.digits(2, "expected a 2-digit day")?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return Err("day out of range");
    }
    let (mut hour, mut minute, mut second, mut fraction) = (0, 0, 0, 0.0);
    let mut offset_seconds = 0i64;
    if c.peek().is_some() {
        if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
            return Err("expected 'T' between date and time");
        }
        hour = c.digits(2, "expected a 2-digit hour")?;
        if !c.eat(b':') {
            return Err("expected ':' after the hour");
        }
        minute = c.digits(2, "expected 2-digit minutes")?;
        if c.eat(b':') {
            second = c.digits(2, "expected 2-digit seconds")?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.pos;
                while matches!(c.peek(), Some(b'0'..=b'9')) {
                    c.pos += 1;
                }
                if c.pos == start {
                    return Err("expected digits after the decimal point");
                }
                // The slice is ASCII digits only, so this is valid UTF-8 and a valid float.
                let digits = std::str::from_utf8(&c.bytes[start..c.pos]).unwrap_or("0");
                fraction = format!("0.{digits}").parse::<f64>().unwrap_or(0.0);
            }
        }
        if hour > 23 {
            return Err("hour out of range");
        }
        if minute > 59 {
            return Err("minute out of range");
        }
        // 60 is a leap second, which RFC 3339 allows; it reads as the next second.
        if second > 60 {
            return Err("second out of range");
        }
        match c.peek() {
            None => {}
            Some(b'Z' | b'z') => c.pos += 1,
            Some(sign @ (b'+' | b'-')) => {
                c.pos += 1;
                let oh = c.digits(2, "expected a 2-digit offset hour")?;
                // `+01:00`, `+0100` or `+01`.
                let om = if c.peek().is_some() {
                    c.eat(b':');
                    c.digits(2, "expected 2-digit offset minutes")?
                } else {
                    0
                };
                if oh > 23 || om > 59 {
                    return Err("offset out of range");
                }
                offset_seconds = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
            }
            Some(_) => return Err("expected 'Z' or a numeric offset"),
        }
    }
    if c.peek().is_some() {
        return Err("unexpected trailing characters");
    }
    let whole = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Ok(EpochSeconds(whole as f64 + fraction))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> f64 {
        EpochSeconds::parse_rfc3339(s).unwrap().0
    }

    #[test]
    fn civil_round_trip_and_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1600, 2, 29), -135_081);
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(parse("2026-11-27T17:40:00Z"), 1_795_801_200.0);
        assert_eq!(parse("2026-11-27T17:40:00.123+01:00"), 1_795_797_600.123);
        assert_eq!(parse("2026-11-27T16:40:00-00:00"), 1_795_797_600.0);
        assert_eq!(parse("2026-11-27T11:10:00-0530"), 1_795_797_600.0);
        assert_eq!(parse("2026-11-27t17:40:00z"), 1_795_801_200.0);
        assert_eq!(parse("2026-11-27 17:40:00"), 1_795_801_200.0);
        assert_eq!(parse("2026-11-27T17:40Z"), 1_795_801_200.0);
        assert_eq!(parse("2026-11-27"), 1_795_737_600.0);
        assert_eq!(parse("2024-02-29T00:00:00Z"), 1_709_164_800.0);
        assert_eq!(parse("2016-12-31T23:59:60Z"), 1_483_228_800.0);
        assert_eq!(parse("1969-12-31T23:59:59.5Z"), -0.5);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T17:60:00Z",
            "2026-11-27T17:40:61Z",
            "2026-11-27T17:40:00.Z",
            "2026-11-27T17:40:00+25:00",
            "2026-11-27T17:40:00 UTC",
            "26-11-27T17:40:00Z",
            "2026/11/27",
        ] {
            assert!(
                EpochSeconds::parse_rfc3339(bad).is_err(),
                "{bad:?} accepted"
            );
        }
        let err = EpochSeconds::parse_rfc3339("2026-13-01").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid timestamp \"2026-13-01\": month out of range"
        );
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(
            EpochSeconds(1_795_801_200.0).to_rfc3339().unwrap(),
            "2026-11-27T17:40:00Z"
        );
        assert_eq!(
            EpochSeconds(1_795_797_600.123).to_rfc3339().unwrap(),
            "2026-11-27T16:40:00.123Z"
        );
        assert_eq!(
            EpochSeconds(-0.5).to_rfc3339().unwrap(),
            "1969-12-31T23:59:59.500Z"
        );
        assert_eq!(EpochSeconds(f64::NAN).to_rfc3339(), None);
        for t in [0.0, 1.5, 951_782_400.0, 1_795_797_600.25, -86_400.0] {
            let s = EpochSeconds(t).to_rfc3339().unwrap();
            assert_eq!(parse(&s), t, "{s}");
        }
    }

    #[test]
    fn system_time_conversions() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(EpochSeconds::from(t), EpochSeconds(1_700_000_000.25));
        assert_eq!(EpochSeconds(1_700_000_000.25).to_system_time(), Some(t));
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(EpochSeconds::from(before), EpochSeconds(-10.0));
        assert_eq!(EpochSeconds(-10.0).to_system_time(), Some(before));
        assert_eq!(EpochSeconds(f64::INFINITY).to_system_time(), None);
        assert_eq!(f64::from(EpochSeconds::from(2.5)), 2.5);
    }

    #[test]
    fn from_str_takes_numbers_and_dates() {
        assert_eq!("1700000000".parse(), Ok(EpochSeconds(1_700_000_000.0)));
        assert_eq!(" 1700000000.5 ".parse(), Ok(EpochSeconds(1_700_000_000.5)));
        assert_eq!("1970-01-02T00:00:00Z".parse(), Ok(EpochSeconds(86_400.0)));
        assert!("inf".parse::<EpochSeconds>().is_err());
        assert!("-inf".parse::<EpochSeconds>().is_err());
        assert!("NaN".parse::<EpochSeconds>().is_err());
    }
}
