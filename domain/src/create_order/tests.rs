//! The create-order rules against in-memory fakes of every port.

use uuid::Uuid;

use super::*;
use crate::events::EventType;
use crate::order::{IdempotencyKey, OrderStatus, Quantity};
use crate::ports::RepositoryError;
use crate::testing::{
    admin, at, other_user, principal_for, product, user, Entry, FakeCatalog, FakeIdempotencyStore,
    FakeRepository, FixedClock, SequentialIds,
};

/// The ports, each inspectable after the call.
struct Fixture {
    repository: FakeRepository,
    catalog: FakeCatalog,
    idempotency: FakeIdempotencyStore,
    clock: FixedClock,
    ids: SequentialIds,
}

impl Fixture {
    fn new() -> Self {
        Self {
            repository: FakeRepository::default(),
            catalog: FakeCatalog::with_stock(product(), 5),
            idempotency: FakeIdempotencyStore::default(),
            clock: FixedClock(at(123)),
            ids: SequentialIds::starting_at(1),
        }
    }

    fn use_case(&self) -> CreateOrder<'_> {
        CreateOrder {
            repository: &self.repository,
            catalog: &self.catalog,
            idempotency: &self.idempotency,
            clock: &self.clock,
            ids: &self.ids,
        }
    }

    fn create(&self, request: NewOrder) -> Result<Created, CreateOrderError> {
        self.use_case()
            .execute(&principal_for(user()), request, &Correlation::default())
    }
}

fn request() -> NewOrder {
    NewOrder {
        idempotency_key: IdempotencyKey::new("key-1").unwrap(),
        user_id: user(),
        product_id: product(),
        quantity: Quantity::new(2).unwrap(),
    }
}

fn different_request() -> NewOrder {
    NewOrder {
        quantity: Quantity::new(3).unwrap(),
        ..request()
    }
}

fn body(created: &Created) -> &str {
    std::str::from_utf8(&created.response.body).unwrap()
}

#[test]
fn an_order_is_created_with_its_event_in_one_insert() {
    let fixture = Fixture::new();

    let created = fixture.create(request()).unwrap();

    assert!(!created.replayed);
    assert_eq!(created.response.status, 201);
    assert_eq!(created.response.fingerprint, request().fingerprint());
    assert_eq!(
        body(&created),
        format!(
            r#"{{"order_id":"{}","status":"Pending Shipment","created_at":"{}"}}"#,
            Uuid::from_u128(1),
            at(123)
        )
    );

    let orders = fixture.repository.orders();
    assert_eq!(orders.len(), 1);
    let (order, fingerprint) = &orders[0];
    assert_eq!(order.id.to_string(), Uuid::from_u128(1).to_string());
    assert_eq!(order.status, OrderStatus::PendingShipment);
    assert_eq!((order.created_at, order.updated_at), (at(123), at(123)));
    assert_eq!((order.shipped_at, order.delivered_at), (None, None));
    assert_eq!(*fingerprint, request().fingerprint());

    let outbox = fixture.repository.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_type, EventType::OrderCreated);
    assert_eq!(outbox[0].event_id, Uuid::from_u128(2));
    assert_eq!(outbox[0].order_id, order.id);
}

#[test]
fn the_order_created_event_carries_the_requests_correlation() {
    let fixture = Fixture::new();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let correlation = Correlation::from_headers(Some("req-7"), Some(traceparent));

    fixture
        .use_case()
        .execute(&principal_for(user()), request(), &correlation)
        .unwrap();

    assert_eq!(fixture.repository.correlations(), [correlation]);
}

#[test]
fn the_claim_is_completed_with_the_response() {
    let fixture = Fixture::new();

    let created = fixture.create(request()).unwrap();

    assert_eq!(fixture.idempotency.calls(), ["claim", "complete"]);
    assert_eq!(
        fixture.idempotency.entry(user(), "key-1"),
        Some(Entry::Done(created.response))
    );
}

#[test]
fn acting_for_another_user_is_forbidden_and_touches_nothing() {
    let fixture = Fixture::new();
    let for_someone_else = NewOrder {
        user_id: other_user(),
        ..request()
    };

    assert_eq!(
        fixture.create(for_someone_else),
        Err(CreateOrderError::Forbidden)
    );
    assert!(fixture.idempotency.calls().is_empty());
    assert!(fixture.repository.orders().is_empty());
}

#[test]
fn an_admin_may_order_for_another_user() {
    let fixture = Fixture::new();
    let for_someone_else = NewOrder {
        user_id: other_user(),
        ..request()
    };

    let created = fixture
        .use_case()
        .execute(&admin(), for_someone_else, &Correlation::default())
        .unwrap();

    assert!(!created.replayed);
    assert_eq!(fixture.repository.orders()[0].0.user_id, other_user());
}

#[test]
fn an_unknown_product_is_unavailable_and_the_claim_released() {
    let fixture = Fixture {
        catalog: FakeCatalog::default(),
        ..Fixture::new()
    };

    assert_eq!(
        fixture.create(request()),
        Err(CreateOrderError::ProductUnavailable)
    );
    assert_eq!(fixture.idempotency.calls(), ["claim", "release"]);
    assert_eq!(fixture.idempotency.entry(user(), "key-1"), None);
    assert!(fixture.repository.orders().is_empty());
}

#[test]
fn too_little_stock_is_unavailable() {
    let fixture = Fixture {
        catalog: FakeCatalog::with_stock(product(), 1),
        ..Fixture::new()
    };

    assert_eq!(
        fixture.create(request()),
        Err(CreateOrderError::ProductUnavailable)
    );
    assert!(fixture.repository.orders().is_empty());
}

#[test]
fn exactly_enough_stock_is_enough() {
    let fixture = Fixture {
        catalog: FakeCatalog::with_stock(product(), 2),
        ..Fixture::new()
    };

    assert!(fixture.create(request()).is_ok());
}

#[test]
fn a_product_service_outage_is_reported_and_the_claim_released() {
    let fixture = Fixture {
        catalog: FakeCatalog::down(),
        ..Fixture::new()
    };

    assert_eq!(
        fixture.create(request()),
        Err(CreateOrderError::ProductServiceUnavailable(
            "connection refused".into()
        ))
    );
    assert_eq!(fixture.idempotency.calls(), ["claim", "release"]);
}

#[test]
fn a_retry_gets_the_first_response_byte_for_byte() {
    let fixture = Fixture::new();
    let first = fixture.create(request()).unwrap();

    let retry = fixture.create(request()).unwrap();

    assert!(retry.replayed);
    assert_eq!(retry.response, first.response);
    assert_eq!(fixture.repository.orders().len(), 1);
}

#[test]
fn the_same_key_with_a_different_body_is_a_duplicate() {
    let fixture = Fixture::new();
    fixture.create(request()).unwrap();

    assert_eq!(
        fixture.create(different_request()),
        Err(CreateOrderError::DuplicateIdempotencyKey)
    );
    assert_eq!(fixture.repository.orders().len(), 1);
}

#[test]
fn the_same_request_while_the_first_is_in_flight_is_in_use() {
    let fixture = Fixture::new();
    fixture
        .idempotency
        .hold_in_flight(user(), "key-1", &request().fingerprint());

    assert_eq!(
        fixture.create(request()),
        Err(CreateOrderError::IdempotencyKeyInUse)
    );
    // The other request's claim stays where it was.
    assert_eq!(fixture.idempotency.calls(), ["claim"]);
    assert!(fixture.repository.orders().is_empty());
}

#[test]
fn a_different_request_while_the_first_is_in_flight_is_a_duplicate() {
    let fixture = Fixture::new();
    fixture
        .idempotency
        .hold_in_flight(user(), "key-1", &request().fingerprint());

    assert_eq!(
        fixture.create(different_request()),
        Err(CreateOrderError::DuplicateIdempotencyKey)
    );
    assert_eq!(fixture.idempotency.calls(), ["claim"]);
}

#[test]
fn after_a_lost_race_the_same_request_replays_the_stored_order() {
    let fixture = Fixture::new();
    let first = fixture.create(request()).unwrap();
    // The order ships meanwhile, and the idempotency store forgets the key.
    fixture.repository.edit_orders(|order| {
        order
            .apply_status(OrderStatus::Shipped, at(500))
            .map(drop)
            .unwrap()
    });
    let forgetful = Fixture {
        repository: fixture.repository,
        idempotency: FakeIdempotencyStore::default(),
        clock: FixedClock(at(900)),
        ..Fixture::new()
    };

    let retry = forgetful.create(request()).unwrap();

    assert!(retry.replayed);
    assert_eq!(body(&retry), body(&first));
    assert_eq!(retry.response, first.response);
    assert_eq!(forgetful.repository.orders().len(), 1);
    assert_eq!(forgetful.idempotency.calls(), ["claim", "complete"]);
}

#[test]
fn after_a_lost_race_a_different_request_is_a_duplicate_and_released() {
    let fixture = Fixture::new();
    fixture.create(request()).unwrap();
    let forgetful = Fixture {
        repository: fixture.repository,
        ..Fixture::new()
    };

    assert_eq!(
        forgetful.create(different_request()),
        Err(CreateOrderError::DuplicateIdempotencyKey)
    );
    assert_eq!(forgetful.idempotency.calls(), ["claim", "release"]);
    assert_eq!(forgetful.idempotency.entry(user(), "key-1"), None);
}

#[test]
fn a_forgotten_success_is_replayed_even_when_stock_has_run_out() {
    let fixture = Fixture::new();
    let first = fixture.create(request()).unwrap();
    let sold_out = Fixture {
        repository: fixture.repository,
        catalog: FakeCatalog::with_stock(product(), 0),
        ..Fixture::new()
    };

    let retry = sold_out.create(request()).unwrap();

    assert!(retry.replayed);
    assert_eq!(retry.response, first.response);
}

#[test]
fn a_database_outage_is_storage_unavailable_and_the_claim_released() {
    let fixture = Fixture::new();
    fixture
        .repository
        .fail_with(RepositoryError::Unavailable("timeout".into()));

    assert_eq!(
        fixture.create(request()),
        Err(CreateOrderError::StorageUnavailable("timeout".into()))
    );
    assert_eq!(fixture.idempotency.calls(), ["claim", "release"]);
    assert_eq!(fixture.idempotency.entry(user(), "key-1"), None);
}

#[test]
fn another_database_failure_is_internal_and_the_claim_released() {
    let fixture = Fixture::new();
    fixture
        .repository
        .fail_with(RepositoryError::Other("syntax error".into()));

    assert!(matches!(
        fixture.create(request()),
        Err(CreateOrderError::Internal(_))
    ));
    assert_eq!(fixture.idempotency.calls(), ["claim", "release"]);
}

#[test]
fn with_the_idempotency_store_down_orders_are_still_taken() {
    let fixture = Fixture {
        idempotency: FakeIdempotencyStore::down(),
        ..Fixture::new()
    };

    let created = fixture.create(request()).unwrap();
    assert!(!created.replayed);
    // The database's constraint still turns a retry into a replay.
    let retry = fixture.create(request()).unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.response, created.response);
    // A key it does not hold is never completed or released.
    assert_eq!(fixture.idempotency.calls(), ["claim", "claim"]);
}

#[test]
fn a_failure_without_a_claim_releases_nothing() {
    let fixture = Fixture {
        idempotency: FakeIdempotencyStore::down(),
        catalog: FakeCatalog::down(),
        ..Fixture::new()
    };

    assert!(fixture.create(request()).is_err());
    assert_eq!(fixture.idempotency.calls(), ["claim"]);
}
