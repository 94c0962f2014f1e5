//! The envelope and the events this service publishes.

use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::EventType;
use crate::ids::OrderId;
use crate::order::{Order, OrderStatus};
use crate::time::Timestamp;

/// One event, as written to the outbox and published on every broker.
/// Fields serialize in the contract's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub order_id: OrderId,
    /// When the reported change happened.
    pub timestamp: Timestamp,
    pub data: Value,
}

impl EventEnvelope {
    /// `OrderCreated`, stamped with the order's creation time.
    pub fn order_created(event_id: Uuid, order: &Order) -> Self {
        Self {
            event_id,
            event_type: EventType::OrderCreated,
            order_id: order.id,
            timestamp: order.created_at,
            data: json!({
                "user_id": order.user_id.to_string(),
                "product_id": order.product_id.to_string(),
                "quantity": order.quantity.get(),
                "status": order.status.as_str(),
                "created_at": order.created_at.to_string(),
            }),
        }
    }

    /// `OrderStatusChanged`, caused by the consumed event `caused_by_event_id`.
    pub fn order_status_changed(
        event_id: Uuid,
        order_id: OrderId,
        previous_status: OrderStatus,
        status: OrderStatus,
        changed_at: Timestamp,
        caused_by_event_id: Uuid,
    ) -> Self {
        Self {
            event_id,
            event_type: EventType::OrderStatusChanged,
            order_id,
            timestamp: changed_at,
            data: json!({
                "previous_status": previous_status.as_str(),
                "status": status.as_str(),
                "changed_at": changed_at.to_string(),
                "caused_by_event_id": caused_by_event_id.to_string(),
            }),
        }
    }

    /// Compact JSON, keys in the contract's order. Written out because every
    /// part already has its exact text, so this cannot fail, unlike
    /// `serde_json::to_string`'s signature suggests.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"event_id":"{}","event_type":"{}","order_id":"{}","timestamp":"{}","data":{}}}"#,
            self.event_id.hyphenated(),
            self.event_type,
            self.order_id,
            self.timestamp,
            self.data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProductId, UserId};
    use crate::order::{IdempotencyKey, Quantity};

    const EVENT: &str = "00000000-0000-4000-8000-00000000000e";
    const CAUSE: &str = "00000000-0000-4000-8000-00000000000c";

    fn order() -> Order {
        Order::new_pending(
            OrderId::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            UserId::parse("00000000-0000-4000-8000-000000000002").unwrap(),
            ProductId::parse("00000000-0000-4000-8000-000000000003").unwrap(),
            Quantity::new(2).unwrap(),
            IdempotencyKey::new("key-1").unwrap(),
            Timestamp::parse_rfc3339("2026-11-24T10:00:00.123Z").unwrap(),
        )
    }

    #[test]
    fn order_created_has_the_contract_shape() {
        let event = EventEnvelope::order_created(Uuid::parse_str(EVENT).unwrap(), &order());
        let json: Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(
            json,
            json!({
                "event_id": EVENT,
                "event_type": "OrderCreated",
                "order_id": "00000000-0000-4000-8000-000000000001",
                "timestamp": "2026-11-24T10:00:00.123Z",
                "data": {
                    "user_id": "00000000-0000-4000-8000-000000000002",
                    "product_id": "00000000-0000-4000-8000-000000000003",
                    "quantity": 2,
                    "status": "Pending Shipment",
                    "created_at": "2026-11-24T10:00:00.123Z",
                },
            })
        );
    }

    #[test]
    fn order_status_changed_has_the_contract_shape() {
        let event = EventEnvelope::order_status_changed(
            Uuid::parse_str(EVENT).unwrap(),
            order().id,
            OrderStatus::PendingShipment,
            OrderStatus::Shipped,
            Timestamp::parse_rfc3339("2026-11-25T08:30:00Z").unwrap(),
            Uuid::parse_str(CAUSE).unwrap(),
        );
        let json: Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(
            json,
            json!({
                "event_id": EVENT,
                "event_type": "OrderStatusChanged",
                "order_id": "00000000-0000-4000-8000-000000000001",
                "timestamp": "2026-11-25T08:30:00.000Z",
                "data": {
                    "previous_status": "Pending Shipment",
                    "status": "Shipped",
                    "changed_at": "2026-11-25T08:30:00.000Z",
                    "caused_by_event_id": CAUSE,
                },
            })
        );
    }

    #[test]
    fn to_json_is_compact_keeps_the_contract_key_order_and_matches_serde() {
        let event = EventEnvelope::order_created(Uuid::parse_str(EVENT).unwrap(), &order());
        let text = event.to_json();
        assert!(text.starts_with(&format!(
            r#"{{"event_id":"{EVENT}","event_type":"OrderCreated","order_id":"00000000-0000-4000-8000-000000000001","timestamp":"2026-11-24T10:00:00.123Z","data":{{"#
        )));
        assert!(!text.contains(": ") && !text.contains(", ") && !text.contains('\n'));
        assert_eq!(text, serde_json::to_string(&event).unwrap());
    }
}
