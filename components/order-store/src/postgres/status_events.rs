//! [`StatusEventStore`] in PostgreSQL, with optimistic concurrency: the
//! event and its order are read without a lock, the domain decides, and the
//! decision is written by ONE statement (atomic, committed on its own) that
//! holds only if the order still has the status and `updated_at` it was
//! read with. A statement that finds the order changed writes nothing; the
//! store then reads again, and decides again on what it finds (a concurrent
//! duplicate that got there first is then found in `processed_events`).
//!
//! Why not a transaction that locks the order: that is three round trips for
//! an applied event (record and lock, write, `COMMIT`) and two for a
//! duplicate, with the order's row locked across the guest's decision. Here
//! an applied event costs read and write; a duplicate, an unknown order or a
//! refusal, the read alone. Status events for one order are rare enough
//! that the lost race costs less than the locks it saves.
//!
//! No `NOTIFY` follows the write: this store runs in a broker-triggered
//! handler, and `sales-host`'s AMQP trigger wakes the outbox relays of its
//! process once the handler returns `ok` (a round trip per event saved on a
//! small pool: `bench/results/consumer-local-wake-ab-2026-12-07.txt`).

use sales_domain::events::StatusEvent;
use sales_domain::order::Order;
use sales_domain::ports::{
    RepositoryError, StatusChange, StatusDecision, StatusEventOutcome, StatusEventStore,
};
use spin_sdk::pg4::{DbValue, ParameterValue};

use super::rows::order_from_row;
use super::{connect, datetime, optional_datetime, outbox_headers, uuid, Session, ORDER_COLUMNS};

/// Reads (and writes) before giving up on an order that keeps changing
/// under the decision: the message is then retried later.
const ATTEMPTS: usize = 5;

/// Always one row: whether the event was processed before, then the order's
/// [`ORDER_COLUMNS`], or NULLs when no order has the id.
fn read_event_and_order() -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1) AS processed, current.*
FROM (VALUES (1)) AS one
LEFT JOIN (SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $2) AS current ON true"
    )
}

/// An applied decision: the order's new status, the consumed event recorded
/// and the `OrderStatusChanged` event written, all only if the order still
/// has the status ($6) and `updated_at` ($7) that the decision was made on
/// (`updated_at` to the millisecond: the domain's
/// [`Timestamp`](sales_domain::time::Timestamp) keeps no
/// more, so the column's microseconds are cut to compare).
/// Answers the number of outbox rows written: 1, or 0 when the order changed.
/// (A data-modifying CTE runs whether or not the main query reads it.)
const WRITE_CHANGE: &str = "\
WITH changed AS (
    UPDATE orders SET status = $2, shipped_at = $3, delivered_at = $4, updated_at = $5
    WHERE order_id = $1 AND status = $6 AND date_trunc('milliseconds', updated_at) = $7
    RETURNING order_id
), recorded AS (
    INSERT INTO processed_events (event_id, event_type, order_id)
    SELECT $8, $9, order_id FROM changed
)
INSERT INTO outbox (event_id, event_type, order_id, payload, headers)
SELECT $10, $11, order_id, $12, $13 FROM changed";

/// A skipped event (the order already has its status), recorded only if the
/// order is still as it was read. Answers 1, or 0 when the order changed or
/// a concurrent duplicate recorded the event first.
const RECORD_SKIPPED: &str = "\
INSERT INTO processed_events (event_id, event_type, order_id)
SELECT $1, $2, order_id FROM orders
WHERE order_id = $3 AND status = $4 AND date_trunc('milliseconds', updated_at) = $5
ON CONFLICT (event_id) DO NOTHING";

pub struct PgStatusEventStore<'a> {
    address: &'a str,
}

impl<'a> PgStatusEventStore<'a> {
    pub fn new(address: &'a str) -> Self {
        Self { address }
    }
}

impl StatusEventStore for PgStatusEventStore<'_> {
    fn apply(
        &self,
        event: &StatusEvent,
        decide: &dyn Fn(&Order) -> StatusDecision,
    ) -> Result<StatusEventOutcome, RepositoryError> {
        // Closed on return, before the handler invalidates the cache.
        apply_decided(&connect(self.address)?, event, decide)
    }
}

/// What one read found.
enum Found {
    /// The event's id is in `processed_events`.
    Processed,
    /// No order has the event's `order_id`.
    NoOrder,
    Order(Order),
}

fn apply_decided(
    session: &dyn Session,
    event: &StatusEvent,
    decide: &dyn Fn(&Order) -> StatusDecision,
) -> Result<StatusEventOutcome, RepositoryError> {
    for _ in 0..ATTEMPTS {
        let order = match read(session, event)? {
            Found::Processed => return Ok(StatusEventOutcome::AlreadyProcessed),
            Found::NoOrder => return Ok(StatusEventOutcome::OrderNotFound),
            Found::Order(order) => order,
        };
        let decision = decide(&order);
        let written = match &decision {
            StatusDecision::Apply(change) => write_change(session, event, &order, change)?,
            StatusDecision::Skip => record_skipped(session, event, &order)?,
            StatusDecision::Refuse(_) => true,
        };
        if written {
            return Ok(StatusEventOutcome::Decided(decision));
        }
    }
    Err(RepositoryError::Other(format!(
        "order {} changed under each of {ATTEMPTS} decisions on event {}",
        event.order_id, event.event_id
    )))
}

fn read(session: &dyn Session, event: &StatusEvent) -> Result<Found, RepositoryError> {
    let rows = session.query(
        &read_event_and_order(),
        &[
            ParameterValue::Str(event.event_id.to_string()),
            uuid(&event.order_id),
        ],
    )?;
    let Some((processed, order_row)) = rows.rows.first().and_then(|row| row.split_first()) else {
        return Err(RepositoryError::Other(
            "reading the event and its order answered no row".to_owned(),
        ));
    };
    match processed {
        DbValue::Boolean(true) => return Ok(Found::Processed),
        DbValue::Boolean(false) => {}
        other => {
            return Err(RepositoryError::Other(format!(
                "reading the event answered {other:?}"
            )))
        }
    }
    if matches!(order_row.first(), None | Some(DbValue::DbNull)) {
        return Ok(Found::NoOrder);
    }
    let (order, _fingerprint) = order_from_row(order_row)?;
    Ok(Found::Order(order))
}

/// Whether the change was written (false: the order had changed).
fn write_change(
    session: &dyn Session,
    consumed: &StatusEvent,
    read: &Order,
    change: &StatusChange,
) -> Result<bool, RepositoryError> {
    let order = &change.order;
    let event = &change.event;
    if event.order_id != order.id || order.id != read.id {
        return Err(RepositoryError::Other(format!(
            "event {} is about order {}, the change about {}, the read order is {}",
            event.event_id, event.order_id, order.id, read.id
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
            ParameterValue::Str(read.status.as_str().to_owned()),
            datetime(&read.updated_at),
            ParameterValue::Str(consumed.event_id.to_string()),
            ParameterValue::Str(consumed.event_type.as_str().to_owned()),
            ParameterValue::Uuid(event.event_id.to_string()),
            ParameterValue::Str(event.event_type.as_str().to_owned()),
            ParameterValue::Jsonb(event.to_json().into_bytes()),
            outbox_headers(&change.correlation),
        ],
    )?;
    match written {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(RepositoryError::Other(format!(
            "order {} updated with {n} events written, not 1",
            order.id
        ))),
    }
}

/// Whether the event was recorded (false: the order had changed, or the
/// event was recorded by a concurrent duplicate).
fn record_skipped(
    session: &dyn Session,
    consumed: &StatusEvent,
    read: &Order,
) -> Result<bool, RepositoryError> {
    let recorded = session.execute(
        RECORD_SKIPPED,
        &[
            ParameterValue::Str(consumed.event_id.to_string()),
            ParameterValue::Str(consumed.event_type.as_str().to_owned()),
            uuid(&read.id),
            ParameterValue::Str(read.status.as_str().to_owned()),
            datetime(&read.updated_at),
        ],
    )?;
    Ok(recorded == 1)
}

#[cfg(test)]
mod tests;
