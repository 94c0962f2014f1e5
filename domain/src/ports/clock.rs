//! The two sources of non-determinism the domain uses: time and fresh ids.

use uuid::Uuid;

use crate::time::Timestamp;

/// The current time. Tests use a fixed one.
pub trait Clock {
    fn now(&self) -> Timestamp;
}

/// Fresh, unique ids for orders and events (random v4 UUIDs in production).
pub trait IdGenerator {
    fn new_id(&self) -> Uuid;
}
