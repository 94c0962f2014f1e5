//! The domain's ports, implemented against what the Spin host provides:
//! PostgreSQL, Redis, outbound HTTP, the clock and randomness. The adapters
//! the order service's components share come from `order-store`; the two
//! only this component needs live here.

mod product_catalog;
mod redis_idempotency;

pub use order_store::{PgOrderRepository, RedisOrderCache, SystemClock, UuidGenerator};
pub use product_catalog::HttpProductCatalog;
pub use redis_idempotency::RedisIdempotencyStore;
