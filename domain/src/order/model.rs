//! The order itself, and how it changes status.

use serde::{Deserialize, Serialize};

use super::{IdempotencyKey, OrderStatus, Quantity, Transition, TransitionError};
use crate::ids::{OrderId, ProductId, UserId};
use crate::time::Timestamp;

/// An order as stored and as `GET /api/v1/orders/:id` shows it.
///
/// Its JSON is exactly the contract's GET body, absent timestamps included as
/// `null`; adapters that cache an order reuse it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(rename = "order_id")]
    pub id: OrderId,
    pub user_id: UserId,
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub status: OrderStatus,
    pub idempotency_key: IdempotencyKey,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub shipped_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
}

impl Order {
    /// A new order, waiting for shipment.
    pub fn new_pending(
        id: OrderId,
        user_id: UserId,
        product_id: ProductId,
        quantity: Quantity,
        idempotency_key: IdempotencyKey,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            user_id,
            product_id,
            quantity,
            status: OrderStatus::PendingShipment,
            idempotency_key,
            created_at,
            updated_at: created_at,
            shipped_at: None,
            delivered_at: None,
        }
    }

    /// Moves the order to `to`, which happened `at`. Changes nothing unless
    /// the answer is [`Transition::Applied`].
    pub fn apply_status(
        &mut self,
        to: OrderStatus,
        at: Timestamp,
    ) -> Result<Transition, TransitionError> {
        let transition = self.status.transition(to)?;
        if transition == Transition::Applied {
            self.status = to;
            match to {
                OrderStatus::Shipped => self.shipped_at = Some(at),
                OrderStatus::Delivered => self.delivered_at = Some(at),
                OrderStatus::PendingShipment => {}
            }
            // `at` may come from another system's clock; an order's last
            // change must not appear to precede an earlier one.
            self.updated_at = self.updated_at.max(at);
        }
        Ok(transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;
    use serde_json::json;

    fn pending() -> Order {
        Order::new_pending(
            OrderId::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            UserId::parse("00000000-0000-4000-8000-000000000002").unwrap(),
            ProductId::parse("00000000-0000-4000-8000-000000000003").unwrap(),
            Quantity::new(2).unwrap(),
            IdempotencyKey::new("key-1").unwrap(),
            at(0),
        )
    }

    #[test]
    fn the_get_body_has_every_field_and_nulls_for_missing_timestamps() {
        let body = serde_json::to_value(pending()).unwrap();
        assert_eq!(
            body,
            json!({
                "order_id": "00000000-0000-4000-8000-000000000001",
                "user_id": "00000000-0000-4000-8000-000000000002",
                "product_id": "00000000-0000-4000-8000-000000000003",
                "quantity": 2,
                "status": "Pending Shipment",
                "idempotency_key": "key-1",
                "created_at": "2026-11-18T11:06:40.000Z",
                "updated_at": "2026-11-18T11:06:40.000Z",
                "shipped_at": null,
                "delivered_at": null,
            })
        );
    }

    #[test]
    fn the_get_body_lists_fields_in_the_contract_order() {
        let text = serde_json::to_string(&pending()).unwrap();
        let positions: Vec<usize> = [
            "\"order_id\"",
            "\"user_id\"",
            "\"product_id\"",
            "\"quantity\"",
            "\"status\"",
            "\"idempotency_key\"",
            "\"created_at\"",
            "\"updated_at\"",
            "\"shipped_at\":null",
            "\"delivered_at\":null",
        ]
        .iter()
        .map(|key| text.find(key).unwrap())
        .collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    }

    #[test]
    fn an_order_reads_back_from_its_json() {
        let mut order = pending();
        order.apply_status(OrderStatus::Shipped, at(5)).unwrap();
        let json = serde_json::to_string(&order).unwrap();
        assert_eq!(serde_json::from_str::<Order>(&json).unwrap(), order);
    }

    #[test]
    fn shipping_sets_shipped_at_and_updated_at() {
        let mut order = pending();
        assert_eq!(
            order.apply_status(OrderStatus::Shipped, at(10)),
            Ok(Transition::Applied)
        );
        assert_eq!(order.status, OrderStatus::Shipped);
        assert_eq!(order.shipped_at, Some(at(10)));
        assert_eq!(order.updated_at, at(10));
        assert_eq!(order.delivered_at, None);
    }

    #[test]
    fn delivering_sets_delivered_at_and_keeps_shipped_at() {
        let mut order = pending();
        order.apply_status(OrderStatus::Shipped, at(10)).unwrap();
        assert_eq!(
            order.apply_status(OrderStatus::Delivered, at(20)),
            Ok(Transition::Applied)
        );
        assert_eq!(order.status, OrderStatus::Delivered);
        assert_eq!(order.shipped_at, Some(at(10)));
        assert_eq!(order.delivered_at, Some(at(20)));
        assert_eq!(order.updated_at, at(20));
    }

    #[test]
    fn a_repeat_or_a_refusal_changes_nothing() {
        let mut order = pending();
        order.apply_status(OrderStatus::Shipped, at(10)).unwrap();
        let before = order.clone();
        assert_eq!(
            order.apply_status(OrderStatus::Shipped, at(30)),
            Ok(Transition::AlreadyThere)
        );
        assert!(order
            .apply_status(OrderStatus::PendingShipment, at(40))
            .is_err());
        assert_eq!(order, before);

        let mut fresh = pending();
        assert!(fresh.apply_status(OrderStatus::Delivered, at(10)).is_err());
        assert_eq!(fresh, pending());
    }

    #[test]
    fn an_event_time_before_the_last_change_does_not_move_updated_at_back() {
        let mut order = pending();
        order
            .apply_status(OrderStatus::Shipped, at(-1_000))
            .unwrap();
        assert_eq!(order.shipped_at, Some(at(-1_000)));
        assert_eq!(order.updated_at, at(0));
    }
}
