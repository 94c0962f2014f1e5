//! The order and the values it is made of, each validated when it is built.

mod idempotency_key;
mod model;
mod quantity;
mod status;

pub use idempotency_key::{IdempotencyKey, IdempotencyKeyError};
pub use model::Order;
pub use quantity::{Quantity, QuantityError};
pub use status::{OrderStatus, Transition, TransitionError, UnknownStatus};
