//! A read-through cache of orders in front of the database.

use crate::ids::OrderId;
use crate::order::Order;

/// Infallible by contract: a cache outage degrades to reading the database,
/// so the adapter logs its own failures and answers as if the entry were
/// missing. Entries should expire after a short time, because a status
/// change invalidates an entry while a concurrent read may put back the old
/// one.
pub trait OrderCache {
    /// The cached order, or `None` on a miss or when the cache is down.
    fn get(&self, id: &OrderId) -> Option<Order>;
    fn put(&self, order: &Order);
    fn invalidate(&self, id: &OrderId);
}
