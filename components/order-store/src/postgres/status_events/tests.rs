//! The statements, in order, for every way applying an event can go.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use sales_domain::correlation::Correlation;
use sales_domain::events::{EventEnvelope, EventType};
use sales_domain::ids::{OrderId, ProductId, UserId};
use sales_domain::order::{IdempotencyKey, OrderStatus, Quantity, TransitionError};
use sales_domain::time::Timestamp;
use spin_sdk::pg4::{DbValue, RowSet};
use uuid::Uuid;

use super::*;

/// What one read of the event and its order finds.
#[derive(Clone)]
enum Read {
    Processed,
    NoOrder,
    Order(Vec<DbValue>),
}

/// A session that answers from a script and logs each statement's first
/// words with its parameters.
struct FakeSession {
    log: RefCell<Vec<(String, Vec<String>)>>,
    /// The answers to successive reads; the last one repeats.
    reads: RefCell<VecDeque<Read>>,
    /// What successive writes report writing; the last one repeats.
    writes: RefCell<VecDeque<u64>>,
    fail_on: Option<&'static str>,
}

impl FakeSession {
    fn new(reads: &[Read], writes: &[u64]) -> Self {
        Self {
            log: RefCell::default(),
            reads: RefCell::new(reads.iter().cloned().collect()),
            writes: RefCell::new(writes.iter().copied().collect()),
            fail_on: None,
        }
    }

    fn with_order() -> Self {
        Self::new(&[Read::Order(order_row())], &[1])
    }

    fn failing_on(prefix: &'static str) -> Self {
        Self {
            fail_on: Some(prefix),
            ..Self::with_order()
        }
    }

    fn statements(&self) -> Vec<String> {
        self.log.borrow().iter().map(|(s, _)| s.clone()).collect()
    }

    fn params_of(&self, prefix: &str) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .find(|(s, _)| s.starts_with(prefix))
            .map(|(_, p)| p.clone())
            .unwrap()
    }

    fn run(&self, statement: &str, params: &[ParameterValue]) -> Result<String, RepositoryError> {
        let words: Vec<&str> = statement.split_whitespace().take(3).collect();
        let head = words.join(" ");
        self.log.borrow_mut().push((head.clone(), debug(params)));
        match self.fail_on {
            Some(prefix) if head.starts_with(prefix) => {
                Err(RepositoryError::Unavailable("connection reset".into()))
            }
            _ => Ok(head),
        }
    }
}

/// The next scripted answer; the last one stays.
fn next<T: Clone>(script: &RefCell<VecDeque<T>>) -> T {
    let mut script = script.borrow_mut();
    if script.len() > 1 {
        script.pop_front().unwrap()
    } else {
        script.front().cloned().expect("a scripted answer")
    }
}

impl Session for FakeSession {
    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, RepositoryError> {
        let head = self.run(statement, params)?;
        Ok(match head.as_str() {
            "WITH changed AS" | "INSERT INTO processed_events" => next(&self.writes),
            _ => 0,
        })
    }

    /// The one row of the read: whether the event was processed, then the
    /// order, or NULLs.
    fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, RepositoryError> {
        let head = self.run(statement, params)?;
        assert_eq!(head, "SELECT EXISTS (SELECT", "the only query");
        let nulls = vec![DbValue::DbNull; order_row().len()];
        let (processed, order) = match next(&self.reads) {
            Read::Processed => (true, nulls),
            Read::NoOrder => (false, nulls),
            Read::Order(row) => (false, row),
        };
        let mut row = vec![DbValue::Boolean(processed)];
        row.extend(order);
        Ok(RowSet {
            columns: vec![],
            rows: vec![row],
        })
    }
}

/// Parameters as text: the generated `ParameterValue` has no `PartialEq`.
fn debug(params: &[ParameterValue]) -> Vec<String> {
    params.iter().map(|p| format!("{p:?}")).collect()
}

const ORDER: &str = "00000000-0000-4000-8000-000000000001";

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_795_000_000_000 + millis).unwrap()
}

fn datetime_value(timestamp: &Timestamp) -> DbValue {
    match datetime(timestamp) {
        ParameterValue::Datetime(t) => DbValue::Datetime(t),
        _ => unreachable!(),
    }
}

fn order_row() -> Vec<DbValue> {
    vec![
        DbValue::Uuid(ORDER.into()),
        DbValue::Uuid("00000000-0000-4000-8000-000000000002".into()),
        DbValue::Uuid("00000000-0000-4000-8000-000000000003".into()),
        DbValue::Int32(2),
        DbValue::Str("Pending Shipment".into()),
        DbValue::Str("key-1".into()),
        datetime_value(&at(0)),
        datetime_value(&at(0)),
        DbValue::DbNull,
        DbValue::DbNull,
        DbValue::Str("fingerprint".into()),
    ]
}

fn pending() -> Order {
    Order::new_pending(
        OrderId::parse(ORDER).unwrap(),
        UserId::parse("00000000-0000-4000-8000-000000000002").unwrap(),
        ProductId::parse("00000000-0000-4000-8000-000000000003").unwrap(),
        Quantity::new(2).unwrap(),
        IdempotencyKey::new("key-1").unwrap(),
        at(0),
    )
}

fn shipped_event() -> StatusEvent {
    StatusEvent {
        event_id: Uuid::from_u128(7),
        event_type: EventType::OrderShipped,
        order_id: OrderId::parse(ORDER).unwrap(),
        status: OrderStatus::Shipped,
        happened_at: None,
    }
}

fn ship(order: &Order) -> StatusDecision {
    let mut shipped = order.clone();
    shipped
        .apply_status(OrderStatus::Shipped, at(5_000))
        .unwrap();
    StatusDecision::Apply(Box::new(StatusChange {
        event: EventEnvelope::order_status_changed(
            Uuid::from_u128(1_000),
            order.id,
            order.status,
            shipped.status,
            at(5_000),
            Uuid::from_u128(7),
        ),
        order: shipped,
        correlation: correlation(),
    }))
}

fn correlation() -> Correlation {
    Correlation::from_headers(Some("shipping-42"), None)
}

/// The order as a concurrent event left it: shipped a second later.
fn shipped_row() -> Vec<DbValue> {
    let mut row = order_row();
    row[4] = DbValue::Str("Shipped".into());
    row[7] = datetime_value(&at(1_000));
    row[8] = datetime_value(&at(1_000));
    row
}

#[test]
fn an_applied_change_is_written_in_one_statement_on_condition_and_nothing_else() {
    let session = FakeSession::with_order();
    let seen = RefCell::new(None);

    let outcome = apply_decided(&session, &shipped_event(), &|order| {
        *seen.borrow_mut() = Some(order.clone());
        ship(order)
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(ship(&pending())));
    assert_eq!(
        seen.into_inner(),
        Some(pending()),
        "decided on the read row"
    );
    // No NOTIFY: the host's AMQP trigger wakes its relays once the handler
    // returns.
    assert_eq!(
        session.statements(),
        ["SELECT EXISTS (SELECT", "WITH changed AS"]
    );
    assert_eq!(
        session.params_of("SELECT EXISTS"),
        debug(&[
            ParameterValue::Str(Uuid::from_u128(7).to_string()),
            ParameterValue::Uuid(ORDER.into()),
        ])
    );
    let change = session.params_of("WITH changed AS");
    assert_eq!(
        change[..11],
        debug(&[
            ParameterValue::Uuid(ORDER.into()),
            ParameterValue::Str("Shipped".into()),
            datetime(&at(5_000)),
            ParameterValue::DbNull,
            datetime(&at(5_000)),
            // The condition: the order as it was read.
            ParameterValue::Str("Pending Shipment".into()),
            datetime(&at(0)),
            // The consumed event, recorded.
            ParameterValue::Str(Uuid::from_u128(7).to_string()),
            ParameterValue::Str("OrderShipped".into()),
            // The OrderStatusChanged event.
            ParameterValue::Uuid(Uuid::from_u128(1_000).to_string()),
            ParameterValue::Str("OrderStatusChanged".into()),
        ])
    );
    assert_eq!(change[12..], debug(&[outbox_headers(&correlation())]));
}

#[test]
fn the_write_holds_only_if_the_order_is_as_read_and_records_the_event_with_it() {
    assert!(
        WRITE_CHANGE.contains(
            "WHERE order_id = $1 AND status = $6 AND date_trunc('milliseconds', updated_at) = $7"
        ),
        "{WRITE_CHANGE}"
    );
    assert!(
        WRITE_CHANGE.contains("SELECT $8, $9, order_id FROM changed"),
        "{WRITE_CHANGE}"
    );
    assert!(
        RECORD_SKIPPED.contains(
            "WHERE order_id = $3 AND status = $4 AND date_trunc('milliseconds', updated_at) = $5"
        ),
        "{RECORD_SKIPPED}"
    );
}

#[test]
fn an_event_already_processed_is_read_only_and_not_decided() {
    let session = FakeSession::new(&[Read::Processed], &[1]);
    let decided = Cell::new(false);

    let outcome = apply_decided(&session, &shipped_event(), &|order| {
        decided.set(true);
        ship(order)
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::AlreadyProcessed);
    assert!(!decided.get());
    assert_eq!(session.statements(), ["SELECT EXISTS (SELECT"]);
}

#[test]
fn an_unknown_order_is_read_only_and_not_decided() {
    let session = FakeSession::new(&[Read::NoOrder], &[1]);

    let outcome = apply_decided(&session, &shipped_event(), &|_| {
        panic!("decide must not be called")
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::OrderNotFound);
    assert_eq!(session.statements(), ["SELECT EXISTS (SELECT"]);
}

#[test]
fn a_skip_records_the_processed_event_only() {
    let session = FakeSession::with_order();

    let outcome = apply_decided(&session, &shipped_event(), &|_| StatusDecision::Skip).unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(StatusDecision::Skip));
    assert_eq!(
        session.statements(),
        ["SELECT EXISTS (SELECT", "INSERT INTO processed_events"]
    );
    assert_eq!(
        session.params_of("INSERT INTO processed_events"),
        debug(&[
            ParameterValue::Str(Uuid::from_u128(7).to_string()),
            ParameterValue::Str("OrderShipped".into()),
            ParameterValue::Uuid(ORDER.into()),
            ParameterValue::Str("Pending Shipment".into()),
            datetime(&at(0)),
        ])
    );
}

#[test]
fn a_refusal_writes_nothing() {
    let session = FakeSession::with_order();
    let refusal = TransitionError::NotYet {
        from: OrderStatus::PendingShipment,
        to: OrderStatus::Delivered,
    };

    let outcome = apply_decided(&session, &shipped_event(), &|_| {
        StatusDecision::Refuse(refusal)
    })
    .unwrap();

    assert_eq!(
        outcome,
        StatusEventOutcome::Decided(StatusDecision::Refuse(refusal))
    );
    assert_eq!(session.statements(), ["SELECT EXISTS (SELECT"]);
}

#[test]
fn a_lost_connection_is_unavailable_and_nothing_follows() {
    for (failing, ran) in [("SELECT EXISTS", 1), ("WITH changed", 2)] {
        let session = FakeSession::failing_on(failing);

        let result = apply_decided(&session, &shipped_event(), &ship);

        assert_eq!(
            result,
            Err(RepositoryError::Unavailable("connection reset".into())),
            "{failing}"
        );
        assert_eq!(session.statements().len(), ran, "{failing}");
    }
}

#[test]
fn a_concurrent_duplicate_that_wrote_first_makes_this_one_already_processed() {
    let session = FakeSession::new(&[Read::Order(order_row()), Read::Processed], &[0]);

    let outcome = apply_decided(&session, &shipped_event(), &ship).unwrap();

    assert_eq!(outcome, StatusEventOutcome::AlreadyProcessed);
    assert_eq!(
        session.statements(),
        [
            "SELECT EXISTS (SELECT",
            "WITH changed AS",
            "SELECT EXISTS (SELECT"
        ]
    );
}

#[test]
fn an_order_changed_after_the_read_is_decided_again_as_it_has_become() {
    // This delivery read the order pending, then lost the race to another
    // OrderShipped: it decides again on the shipped order, which skips.
    let session = FakeSession::new(
        &[Read::Order(order_row()), Read::Order(shipped_row())],
        &[0, 1],
    );
    let seen = RefCell::new(Vec::new());

    let outcome = apply_decided(&session, &shipped_event(), &|order| {
        seen.borrow_mut().push(order.status);
        if order.status == OrderStatus::Shipped {
            StatusDecision::Skip
        } else {
            ship(order)
        }
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(StatusDecision::Skip));
    assert_eq!(
        seen.into_inner(),
        [OrderStatus::PendingShipment, OrderStatus::Shipped]
    );
    assert_eq!(
        session.statements(),
        [
            "SELECT EXISTS (SELECT",
            "WITH changed AS",
            "SELECT EXISTS (SELECT",
            "INSERT INTO processed_events"
        ]
    );
    assert_eq!(
        session.params_of("INSERT INTO processed_events")[3..],
        debug(&[ParameterValue::Str("Shipped".into()), datetime(&at(1_000))]),
        "recorded on condition of the order as read again"
    );
}

#[test]
fn a_skip_that_finds_the_event_recorded_by_a_concurrent_duplicate_is_already_processed() {
    let session = FakeSession::new(&[Read::Order(order_row()), Read::Processed], &[0]);

    let outcome = apply_decided(&session, &shipped_event(), &|_| StatusDecision::Skip).unwrap();

    assert_eq!(outcome, StatusEventOutcome::AlreadyProcessed);
}

#[test]
fn an_order_that_changes_under_every_decision_is_an_error_after_the_last_attempt() {
    let session = FakeSession::new(&[Read::Order(order_row())], &[0]);

    let result = apply_decided(&session, &shipped_event(), &ship);

    assert!(
        matches!(result, Err(RepositoryError::Other(_))),
        "{result:?}"
    );
    let writes = session
        .statements()
        .iter()
        .filter(|s| *s == "WITH changed AS")
        .count();
    assert_eq!(writes, ATTEMPTS);
}

#[test]
fn a_write_that_reports_more_than_one_event_is_an_error() {
    let session = FakeSession::new(&[Read::Order(order_row())], &[2]);

    let result = apply_decided(&session, &shipped_event(), &ship);

    assert!(
        matches!(result, Err(RepositoryError::Other(_))),
        "{result:?}"
    );
    assert_eq!(
        session.statements(),
        ["SELECT EXISTS (SELECT", "WITH changed AS"],
        "nothing after a write that cannot be"
    );
}
