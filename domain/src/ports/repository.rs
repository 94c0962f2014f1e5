//! The orders table, and the outbox that is written with it.

use crate::correlation::Correlation;
use crate::events::EventEnvelope;
use crate::ids::{OrderId, UserId};
use crate::order::{IdempotencyKey, Order};

/// Why the database could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// The `(user_id, idempotency_key)` unique constraint fired: an order
    /// with this key already exists for this user (a concurrent request, or
    /// one whose idempotency record was lost). Nothing was written.
    #[error("an order with this idempotency key already exists")]
    DuplicateIdempotencyKey,
    /// The database was unreachable or the connection failed; trying again
    /// later may succeed. Nothing was committed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a failed query, an unreadable row). The text is for
    /// logs, not for clients.
    #[error("database error: {0}")]
    Other(String),
}

pub trait OrderRepository {
    /// Inserts the order, with the request's fingerprint beside it, and
    /// `event` into the outbox, with `correlation`'s headers, in one
    /// transaction: both are written or neither is, so no order exists
    /// without its `OrderCreated` event.
    fn insert_with_event(
        &self,
        order: &Order,
        fingerprint: &str,
        event: &EventEnvelope,
        correlation: &Correlation,
    ) -> Result<(), RepositoryError>;

    /// The order with this id, if any.
    fn find(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError>;

    /// The user's order created with this key, and the fingerprint of the
    /// request that created it.
    fn find_by_idempotency_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(Order, String)>, RepositoryError>;
}
