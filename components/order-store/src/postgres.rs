//! Orders in PostgreSQL, through Spin's `spin:postgres` interface: what the
//! repository and the status event store share (the connection, the order
//! columns, parameters, and driver errors in domain terms).

mod orders;
mod rows;
mod status_events;

use chrono::{Datelike, Timelike};
use sales_domain::correlation::Correlation;
use sales_domain::ports::RepositoryError;
use sales_domain::time::Timestamp;
use spin_sdk::pg4::{Connection, ParameterValue, PgError, QueryError, RowSet};

pub use orders::PgOrderRepository;
pub use status_events::PgStatusEventStore;

/// The contract's `UNIQUE (user_id, idempotency_key)` (migration 0002).
const IDEMPOTENCY_CONSTRAINT: &str = "orders_user_id_idempotency_key_key";

/// The columns [`rows::order_from_row`] reads, in its order.
const ORDER_COLUMNS: &str = "order_id, user_id, product_id, quantity, status, idempotency_key, \
     created_at, updated_at, shipped_at, delivered_at, request_fingerprint";

/// A connection for one adapter call, closed when the call returns: the
/// host's pooled connection is then held only while the adapter talks to
/// Postgres, not through the request's or message's other work.
fn connect(address: &str) -> Result<Connection, RepositoryError> {
    Connection::open(address).map_err(repository_error)
}

/// The statements the adapters need, errors already in domain terms, so
/// that a transaction's sequence can be tested without a database.
trait Session {
    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, RepositoryError>;
    fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, RepositoryError>;
}

impl Session for Connection {
    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, RepositoryError> {
        Connection::execute(self, statement, params).map_err(repository_error)
    }

    fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, RepositoryError> {
        Connection::query(self, statement, params).map_err(repository_error)
    }
}

/// Migration 0005's function, called once outbox rows have committed.
const WAKE_OUTBOX_RELAY: &str = "SELECT wake_outbox_relay()";

/// Wakes the outbox relay after a commit that wrote outbox rows: a NOTIFY
/// inside the writing transaction would serialise every such commit
/// (migration 0005 says how). Best effort: the rows are committed, and a
/// lost wake only delays them until the relay's interval run.
fn wake_outbox_relay(session: &dyn Session) {
    if let Err(error) = session.execute(WAKE_OUTBOX_RELAY, &[]) {
        eprintln!("waking the outbox relay failed, its interval run will publish: {error:?}");
    }
}

/// Driver errors in domain terms: the idempotency constraint is a duplicate,
/// a lost or refused connection means the database is unavailable.
fn repository_error(error: PgError) -> RepositoryError {
    match &error {
        PgError::ConnectionFailed(why) => RepositoryError::Unavailable(why.clone()),
        PgError::QueryFailed(QueryError::DbError(db)) => {
            let constraint = db
                .extras
                .iter()
                .find(|(name, _)| name == "constraint")
                .map(|(_, value)| value.as_str());
            if db.code == "23505"
                && (constraint == Some(IDEMPOTENCY_CONSTRAINT)
                    || db.message.contains(IDEMPOTENCY_CONSTRAINT))
            {
                RepositoryError::DuplicateIdempotencyKey
            } else if db.code.starts_with("08") || db.code.starts_with("57P") {
                RepositoryError::Unavailable(db.as_text.clone())
            } else {
                RepositoryError::Other(db.as_text.clone())
            }
        }
        other => RepositoryError::Other(format!("{other:?}")),
    }
}

fn uuid(value: &impl ToString) -> ParameterValue {
    ParameterValue::Uuid(value.to_string())
}

fn datetime(timestamp: &Timestamp) -> ParameterValue {
    let t = timestamp.to_naive_utc();
    ParameterValue::Datetime((
        t.year(),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    ))
}

fn optional_datetime(timestamp: Option<&Timestamp>) -> ParameterValue {
    timestamp.map_or(ParameterValue::DbNull, datetime)
}

/// The outbox row's `headers` (migration 0004): a JSON object of the
/// correlation's headers, which the relay publishes with the event.
fn outbox_headers(correlation: &Correlation) -> ParameterValue {
    let headers: serde_json::Map<String, serde_json::Value> = correlation
        .headers()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), serde_json::Value::from(value)))
        .collect();
    ParameterValue::Jsonb(serde_json::Value::Object(headers).to_string().into_bytes())
}

#[cfg(test)]
mod outbox_headers_tests {
    use super::*;

    fn json(value: &ParameterValue) -> serde_json::Value {
        match value {
            ParameterValue::Jsonb(bytes) => serde_json::from_slice(bytes).unwrap(),
            other => panic!("not JSONB: {other:?}"),
        }
    }

    #[test]
    fn the_headers_column_is_an_object_of_the_known_headers() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let both = Correlation::from_headers(Some("req-1"), Some(traceparent));
        assert_eq!(
            json(&outbox_headers(&both)),
            serde_json::json!({"x-request-id": "req-1", "traceparent": traceparent})
        );
        assert_eq!(
            json(&outbox_headers(&Correlation::default())),
            serde_json::json!({})
        );
    }
}
