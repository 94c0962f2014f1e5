//! Reading envelopes that other systems publish, and the status events among
//! them (`OrderShipped`, `OrderDelivered`).
//!
//! Every [`EnvelopeError`] is permanent: the same bytes will never parse, so
//! the consumer sends such a message to its dead-letter queue at once.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{EventEnvelope, EventType};
use crate::ids::{parse_hyphenated, OrderId};
use crate::order::OrderStatus;
use crate::time::Timestamp;

/// Why a consumed message cannot be used. All variants are permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not JSON at all.
    #[error("message is not JSON")]
    NotJson,
    /// JSON, but a required envelope field is missing or malformed.
    #[error("message is not an event envelope: {0}")]
    NotAnEnvelope(String),
    /// A valid envelope of a type that does not change an order's status.
    #[error("{0} is not a status event")]
    NotAStatusEvent(EventType),
    /// A status event whose `data` holds a malformed value.
    #[error("invalid event data: {0}")]
    InvalidData(String),
}

impl EventEnvelope {
    /// Parses any envelope. `data` may be absent or `null` (read as `{}`);
    /// every other field is required.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| EnvelopeError::NotJson)?;
        let object = value
            .as_object()
            .ok_or_else(|| not_an_envelope("not a JSON object"))?;

        let event_id = required_text(object, "event_id")?;
        let event_id =
            parse_hyphenated(event_id).map_err(|_| not_an_envelope("event_id must be a UUID"))?;
        let event_type = EventType::parse(required_text(object, "event_type")?)
            .map_err(|unknown| not_an_envelope(&unknown.to_string()))?;
        let order_id = OrderId::parse(required_text(object, "order_id")?)
            .map_err(|_| not_an_envelope("order_id must be a UUID"))?;
        let timestamp = Timestamp::parse_rfc3339(required_text(object, "timestamp")?)
            .map_err(|_| not_an_envelope("timestamp must be an RFC 3339 timestamp"))?;
        let data = match object.get("data") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(data @ Value::Object(_)) => data.clone(),
            Some(_) => return Err(not_an_envelope("data must be an object")),
        };

        Ok(Self {
            event_id,
            event_type,
            order_id,
            timestamp,
            data,
        })
    }
}

fn not_an_envelope(why: &str) -> EnvelopeError {
    EnvelopeError::NotAnEnvelope(why.to_owned())
}

fn required_text<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, EnvelopeError> {
    match object.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(not_an_envelope(&format!("{name} must be a string"))),
        None => Err(not_an_envelope(&format!("{name} is missing"))),
    }
}

/// A consumed event that moves an order to `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub order_id: OrderId,
    /// `Shipped` for `OrderShipped`, `Delivered` for `OrderDelivered`.
    pub status: OrderStatus,
    /// `data.shipped_at` / `data.delivered_at` when the sender gave it; the
    /// consumer uses the time of consumption otherwise.
    pub happened_at: Option<Timestamp>,
}

impl StatusEvent {
    /// Parses an `OrderShipped` or `OrderDelivered` envelope.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Self::try_from(EventEnvelope::parse(bytes)?)
    }
}

impl TryFrom<EventEnvelope> for StatusEvent {
    type Error = EnvelopeError;

    fn try_from(envelope: EventEnvelope) -> Result<Self, Self::Error> {
        let (status, time_field) = match envelope.event_type {
            EventType::OrderShipped => (OrderStatus::Shipped, "shipped_at"),
            EventType::OrderDelivered => (OrderStatus::Delivered, "delivered_at"),
            other => return Err(EnvelopeError::NotAStatusEvent(other)),
        };
        let happened_at = match envelope.data.get(time_field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Timestamp::parse_rfc3339(text).map_err(|_| {
                EnvelopeError::InvalidData(format!("{time_field} must be an RFC 3339 timestamp"))
            })?),
            Some(_) => {
                return Err(EnvelopeError::InvalidData(format!(
                    "{time_field} must be an RFC 3339 timestamp"
                )))
            }
        };
        Ok(Self {
            event_id: envelope.event_id,
            event_type: envelope.event_type,
            order_id: envelope.order_id,
            status,
            happened_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVENT: &str = "00000000-0000-4000-8000-00000000000e";
    const ORDER: &str = "00000000-0000-4000-8000-000000000001";

    fn shipped(data: Value) -> Value {
        json!({
            "event_id": EVENT,
            "event_type": "OrderShipped",
            "order_id": ORDER,
            "timestamp": "2026-11-25T08:30:00Z",
            "data": data,
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut message = shipped(json!({}));
        message[field] = value;
        message
    }

    fn parse(message: &Value) -> Result<StatusEvent, EnvelopeError> {
        StatusEvent::parse(message.to_string().as_bytes())
    }

    #[test]
    fn an_order_shipped_event_with_its_time() {
        let event = parse(&shipped(
            json!({"shipped_at": "2026-11-25T09:30:00.5+01:00"}),
        ))
        .unwrap();
        assert_eq!(event.event_id.to_string(), EVENT);
        assert_eq!(event.event_type, EventType::OrderShipped);
        assert_eq!(event.order_id.to_string(), ORDER);
        assert_eq!(event.status, OrderStatus::Shipped);
        assert_eq!(
            event.happened_at.unwrap().to_string(),
            "2026-11-25T08:30:00.500Z"
        );
    }

    #[test]
    fn an_order_delivered_event_without_its_time() {
        let mut message = shipped(json!({}));
        message["event_type"] = json!("OrderDelivered");
        let event = parse(&message).unwrap();
        assert_eq!(event.status, OrderStatus::Delivered);
        assert_eq!(event.happened_at, None);
    }

    #[test]
    fn data_may_be_missing_or_null() {
        let mut message = shipped(json!(null));
        assert_eq!(parse(&message).unwrap().happened_at, None);
        message.as_object_mut().unwrap().remove("data");
        assert_eq!(parse(&message).unwrap().happened_at, None);
    }

    #[test]
    fn the_delivered_time_is_read_from_delivered_at_only() {
        let mut message = shipped(json!({"shipped_at": "2026-11-25T08:00:00Z"}));
        message["event_type"] = json!("OrderDelivered");
        assert_eq!(parse(&message).unwrap().happened_at, None);
    }

    #[test]
    fn bytes_that_are_not_json_are_not_json() {
        assert_eq!(StatusEvent::parse(b"shipped!"), Err(EnvelopeError::NotJson));
    }

    #[test]
    fn json_without_the_envelope_fields_is_not_an_envelope() {
        let broken = [
            json!([1, 2]),
            json!({"event_type": "OrderShipped", "order_id": ORDER, "timestamp": "2026-11-25T08:30:00Z"}),
            with("event_id", json!("nope")),
            with("event_type", json!("OrderLost")),
            with("order_id", json!(7)),
            with("timestamp", json!("soon")),
            shipped(json!("text")),
        ];
        for message in broken {
            assert!(
                matches!(parse(&message), Err(EnvelopeError::NotAnEnvelope(_))),
                "{message}"
            );
        }
    }

    #[test]
    fn an_envelope_of_another_type_is_not_a_status_event() {
        let mut message = shipped(json!({}));
        message["event_type"] = json!("OrderCreated");
        assert_eq!(
            parse(&message),
            Err(EnvelopeError::NotAStatusEvent(EventType::OrderCreated))
        );
    }

    #[test]
    fn a_malformed_shipped_at_is_invalid_data() {
        for value in [json!("tomorrow"), json!(12)] {
            assert_eq!(
                parse(&shipped(json!({ "shipped_at": value }))),
                Err(EnvelopeError::InvalidData(
                    "shipped_at must be an RFC 3339 timestamp".into()
                ))
            );
        }
    }

    #[test]
    fn a_published_envelope_parses_back() {
        let published = EventEnvelope::order_status_changed(
            Uuid::parse_str(EVENT).unwrap(),
            OrderId::parse(ORDER).unwrap(),
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            Timestamp::parse_rfc3339("2026-11-25T08:30:00.250Z").unwrap(),
            Uuid::parse_str(EVENT).unwrap(),
        );
        assert_eq!(
            EventEnvelope::parse(published.to_json().as_bytes()).unwrap(),
            published
        );
    }
}
