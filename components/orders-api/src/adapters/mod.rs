//! The domain's ports, implemented against what the Spin host provides:
//! PostgreSQL, Redis, outbound HTTP, the clock and randomness.

mod postgres;
mod product_catalog;
mod redis_cache;
mod redis_connection;
mod redis_idempotency;
mod system;

pub use postgres::PgOrderRepository;
pub use product_catalog::HttpProductCatalog;
pub use redis_cache::RedisOrderCache;
pub use redis_idempotency::RedisIdempotencyStore;
pub use system::{SystemClock, UuidGenerator};
