//! Instants as the service shows and stores them: UTC, millisecond precision.
//!
//! Truncating on construction means a timestamp reads back from the database
//! (microseconds) or from a cache (JSON) exactly as it was first shown, so a
//! replayed response and a fresh read agree to the byte.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision, shown as RFC 3339 with exactly
/// three fractional digits and `Z`, e.g. `2026-11-24T10:00:00.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// The input was not an RFC 3339 date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp")]
pub struct NotATimestamp;

impl Timestamp {
    pub fn from_datetime(instant: DateTime<Utc>) -> Self {
        // `with_nanosecond` only fails above 2 s of nanoseconds (past a leap
        // second), and truncating never gets there.
        let millis_only = instant.nanosecond() / 1_000_000 * 1_000_000;
        Self(instant.with_nanosecond(millis_only).unwrap_or(instant))
    }

    /// A database `TIMESTAMP` (without time zone) holds UTC in this service.
    pub fn from_naive_utc(instant: NaiveDateTime) -> Self {
        Self::from_datetime(instant.and_utc())
    }

    /// `None` when the instant is outside what `chrono` represents.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis).map(Self)
    }

    /// Accepts any offset and converts to UTC; digits below the millisecond
    /// are dropped.
    pub fn parse_rfc3339(input: &str) -> Result<Self, NotATimestamp> {
        DateTime::parse_from_rfc3339(input)
            .map(|instant| Self::from_datetime(instant.with_timezone(&Utc)))
            .map_err(|_| NotATimestamp)
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// For storage in a `TIMESTAMP` (without time zone) column.
    pub fn to_naive_utc(&self) -> NaiveDateTime {
        self.0.naive_utc()
    }

    pub fn unix_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(instant: DateTime<Utc>) -> Self {
        Self::from_datetime(instant)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn naive(nanos: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_hms_nano_opt(10, 0, 0, nanos)
            .unwrap()
    }

    #[test]
    fn a_timestamp_shows_three_fractional_digits_and_z() {
        let at = Timestamp::from_naive_utc(naive(123_456_789));
        assert_eq!(at.to_string(), "2026-11-24T10:00:00.123Z");
    }

    #[test]
    fn whole_seconds_still_show_milliseconds() {
        assert_eq!(
            Timestamp::from_naive_utc(naive(0)).to_string(),
            "2026-11-24T10:00:00.000Z"
        );
    }

    #[test]
    fn precision_below_a_millisecond_is_dropped_not_rounded() {
        let at = Timestamp::from_naive_utc(naive(999_999_999));
        assert_eq!(at.to_string(), "2026-11-24T10:00:00.999Z");
        assert_eq!(at.to_naive_utc(), naive(999_000_000));
    }

    #[test]
    fn every_constructor_agrees() {
        let from_naive = Timestamp::from_naive_utc(naive(123_000_000));
        let from_datetime = Timestamp::from(naive(123_400_000).and_utc());
        let from_millis = Timestamp::from_unix_millis(from_naive.unix_millis()).unwrap();
        let parsed = Timestamp::parse_rfc3339("2026-11-24T11:00:00.1239+01:00").unwrap();
        assert_eq!(from_naive, from_datetime);
        assert_eq!(from_naive, from_millis);
        assert_eq!(from_naive, parsed);
    }

    #[test]
    fn a_timestamp_serializes_as_its_display_and_reads_back() {
        let at = Timestamp::from_naive_utc(naive(5_000_000));
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2026-11-24T10:00:00.005Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
    }

    #[test]
    fn text_that_is_not_rfc_3339_is_refused() {
        for input in ["", "yesterday", "2026-11-24", "2026-11-24 10:00:00"] {
            assert_eq!(
                Timestamp::parse_rfc3339(input),
                Err(NotATimestamp),
                "{input:?}"
            );
        }
    }
}
