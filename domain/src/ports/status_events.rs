//! Applying a consumed status event exactly once.
//!
//! The `processed_events` row, the order's status change and the
//! `OrderStatusChanged` outbox row must commit together or not at all, and
//! only if the order is still as it was when the domain decided: the adapter
//! hands the order to `decide` and writes what comes back atomically, on
//! condition that the order has not changed since (or holds it locked).

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

/// What the domain decided for one event, given the order as it stands.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusDecision {
    /// Update the order to `change.order` (status and timestamps), add
    /// `change.event` to the outbox with `change.correlation`'s headers and
    /// record the consumed event as processed, all atomically. Boxed because
    /// it is far larger than the other answers.
    Apply(Box<StatusChange>),
    /// The order already has that status: record the consumed event as
    /// processed, changing nothing else.
    Skip,
    /// The move is refused: nothing is written, so the event is not
    /// recorded and a retry sees it afresh.
    Refuse(TransitionError),
}

/// What [`StatusEventStore::apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusEventOutcome {
    /// The event's id is in `processed_events` (put there before this
    /// call, or by a concurrent delivery that got there first): nothing
    /// written by this call.
    AlreadyProcessed,
    /// No order has the event's `order_id`: nothing written, `decide` not
    /// called.
    OrderNotFound,
    /// `decide`'s decision, carried out, returned as given: the one made
    /// on the order as it stood when the decision was written.
    Decided(StatusDecision),
}

pub trait StatusEventStore {
    /// Applies `event` exactly once: if its id is already in
    /// `processed_events`, or no order has its `order_id`, says so without
    /// calling `decide`; otherwise calls `decide` with the order and carries
    /// the decision out atomically (an `Apply` or a `Skip` records the event
    /// as processed, a `Refuse` writes nothing). A decision is written only
    /// if the order is unchanged since `decide` saw it: when a concurrent
    /// change got there first, the adapter looks again and may call
    /// `decide` again, with the order as it has become. An error usually
    /// means nothing was written, but it may follow a write that committed
    /// (a connection lost before the answer): a retry then finds the event
    /// processed.
    fn apply(
        &self,
        event: &StatusEvent,
        decide: &dyn Fn(&Order) -> StatusDecision,
    ) -> Result<StatusEventOutcome, RepositoryError>;
}
