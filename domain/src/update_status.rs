//! Use case: apply a consumed `OrderShipped` / `OrderDelivered` event to its
//! order, exactly once, and say whether a failure is worth retrying.

use crate::correlation::Correlation;
use crate::events::{EventEnvelope, StatusEvent};
use crate::order::{Order, Transition, TransitionError};
use crate::ports::{
    Clock, IdGenerator, OrderCache, RepositoryError, StatusChange, StatusDecision,
    StatusEventOutcome, StatusEventStore,
};
use crate::time::Timestamp;

/// The ports this use case needs, borrowed for one message.
pub struct ApplyStatusEvent<'a> {
    pub store: &'a dyn StatusEventStore,
    pub cache: &'a dyn OrderCache,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGenerator,
}

/// A success: the message can be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// The status changed and an `OrderStatusChanged` event was written.
    Changed,
    /// The order already had that status; nothing changed, no event.
    AlreadyThere,
    /// This event was applied before; nothing changed.
    DuplicateEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyStatusError {
    /// No order has the event's `order_id`. Permanent.
    #[error("unknown order")]
    UnknownOrder,
    /// The transition was refused: retryable when it is early, permanent
    /// when it goes backwards.
    #[error(transparent)]
    Refused(TransitionError),
    /// The database could not be reached. Retryable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else. Retried, since it may be transient; repeated failure
    /// ends in the dead-letter queue anyway.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApplyStatusError {
    /// Whether to retry the message later rather than dead-letter it now.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::UnknownOrder => false,
            Self::Refused(refusal) => refusal.is_retryable(),
            Self::Unavailable(_) | Self::Internal(_) => true,
        }
    }
}

impl ApplyStatusEvent<'_> {
    /// Applies `event`; an `OrderStatusChanged` it causes carries
    /// `correlation`, the consumed message's.
    pub fn execute(
        &self,
        event: &StatusEvent,
        correlation: &Correlation,
    ) -> Result<StatusApplied, ApplyStatusError> {
        let happened_at = event.happened_at.unwrap_or_else(|| self.clock.now());
        let decide = |order: &Order| decide(order, event, correlation, happened_at, self.ids);

        let outcome = self
            .store
            .apply(event, &decide)
            .map_err(|error| match error {
                RepositoryError::Unavailable(why) => ApplyStatusError::Unavailable(why),
                other => ApplyStatusError::Internal(other.to_string()),
            })?;

        match outcome {
            StatusEventOutcome::AlreadyProcessed => {
                // A redelivery may be the retry of a handling that committed
                // and then stopped before it invalidated (or whose
                // invalidation failed): the entry goes now rather than at
                // its TTL.
                self.cache.invalidate(&event.order_id);
                Ok(StatusApplied::DuplicateEvent)
            }
            StatusEventOutcome::OrderNotFound => Err(ApplyStatusError::UnknownOrder),
            StatusEventOutcome::Decided(StatusDecision::Apply(change)) => {
                self.cache.invalidate(&change.order.id);
                Ok(StatusApplied::Changed)
            }
            StatusEventOutcome::Decided(StatusDecision::Skip) => Ok(StatusApplied::AlreadyThere),
            StatusEventOutcome::Decided(StatusDecision::Refuse(refusal)) => {
                Err(ApplyStatusError::Refused(refusal))
            }
        }
    }
}

/// The rule, given the order as the store read it.
fn decide(
    order: &Order,
    event: &StatusEvent,
    correlation: &Correlation,
    happened_at: Timestamp,
    ids: &dyn IdGenerator,
) -> StatusDecision {
    let mut changed = order.clone();
    match changed.apply_status(event.status, happened_at) {
        Ok(Transition::Applied) => StatusDecision::Apply(Box::new(StatusChange {
            event: EventEnvelope::order_status_changed(
                ids.new_id(),
                order.id,
                order.status,
                changed.status,
                happened_at,
                event.event_id,
            ),
            order: changed,
            correlation: correlation.clone(),
        })),
        Ok(Transition::AlreadyThere) => StatusDecision::Skip,
        Err(refusal) => StatusDecision::Refuse(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use crate::order::OrderStatus;
    use crate::testing::{
        at, order_for, user, FakeCache, FakeStatusStore, FixedClock, SequentialIds,
    };
    use uuid::Uuid;

    struct Fixture {
        store: FakeStatusStore,
        cache: FakeCache,
        clock: FixedClock,
        ids: SequentialIds,
    }

    impl Fixture {
        fn with(order: &Order) -> Self {
            Self {
                store: FakeStatusStore::with(order),
                cache: FakeCache::with(order),
                clock: FixedClock(at(60_000)),
                ids: SequentialIds::starting_at(1_000),
            }
        }

        fn apply(&self, event: &StatusEvent) -> Result<StatusApplied, ApplyStatusError> {
            self.apply_with(event, &Correlation::default())
        }

        fn apply_with(
            &self,
            event: &StatusEvent,
            correlation: &Correlation,
        ) -> Result<StatusApplied, ApplyStatusError> {
            ApplyStatusEvent {
                store: &self.store,
                cache: &self.cache,
                clock: &self.clock,
                ids: &self.ids,
            }
            .execute(event, correlation)
        }
    }

    fn event(order: &Order, status: OrderStatus, id: u128) -> StatusEvent {
        StatusEvent {
            event_id: Uuid::from_u128(id),
            event_type: match status {
                OrderStatus::Delivered => EventType::OrderDelivered,
                _ => EventType::OrderShipped,
            },
            order_id: order.id,
            status,
            happened_at: None,
        }
    }

    #[test]
    fn shipping_a_pending_order_changes_it_and_writes_an_event() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let shipped = StatusEvent {
            happened_at: Some(at(5_000)),
            ..event(&order, OrderStatus::Shipped, 7)
        };

        assert_eq!(fixture.apply(&shipped), Ok(StatusApplied::Changed));

        let stored = fixture.store.order(&order.id);
        assert_eq!(stored.status, OrderStatus::Shipped);
        assert_eq!(stored.shipped_at, Some(at(5_000)));
        let outbox = fixture.store.outbox();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].event_type, EventType::OrderStatusChanged);
        assert_eq!(outbox[0].event_id, Uuid::from_u128(1_000));
        assert_eq!(outbox[0].data["previous_status"], "Pending Shipment");
        assert_eq!(outbox[0].data["status"], "Shipped");
        assert_eq!(outbox[0].data["changed_at"], at(5_000).to_string());
        assert_eq!(
            outbox[0].data["caused_by_event_id"],
            Uuid::from_u128(7).to_string()
        );
        assert!(fixture.store.processed(&shipped.event_id));
        assert_eq!(
            fixture.cache.get(&order.id),
            None,
            "stale entry invalidated"
        );
    }

    #[test]
    fn the_status_changed_event_carries_the_consumed_messages_correlation() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let correlation = Correlation::from_headers(Some("shipping-42"), Some(traceparent));

        fixture
            .apply_with(&event(&order, OrderStatus::Shipped, 7), &correlation)
            .unwrap();

        assert_eq!(fixture.store.correlations(), [correlation]);
    }

    #[test]
    fn without_a_time_in_the_event_the_consumption_time_is_used() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);

        fixture
            .apply(&event(&order, OrderStatus::Shipped, 7))
            .unwrap();

        assert_eq!(fixture.store.order(&order.id).shipped_at, Some(at(60_000)));
    }

    #[test]
    fn delivering_a_shipped_order_changes_it() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        fixture
            .apply(&event(&order, OrderStatus::Shipped, 7))
            .unwrap();

        assert_eq!(
            fixture.apply(&event(&order, OrderStatus::Delivered, 8)),
            Ok(StatusApplied::Changed)
        );
        assert_eq!(
            fixture.store.order(&order.id).status,
            OrderStatus::Delivered
        );
        assert_eq!(fixture.store.outbox().len(), 2);
    }

    #[test]
    fn a_repeated_transition_succeeds_without_a_new_event() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        fixture
            .apply(&event(&order, OrderStatus::Shipped, 7))
            .unwrap();

        assert_eq!(
            fixture.apply(&event(&order, OrderStatus::Shipped, 8)),
            Ok(StatusApplied::AlreadyThere)
        );
        assert_eq!(fixture.store.outbox().len(), 1);
        assert!(fixture.store.processed(&Uuid::from_u128(8)));
    }

    #[test]
    fn the_same_event_twice_is_applied_once() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let shipped = event(&order, OrderStatus::Shipped, 7);
        fixture.apply(&shipped).unwrap();

        assert_eq!(fixture.apply(&shipped), Ok(StatusApplied::DuplicateEvent));
        assert_eq!(fixture.store.outbox().len(), 1);
    }

    #[test]
    fn a_duplicate_still_invalidates_the_cached_order() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let shipped = event(&order, OrderStatus::Shipped, 7);
        fixture.apply(&shipped).unwrap();
        // The first handling's invalidation was lost: a read cached the
        // order as it was before the event.
        fixture.cache.put(&order);

        assert_eq!(fixture.apply(&shipped), Ok(StatusApplied::DuplicateEvent));
        assert_eq!(fixture.cache.get(&order.id), None);
    }

    #[test]
    fn an_event_for_an_unknown_order_fails_for_good() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let mut stray = event(&order, OrderStatus::Shipped, 7);
        stray.order_id = crate::ids::OrderId::from_uuid(Uuid::from_u128(404));

        let failure = fixture.apply(&stray).unwrap_err();
        assert_eq!(failure, ApplyStatusError::UnknownOrder);
        assert!(!failure.is_retryable());
    }

    #[test]
    fn delivered_while_pending_is_retried_and_leaves_no_trace() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        let delivered = event(&order, OrderStatus::Delivered, 7);

        let failure = fixture.apply(&delivered).unwrap_err();
        assert!(matches!(
            failure,
            ApplyStatusError::Refused(TransitionError::NotYet { .. })
        ));
        assert!(failure.is_retryable());
        assert!(!fixture.store.processed(&delivered.event_id));
        assert_eq!(fixture.store.order(&order.id), order);
        assert!(fixture.store.outbox().is_empty());

        // Once the shipment arrives, the retried delivery goes through.
        fixture
            .apply(&event(&order, OrderStatus::Shipped, 8))
            .unwrap();
        assert_eq!(fixture.apply(&delivered), Ok(StatusApplied::Changed));
    }

    #[test]
    fn going_backwards_fails_for_good() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        fixture
            .apply(&event(&order, OrderStatus::Shipped, 7))
            .unwrap();
        fixture
            .apply(&event(&order, OrderStatus::Delivered, 8))
            .unwrap();

        let failure = fixture
            .apply(&event(&order, OrderStatus::Shipped, 9))
            .unwrap_err();
        assert!(matches!(
            failure,
            ApplyStatusError::Refused(TransitionError::Backwards { .. })
        ));
        assert!(!failure.is_retryable());
        assert_eq!(
            fixture.store.order(&order.id).status,
            OrderStatus::Delivered
        );
    }

    #[test]
    fn a_database_outage_is_retried() {
        let order = order_for(user(), at(0));
        let fixture = Fixture::with(&order);
        fixture
            .store
            .fail_with(RepositoryError::Unavailable("down".into()));

        let failure = fixture
            .apply(&event(&order, OrderStatus::Shipped, 7))
            .unwrap_err();
        assert_eq!(failure, ApplyStatusError::Unavailable("down".into()));
        assert!(failure.is_retryable());
    }
}
