//! The kinds of event, named as they appear in `event_type`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// Published when an order is created.
    OrderCreated,
    /// Published when a consumed event changed an order's status.
    OrderStatusChanged,
    /// Consumed from `orders.shipped`.
    OrderShipped,
    /// Consumed from `orders.delivered`.
    OrderDelivered,
}

/// The text named no event type this service knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl EventType {
    pub const ALL: [Self; 4] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::OrderShipped,
        Self::OrderDelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "OrderCreated",
            Self::OrderStatusChanged => "OrderStatusChanged",
            Self::OrderShipped => "OrderShipped",
            Self::OrderDelivered => "OrderDelivered",
        }
    }

    pub fn parse(name: &str) -> Result<Self, UnknownEventType> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownEventType(name.to_owned()))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_named_as_in_the_contract_in_text_and_json() {
        for kind in EventType::ALL {
            let name = kind.as_str();
            assert_eq!(EventType::parse(name), Ok(kind));
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(EventType::OrderShipped.as_str(), "OrderShipped");
        assert!(EventType::parse("orderShipped").is_err());
    }
}
