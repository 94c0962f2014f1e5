//! The transaction's statements, in order, for every way it can go.

use std::cell::{Cell, RefCell};

use sales_domain::correlation::Correlation;
use sales_domain::events::{EventEnvelope, EventType};
use sales_domain::ids::{OrderId, ProductId, UserId};
use sales_domain::order::{IdempotencyKey, OrderStatus, Quantity, TransitionError};
use sales_domain::time::Timestamp;
use spin_sdk::pg4::{DbValue, RowSet};
use uuid::Uuid;

use super::*;

/// A session that answers from a script and logs each statement's first
/// words with its parameters.
struct FakeSession {
    log: RefCell<Vec<(String, Vec<String>)>>,
    already_recorded: bool,
    order: Option<Vec<DbValue>>,
    fail_on: Option<&'static str>,
    /// What the combined status update and outbox insert reports writing.
    changes_written: u64,
}

impl FakeSession {
    fn with_order() -> Self {
        Self {
            log: RefCell::default(),
            already_recorded: false,
            order: Some(order_row()),
            fail_on: None,
            changes_written: 1,
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

impl Session for FakeSession {
    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, RepositoryError> {
        let head = self.run(statement, params)?;
        Ok(match head.as_str() {
            "WITH changed AS" => self.changes_written,
            _ => 0,
        })
    }

    /// The one row of the record-and-lock statement: whether the event was
    /// new, then the order, or NULLs.
    fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, RepositoryError> {
        let head = self.run(statement, params)?;
        assert_eq!(head, "WITH recorded AS", "the only query");
        let order = self
            .order
            .clone()
            .filter(|_| !self.already_recorded)
            .unwrap_or_else(|| vec![DbValue::DbNull; order_row().len()]);
        let mut row = vec![DbValue::Int32(i32::from(!self.already_recorded))];
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

#[test]
fn an_applied_change_records_the_event_updates_the_order_writes_the_outbox_and_commits() {
    let session = FakeSession::with_order();
    let seen = RefCell::new(None);

    let outcome = apply_in_transaction(&session, &shipped_event(), &|order| {
        *seen.borrow_mut() = Some(order.clone());
        ship(order)
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(ship(&pending())));
    assert_eq!(
        seen.into_inner(),
        Some(pending()),
        "decided on the locked row"
    );
    assert_eq!(
        session.statements(),
        [
            "BEGIN",
            "WITH recorded AS",
            "WITH changed AS",
            "COMMIT",
            "SELECT wake_outbox_relay()"
        ]
    );
    assert_eq!(
        session.params_of("WITH recorded AS"),
        debug(&[
            ParameterValue::Str(Uuid::from_u128(7).to_string()),
            ParameterValue::Str("OrderShipped".into()),
            ParameterValue::Uuid(ORDER.into()),
        ])
    );
    let change = session.params_of("WITH changed AS");
    assert_eq!(
        change[..7],
        debug(&[
            ParameterValue::Uuid(ORDER.into()),
            ParameterValue::Str("Shipped".into()),
            datetime(&at(5_000)),
            ParameterValue::DbNull,
            datetime(&at(5_000)),
            ParameterValue::Uuid(Uuid::from_u128(1_000).to_string()),
            ParameterValue::Str("OrderStatusChanged".into()),
        ])
    );
    assert_eq!(change[8..], debug(&[outbox_headers(&correlation())]));
}

#[test]
fn the_order_is_locked_with_for_update_once_the_event_is_recorded() {
    let statement = record_and_lock();
    assert!(
        statement
            .contains("WHERE order_id = $3 AND EXISTS (SELECT 1 FROM recorded)\n    FOR UPDATE"),
        "{statement}"
    );
}

#[test]
fn an_event_already_processed_is_rolled_back_without_deciding() {
    let session = FakeSession {
        already_recorded: true,
        ..FakeSession::with_order()
    };
    let decided = Cell::new(false);

    let outcome = apply_in_transaction(&session, &shipped_event(), &|order| {
        decided.set(true);
        ship(order)
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::AlreadyProcessed);
    assert!(!decided.get());
    assert_eq!(
        session.statements(),
        ["BEGIN", "WITH recorded AS", "ROLLBACK"]
    );
}

#[test]
fn an_unknown_order_is_rolled_back_without_deciding() {
    let session = FakeSession {
        order: None,
        ..FakeSession::with_order()
    };

    let outcome = apply_in_transaction(&session, &shipped_event(), &|_| {
        panic!("decide must not be called")
    })
    .unwrap();

    assert_eq!(outcome, StatusEventOutcome::OrderNotFound);
    assert_eq!(session.statements().last().unwrap(), "ROLLBACK");
    assert!(!session.statements().iter().any(|s| s == "COMMIT"));
}

#[test]
fn a_skip_commits_the_processed_event_only() {
    let session = FakeSession::with_order();

    let outcome =
        apply_in_transaction(&session, &shipped_event(), &|_| StatusDecision::Skip).unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(StatusDecision::Skip));
    assert_eq!(
        session.statements(),
        ["BEGIN", "WITH recorded AS", "COMMIT"]
    );
}

#[test]
fn a_failed_wake_after_the_commit_still_reports_the_change_applied() {
    let session = FakeSession {
        fail_on: Some("SELECT wake_outbox_relay()"),
        ..FakeSession::with_order()
    };

    let outcome = apply_in_transaction(&session, &shipped_event(), &ship).unwrap();

    assert_eq!(outcome, StatusEventOutcome::Decided(ship(&pending())));
    assert_eq!(
        session.statements()[3..],
        ["COMMIT", "SELECT wake_outbox_relay()"],
        "nothing after the commit may roll back"
    );
}

#[test]
fn a_refusal_rolls_everything_back() {
    let session = FakeSession::with_order();
    let refusal = TransitionError::NotYet {
        from: OrderStatus::PendingShipment,
        to: OrderStatus::Delivered,
    };

    let outcome = apply_in_transaction(&session, &shipped_event(), &|_| {
        StatusDecision::Refuse(refusal)
    })
    .unwrap();

    assert_eq!(
        outcome,
        StatusEventOutcome::Decided(StatusDecision::Refuse(refusal))
    );
    assert_eq!(session.statements().last().unwrap(), "ROLLBACK");
    assert!(!session.statements().iter().any(|s| s == "COMMIT"));
}

#[test]
fn a_connection_lost_mid_transaction_rolls_back_and_is_unavailable() {
    for failing in ["WITH recorded", "WITH changed"] {
        let session = FakeSession {
            fail_on: Some(failing),
            ..FakeSession::with_order()
        };

        let result = apply_in_transaction(&session, &shipped_event(), &ship);

        assert_eq!(
            result,
            Err(RepositoryError::Unavailable("connection reset".into())),
            "{failing}"
        );
        assert_eq!(
            session.statements().last().unwrap(),
            "ROLLBACK",
            "{failing}"
        );
        assert!(!session.statements().iter().any(|s| s == "COMMIT"));
    }
}

#[test]
fn a_change_that_writes_no_event_is_an_error_and_rolls_back() {
    let session = FakeSession {
        changes_written: 0,
        ..FakeSession::with_order()
    };

    let result = apply_in_transaction(&session, &shipped_event(), &ship);

    assert!(
        matches!(result, Err(RepositoryError::Other(_))),
        "{result:?}"
    );
    assert_eq!(session.statements().last().unwrap(), "ROLLBACK");
    assert!(!session.statements().iter().any(|s| s == "COMMIT"));
}

#[test]
fn a_failed_commit_is_an_error() {
    let session = FakeSession {
        fail_on: Some("COMMIT"),
        ..FakeSession::with_order()
    };

    let result = apply_in_transaction(&session, &shipped_event(), &ship);

    assert_eq!(
        result,
        Err(RepositoryError::Unavailable("connection reset".into()))
    );
    assert_eq!(session.statements().last().unwrap(), "ROLLBACK");
}

#[test]
fn a_failed_begin_is_an_error_and_nothing_else_runs() {
    let session = FakeSession {
        fail_on: Some("BEGIN"),
        ..FakeSession::with_order()
    };

    let result = apply_in_transaction(&session, &shipped_event(), &ship);

    assert_eq!(
        result,
        Err(RepositoryError::Unavailable("connection reset".into()))
    );
    assert_eq!(session.statements(), ["BEGIN"]);
}
