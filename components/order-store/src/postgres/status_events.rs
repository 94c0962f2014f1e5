//! [`StatusEventStore`] in PostgreSQL: one transaction per consumed event,
//! on one connection, in the order the port's documentation gives.
//!
//! `processed_events` is written first, so a concurrent delivery of the same
//! event blocks on that row until the first commits (then finds it, and
//! stops) or rolls back (then goes ahead). The order is locked `FOR UPDATE`
//! by the same statement, before the domain decides, so two different
//! events for one order apply one after the other, each seeing the other's
//! result. An applied event costs three round trips: record and lock, write
//! the change with its event, commit; then one more, after the commit, to
//! wake the outbox relay.

use sales_domain::events::StatusEvent;
use sales_domain::order::Order;
use sales_domain::ports::{
    RepositoryError, StatusChange, StatusDecision, StatusEventOutcome, StatusEventStore,
};
use spin_sdk::pg4::{DbValue, ParameterValue};

use super::rows::order_from_row;
use super::{
    datetime, optional_datetime, outbox_headers, uuid, wake_outbox_relay, LazyConnection, Session,
    ORDER_COLUMNS,
};

/// The new status and its `OrderStatusChanged` event, in one statement (one
/// round trip): the event is written only if the order's row was updated,
/// and the statement counts the events written.
const WRITE_CHANGE: &str = "\
WITH changed AS (
    UPDATE orders SET status = $2, shipped_at = $3, delivered_at = $4, updated_at = $5
    WHERE order_id = $1
    RETURNING order_id
)
INSERT INTO outbox (event_id, event_type, order_id, payload, headers)
SELECT $6, $7, order_id, $8, $9 FROM changed";

/// Records the event in `processed_events` and locks its order, in one
/// statement that always answers one row: `recorded` (1 for a new event, 0
/// for one processed before), then the order's [`ORDER_COLUMNS`], NULL when
/// the event was not new or no order has its id. The order is read (and
/// locked) only once the event is recorded: `FOR UPDATE` in READ COMMITTED
/// returns the newest committed version of the row, whatever the
/// statement's snapshot.
fn record_and_lock() -> String {
    format!(
        "WITH recorded AS (
    INSERT INTO processed_events (event_id, event_type, order_id) VALUES ($1, $2, $3)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), locked AS MATERIALIZED (
    SELECT {ORDER_COLUMNS} FROM orders
    WHERE order_id = $3 AND EXISTS (SELECT 1 FROM recorded)
    FOR UPDATE
)
SELECT (SELECT count(*) FROM recorded)::int4 AS recorded, locked.*
FROM (VALUES (1)) AS one LEFT JOIN locked ON true"
    )
}

pub struct PgStatusEventStore<'a> {
    connection: LazyConnection<'a>,
}

impl<'a> PgStatusEventStore<'a> {
    pub fn new(address: &'a str) -> Self {
        Self {
            connection: LazyConnection::new(address),
        }
    }
}

impl StatusEventStore for PgStatusEventStore<'_> {
    fn apply(
        &self,
        event: &StatusEvent,
        decide: &dyn Fn(&Order) -> StatusDecision,
    ) -> Result<StatusEventOutcome, RepositoryError> {
        apply_in_transaction(self.connection.get()?, event, decide)
    }
}

/// How the transaction ends.
enum End {
    Commit,
    Rollback,
}

fn apply_in_transaction(
    session: &dyn Session,
    event: &StatusEvent,
    decide: &dyn Fn(&Order) -> StatusDecision,
) -> Result<StatusEventOutcome, RepositoryError> {
    session.execute("BEGIN", &[])?;
    let (end, outcome) = match decide_within(session, event, decide) {
        Ok(decided) => decided,
        Err(error) => {
            rollback(session);
            return Err(error);
        }
    };
    match end {
        End::Commit => {
            if let Err(error) = session.execute("COMMIT", &[]) {
                rollback(session);
                return Err(error);
            }
            if matches!(
                outcome,
                StatusEventOutcome::Decided(StatusDecision::Apply(_))
            ) {
                wake_outbox_relay(session);
            }
        }
        // Nothing was written that matters, so a failed rollback changes
        // nothing: the host rolls the connection back when it is dropped.
        End::Rollback => rollback(session),
    }
    Ok(outcome)
}

/// Everything between `BEGIN` and its end.
fn decide_within(
    session: &dyn Session,
    event: &StatusEvent,
    decide: &dyn Fn(&Order) -> StatusDecision,
) -> Result<(End, StatusEventOutcome), RepositoryError> {
    let rows = session.query(
        &record_and_lock(),
        &[
            ParameterValue::Str(event.event_id.to_string()),
            ParameterValue::Str(event.event_type.as_str().to_owned()),
            uuid(&event.order_id),
        ],
    )?;
    let Some((recorded, order_row)) = rows.rows.first().and_then(|row| row.split_first()) else {
        return Err(RepositoryError::Other(
            "recording the event answered no row".to_owned(),
        ));
    };
    match recorded {
        DbValue::Int32(1) => {}
        DbValue::Int32(0) => return Ok((End::Rollback, StatusEventOutcome::AlreadyProcessed)),
        other => {
            return Err(RepositoryError::Other(format!(
                "recording the event answered {other:?}"
            )))
        }
    }
    if matches!(order_row.first(), None | Some(DbValue::DbNull)) {
        return Ok((End::Rollback, StatusEventOutcome::OrderNotFound));
    }
    let (order, _fingerprint) = order_from_row(order_row)?;

    let decision = decide(&order);
    let end = match &decision {
        StatusDecision::Apply(change) => {
            write_change(session, change)?;
            End::Commit
        }
        StatusDecision::Skip => End::Commit,
        StatusDecision::Refuse(_) => End::Rollback,
    };
    Ok((end, StatusEventOutcome::Decided(decision)))
}

fn write_change(session: &dyn Session, change: &StatusChange) -> Result<(), RepositoryError> {
    let order = &change.order;
    let event = &change.event;
    if event.order_id != order.id {
        return Err(RepositoryError::Other(format!(
            "event {} is about order {}, not {}",
            event.event_id, event.order_id, order.id
        )));
    }
    let written = session.execute(
        WRITE_CHANGE,
        &[
            uuid(&order.id),
            ParameterValue::Str(order.status.as_str().to_owned()),
            optional_datetime(order.shipped_at.as_ref()),
            optional_datetime(order.delivered_at.as_ref()),
            datetime(&order.updated_at),
            ParameterValue::Uuid(event.event_id.to_string()),
            ParameterValue::Str(event.event_type.as_str().to_owned()),
            ParameterValue::Jsonb(event.to_json().into_bytes()),
            outbox_headers(&change.correlation),
        ],
    )?;
    if written != 1 {
        return Err(RepositoryError::Other(format!(
            "order {} updated with {written} events written, not 1",
            order.id
        )));
    }
    Ok(())
}

/// Best effort: on failure the host rolls back when the connection drops.
fn rollback(session: &dyn Session) {
    if let Err(error) = session.execute("ROLLBACK", &[]) {
        eprintln!("rollback failed: {error:?}");
    }
}

#[cfg(test)]
mod tests;
