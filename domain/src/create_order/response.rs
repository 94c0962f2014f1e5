//! The `201 Created` response, built in one place so a response rebuilt from
//! a stored order matches the one first sent, byte for byte.

use crate::order::{Order, OrderStatus};
use crate::ports::StoredResponse;

pub const CREATED: u16 = 201;

/// `{"order_id","status","created_at"}`, compact, keys in that order.
///
/// The status is always `Pending Shipment`, the status at creation, not the
/// order's current one: a replay must repeat the first response even after
/// the order has shipped.
pub fn created_body(order: &Order) -> Vec<u8> {
    format!(
        r#"{{"order_id":"{}","status":"{}","created_at":"{}"}}"#,
        order.id,
        OrderStatus::PendingShipment,
        order.created_at,
    )
    .into_bytes()
}

pub fn created_response(order: &Order, fingerprint: &str) -> StoredResponse {
    StoredResponse {
        fingerprint: fingerprint.to_owned(),
        status: CREATED,
        body: created_body(order),
    }
}
