//! Where an order is in its life, and which moves between statuses exist.
//!
//! Pending Shipment -> Shipped -> Delivered, forwards only. Events arrive at
//! least once and possibly out of order, so the rules also say what a repeat
//! and an early arrival mean.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    #[serde(rename = "Pending Shipment")]
    PendingShipment,
    Shipped,
    Delivered,
}

/// What a permitted move did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The status changed.
    Applied,
    /// The order already had that status: a redelivered event, nothing to do.
    AlreadyThere,
}

/// Why a move was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Delivered while still pending: the shipment event may be on its way,
    /// so trying again later can succeed.
    #[error("cannot go from {from} to {to} yet")]
    NotYet { from: OrderStatus, to: OrderStatus },
    /// A move back to an earlier status; never allowed.
    #[error("cannot go back from {from} to {to}")]
    Backwards { from: OrderStatus, to: OrderStatus },
}

impl TransitionError {
    /// Whether the same move may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::NotYet { .. })
    }
}

/// The text was none of the three status names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownStatus(pub String);

impl OrderStatus {
    pub const ALL: [Self; 3] = [Self::PendingShipment, Self::Shipped, Self::Delivered];

    /// The name the API, the events and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingShipment => "Pending Shipment",
            Self::Shipped => "Shipped",
            Self::Delivered => "Delivered",
        }
    }

    /// Exact match: these names are written by this service, never by people.
    pub fn parse(name: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| UnknownStatus(name.to_owned()))
    }

    /// Whether an order in `self` may move to `to`.
    pub fn transition(self, to: Self) -> Result<Transition, TransitionError> {
        let (from_rank, to_rank) = (self.rank(), to.rank());
        if to_rank == from_rank {
            Ok(Transition::AlreadyThere)
        } else if to_rank < from_rank {
            Err(TransitionError::Backwards { from: self, to })
        } else if to_rank == from_rank + 1 {
            Ok(Transition::Applied)
        } else {
            // A skipped step: the event for it has not been applied yet.
            Err(TransitionError::NotYet { from: self, to })
        }
    }

    /// Position in the order's life; a status never goes to a lower one.
    fn rank(self) -> u8 {
        match self {
            Self::PendingShipment => 0,
            Self::Shipped => 1,
            Self::Delivered => 2,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn statuses_have_the_contract_names_as_text_and_json() {
        for (status, name) in [
            (PendingShipment, "Pending Shipment"),
            (Shipped, "Shipped"),
            (Delivered, "Delivered"),
        ] {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(OrderStatus::parse(name), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<OrderStatus>(&format!("\"{name}\"")).unwrap(),
                status
            );
        }
    }

    #[test]
    fn other_names_are_not_statuses() {
        for name in ["", "shipped", "PendingShipment", "Cancelled"] {
            assert_eq!(OrderStatus::parse(name), Err(UnknownStatus(name.into())));
        }
    }

    #[test]
    fn an_order_moves_forward_one_step_at_a_time() {
        assert_eq!(PendingShipment.transition(Shipped), Ok(Transition::Applied));
        assert_eq!(Shipped.transition(Delivered), Ok(Transition::Applied));
    }

    #[test]
    fn a_repeated_transition_is_a_no_op() {
        for status in OrderStatus::ALL {
            assert_eq!(status.transition(status), Ok(Transition::AlreadyThere));
        }
    }

    #[test]
    fn delivered_while_pending_is_not_yet_and_retryable() {
        let refused = PendingShipment.transition(Delivered).unwrap_err();
        assert_eq!(
            refused,
            TransitionError::NotYet {
                from: PendingShipment,
                to: Delivered
            }
        );
        assert!(refused.is_retryable());
    }

    #[test]
    fn going_backwards_is_refused_for_good() {
        for (from, to) in [
            (Shipped, PendingShipment),
            (Delivered, Shipped),
            (Delivered, PendingShipment),
        ] {
            let refused = from.transition(to).unwrap_err();
            assert_eq!(refused, TransitionError::Backwards { from, to });
            assert!(!refused.is_retryable());
        }
    }
}
