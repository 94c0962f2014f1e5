//! In-memory fakes of the ports and small fixtures, for the use cases' unit
//! tests. Each fake behaves as its port's documentation promises, including
//! the failures, so the tests exercise the rules and not the fakes.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::auth::Principal;
use crate::correlation::Correlation;
use crate::events::{EventEnvelope, StatusEvent};
use crate::ids::{OrderId, ProductId, UserId};
use crate::order::{IdempotencyKey, Order, Quantity};
use crate::ports::{
    CatalogError, Claim, Clock, IdGenerator, IdempotencyStore, OrderCache, OrderRepository,
    ProductCatalog, RepositoryError, StatusDecision, StatusEventOutcome, StatusEventStore,
    StoredResponse,
};
use crate::time::Timestamp;

pub fn user() -> UserId {
    UserId::from_uuid(Uuid::from_u128(0xa1))
}

pub fn other_user() -> UserId {
    UserId::from_uuid(Uuid::from_u128(0xa2))
}

pub fn product() -> ProductId {
    ProductId::from_uuid(Uuid::from_u128(0xb1))
}

pub fn principal_for(user: UserId) -> Principal {
    Principal {
        subject: user.to_string(),
        admin: false,
    }
}

pub fn admin() -> Principal {
    Principal {
        subject: "ops-robot".into(),
        admin: true,
    }
}

/// A fixed instant plus `millis`, so tests read as offsets.
pub fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_795_000_000_000 + millis).unwrap()
}

pub fn order_for(user: UserId, created_at: Timestamp) -> Order {
    Order::new_pending(
        OrderId::from_uuid(Uuid::from_u128(0x01)),
        user,
        product(),
        Quantity::new(2).unwrap(),
        IdempotencyKey::new("key-1").unwrap(),
        created_at,
    )
}

pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Ids 1, 2, 3, ... (or from a chosen start), so tests can name them.
pub struct SequentialIds(Cell<u128>);

impl SequentialIds {
    pub fn starting_at(first: u128) -> Self {
        Self(Cell::new(first))
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        let id = self.0.get();
        self.0.set(id + 1);
        Uuid::from_u128(id)
    }
}

#[derive(Default)]
pub struct FakeCatalog {
    stock: HashMap<ProductId, u32>,
    down: bool,
}

impl FakeCatalog {
    pub fn with_stock(product: ProductId, units: u32) -> Self {
        Self {
            stock: HashMap::from([(product, units)]),
            down: false,
        }
    }

    pub fn down() -> Self {
        Self {
            stock: HashMap::new(),
            down: true,
        }
    }
}

impl ProductCatalog for FakeCatalog {
    fn available_quantity(&self, product: &ProductId) -> Result<Option<u32>, CatalogError> {
        if self.down {
            return Err(CatalogError::Unavailable("connection refused".into()));
        }
        Ok(self.stock.get(product).copied())
    }
}

/// Orders with their fingerprints, and an outbox, enforcing the
/// `(user_id, idempotency_key)` constraint. `fail_with` makes every call fail.
#[derive(Default)]
pub struct FakeRepository {
    orders: RefCell<Vec<(Order, String)>>,
    outbox: RefCell<Vec<EventEnvelope>>,
    /// The correlation written with each outbox event, in the same order.
    correlations: RefCell<Vec<Correlation>>,
    failure: RefCell<Option<RepositoryError>>,
}

impl FakeRepository {
    pub fn seed(&self, order: Order, fingerprint: &str) {
        self.orders
            .borrow_mut()
            .push((order, fingerprint.to_owned()));
    }

    pub fn fail_with(&self, error: RepositoryError) {
        *self.failure.borrow_mut() = Some(error);
    }

    pub fn orders(&self) -> Vec<(Order, String)> {
        self.orders.borrow().clone()
    }

    pub fn outbox(&self) -> Vec<EventEnvelope> {
        self.outbox.borrow().clone()
    }

    pub fn correlations(&self) -> Vec<Correlation> {
        self.correlations.borrow().clone()
    }

    pub fn edit_orders(&self, mut edit: impl FnMut(&mut Order)) {
        for (order, _) in self.orders.borrow_mut().iter_mut() {
            edit(order);
        }
    }

    fn check(&self) -> Result<(), RepositoryError> {
        self.failure.borrow().clone().map_or(Ok(()), Err)
    }
}

impl OrderRepository for FakeRepository {
    fn insert_with_event(
        &self,
        order: &Order,
        fingerprint: &str,
        event: &EventEnvelope,
        correlation: &Correlation,
    ) -> Result<(), RepositoryError> {
        self.check()?;
        let taken = self.orders.borrow().iter().any(|(stored, _)| {
            stored.user_id == order.user_id && stored.idempotency_key == order.idempotency_key
        });
        if taken {
            return Err(RepositoryError::DuplicateIdempotencyKey);
        }
        self.seed(order.clone(), fingerprint);
        self.outbox.borrow_mut().push(event.clone());
        self.correlations.borrow_mut().push(correlation.clone());
        Ok(())
    }

    fn find(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError> {
        self.check()?;
        Ok(self
            .orders
            .borrow()
            .iter()
            .find(|(order, _)| order.id == *id)
            .map(|(order, _)| order.clone()))
    }

    fn find_by_idempotency_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(Order, String)>, RepositoryError> {
        self.check()?;
        Ok(self
            .orders
            .borrow()
            .iter()
            .find(|(order, _)| order.user_id == *user && order.idempotency_key == *key)
            .cloned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    InFlight(String),
    Done(StoredResponse),
}

/// Claims and responses by `(user, key)`, with a log of the calls made.
#[derive(Default)]
pub struct FakeIdempotencyStore {
    entries: RefCell<HashMap<(UserId, String), Entry>>,
    down: Cell<bool>,
    calls: RefCell<Vec<&'static str>>,
}

impl FakeIdempotencyStore {
    pub fn down() -> Self {
        let store = Self::default();
        store.down.set(true);
        store
    }

    pub fn hold_in_flight(&self, user: UserId, key: &str, fingerprint: &str) {
        self.entries
            .borrow_mut()
            .insert((user, key.into()), Entry::InFlight(fingerprint.into()));
    }

    pub fn entry(&self, user: UserId, key: &str) -> Option<Entry> {
        self.entries.borrow().get(&(user, key.into())).cloned()
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.borrow().clone()
    }
}

impl IdempotencyStore for FakeIdempotencyStore {
    fn claim(&self, user: &UserId, key: &IdempotencyKey, fingerprint: &str) -> Claim {
        self.calls.borrow_mut().push("claim");
        if self.down.get() {
            return Claim::Unavailable;
        }
        let mut entries = self.entries.borrow_mut();
        match entries.get(&(*user, key.as_str().into())) {
            Some(Entry::InFlight(theirs)) => Claim::InFlight {
                fingerprint: theirs.clone(),
            },
            Some(Entry::Done(response)) => Claim::Completed(response.clone()),
            None => {
                entries.insert(
                    (*user, key.as_str().into()),
                    Entry::InFlight(fingerprint.into()),
                );
                Claim::Claimed
            }
        }
    }

    fn complete(&self, user: &UserId, key: &IdempotencyKey, response: &StoredResponse) {
        self.calls.borrow_mut().push("complete");
        if !self.down.get() {
            self.entries
                .borrow_mut()
                .insert((*user, key.as_str().into()), Entry::Done(response.clone()));
        }
    }

    fn release(&self, user: &UserId, key: &IdempotencyKey) {
        self.calls.borrow_mut().push("release");
        if !self.down.get() {
            self.entries
                .borrow_mut()
                .remove(&(*user, key.as_str().into()));
        }
    }
}

#[derive(Default)]
pub struct FakeCache(RefCell<HashMap<OrderId, Order>>);

impl FakeCache {
    pub fn with(order: &Order) -> Self {
        let cache = Self::default();
        cache.put(order);
        cache
    }

    pub fn insert_under(&self, id: OrderId, order: Order) {
        self.0.borrow_mut().insert(id, order);
    }
}

impl OrderCache for FakeCache {
    fn get(&self, id: &OrderId) -> Option<Order> {
        self.0.borrow().get(id).cloned()
    }

    fn put(&self, order: &Order) {
        self.insert_under(order.id, order.clone());
    }

    fn invalidate(&self, id: &OrderId) {
        self.0.borrow_mut().remove(id);
    }
}

/// The status store's transaction in memory: nothing is kept unless the
/// decision commits.
#[derive(Default)]
pub struct FakeStatusStore {
    orders: RefCell<HashMap<OrderId, Order>>,
    processed: RefCell<HashSet<Uuid>>,
    outbox: RefCell<Vec<EventEnvelope>>,
    /// The correlation written with each outbox event, in the same order.
    correlations: RefCell<Vec<Correlation>>,
    failure: RefCell<Option<RepositoryError>>,
}

impl FakeStatusStore {
    pub fn with(order: &Order) -> Self {
        let store = Self::default();
        store.orders.borrow_mut().insert(order.id, order.clone());
        store
    }

    pub fn fail_with(&self, error: RepositoryError) {
        *self.failure.borrow_mut() = Some(error);
    }

    pub fn order(&self, id: &OrderId) -> Order {
        self.orders.borrow()[id].clone()
    }

    pub fn processed(&self, event_id: &Uuid) -> bool {
        self.processed.borrow().contains(event_id)
    }

    pub fn outbox(&self) -> Vec<EventEnvelope> {
        self.outbox.borrow().clone()
    }

    pub fn correlations(&self) -> Vec<Correlation> {
        self.correlations.borrow().clone()
    }
}

impl StatusEventStore for FakeStatusStore {
    fn apply(
        &self,
        event: &StatusEvent,
        decide: &dyn Fn(&Order) -> StatusDecision,
    ) -> Result<StatusEventOutcome, RepositoryError> {
        if let Some(error) = self.failure.borrow().clone() {
            return Err(error);
        }
        if self.processed(&event.event_id) {
            return Ok(StatusEventOutcome::AlreadyProcessed);
        }
        let Some(order) = self.orders.borrow().get(&event.order_id).cloned() else {
            return Ok(StatusEventOutcome::OrderNotFound);
        };
        let decision = decide(&order);
        match &decision {
            StatusDecision::Apply(change) => {
                self.orders
                    .borrow_mut()
                    .insert(change.order.id, change.order.clone());
                self.outbox.borrow_mut().push(change.event.clone());
                self.correlations
                    .borrow_mut()
                    .push(change.correlation.clone());
                self.processed.borrow_mut().insert(event.event_id);
            }
            StatusDecision::Skip => {
                self.processed.borrow_mut().insert(event.event_id);
            }
            StatusDecision::Refuse(_) => {}
        }
        Ok(StatusEventOutcome::Decided(decision))
    }
}
