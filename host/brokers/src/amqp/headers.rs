//! Conversions between AMQP header tables and the plain string pairs of this crate's API.

use lapin::types::{AMQPValue, FieldTable, LongString};

use super::{short, ATTEMPTS_HEADER};
use crate::BrokerError;

/// Builds a header table of long strings.
pub(super) fn table_from_pairs(pairs: &[(String, String)]) -> Result<FieldTable, BrokerError> {
    let mut table = FieldTable::default();
    for (key, value) in pairs {
        table.insert(
            short(key, "header name")?,
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    Ok(table)
}

/// The scalar headers as strings; tables and arrays (such as `x-death`) are left out.
pub(super) fn pairs_from_table(table: Option<&FieldTable>) -> Vec<(String, String)> {
    table
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(key, value)| Some((key.to_string(), scalar_to_string(value)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// How many attempts already failed, from `x-attempts` (0 when absent or unreadable).
pub(super) fn attempts(table: Option<&FieldTable>) -> u32 {
    table
        .and_then(|table| table.inner().get(ATTEMPTS_HEADER))
        .and_then(scalar_to_string)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the broker's own dead-letter bookkeeping wrote this header. Copies we
/// republish leave these out: `x-attempts` is the count that matters here.
pub(super) fn is_broker_death_header(key: &str) -> bool {
    key == "x-death" || key.starts_with("x-first-death-") || key.starts_with("x-last-death-")
}

fn scalar_to_string(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::Boolean(v) => v.to_string(),
        AMQPValue::ShortShortInt(v) => v.to_string(),
        AMQPValue::ShortShortUInt(v) => v.to_string(),
        AMQPValue::ShortInt(v) => v.to_string(),
        AMQPValue::ShortUInt(v) => v.to_string(),
        AMQPValue::LongInt(v) => v.to_string(),
        AMQPValue::LongUInt(v) => v.to_string(),
        AMQPValue::LongLongInt(v) => v.to_string(),
        AMQPValue::Float(v) => v.to_string(),
        AMQPValue::Double(v) => v.to_string(),
        AMQPValue::Timestamp(v) => v.to_string(),
        AMQPValue::ShortString(v) => v.to_string(),
        AMQPValue::LongString(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_read_from_integers_and_strings_and_default_to_zero() {
        let mut table = FieldTable::default();
        assert_eq!(attempts(Some(&table)), 0);
        table.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongLongInt(2));
        assert_eq!(attempts(Some(&table)), 2);
        table.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongString("3".into()));
        assert_eq!(attempts(Some(&table)), 3);
        assert_eq!(attempts(None), 0);
    }

    #[test]
    fn string_pairs_survive_a_round_trip_and_nested_tables_are_skipped() {
        let pairs = vec![("a".to_string(), "1".to_string())];
        let mut table = table_from_pairs(&pairs).expect("valid names");
        table.insert(
            "x-death".into(),
            AMQPValue::FieldTable(FieldTable::default()),
        );
        assert_eq!(pairs_from_table(Some(&table)), pairs);
    }
}
