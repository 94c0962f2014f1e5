//! Applying a consumed status event exactly once.
//!
//! The `processed_events` row, the order's status change and the
//! `OrderStatusChanged` outbox row must commit together or not at all, so the
//! adapter runs one transaction around a decision the domain makes: it locks
//! the order, hands it to `decide`, and carries out what comes back.

use crate::correlation::Correlation;
use crate::events::{EventEnvelope, StatusEvent};
use crate::order::{Order, TransitionError};
use crate::ports::RepositoryError;

/// A status change to write: the order as it becomes, the
/// `OrderStatusChanged` event that reports it, and the correlation of the
/// message that caused it (written with the event, published as headers).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub order: Order,
    pub event: EventEnvelope,
    pub correlation: Correlation,
}

/// What the domain decided for one event, given the order as the
/// transaction holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusDecision {
    /// Update the order to `change.order` (status and timestamps), add
    /// `change.event` to the outbox with `change.correlation`'s headers,
    /// record the consumed event as processed, commit. Boxed because it is
    /// far larger than the other answers.
    Apply(Box<StatusChange>),
    /// The order already has that status: record the consumed event as
    /// processed and commit, changing nothing else.
    Skip,
    /// The move is refused: roll back, so the event is not recorded and a
    /// retry sees it afresh.
    Refuse(TransitionError),
}

/// What [`StatusEventStore::apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusEventOutcome {
    /// The event's id was already in `processed_events`: nothing written,
    /// `decide` not called.
    AlreadyProcessed,
    /// No order has the event's `order_id`: nothing written, `decide` not
    /// called.
    OrderNotFound,
    /// `decide` was called once and its decision carried out, returned as
    /// given.
    Decided(StatusDecision),
}

pub trait StatusEventStore {
    /// In one transaction: record `event` in `processed_events` (first, so a
    /// concurrent duplicate waits on that row and then sees
    /// [`StatusEventOutcome::AlreadyProcessed`]), lock the order
    /// (`SELECT ... FOR UPDATE`), call `decide` with it, and write, commit or
    /// roll back as the decision says. On an error nothing is committed.
    fn apply(
        &self,
        event: &StatusEvent,
        decide: &dyn Fn(&Order) -> StatusDecision,
    ) -> Result<StatusEventOutcome, RepositoryError>;
}
