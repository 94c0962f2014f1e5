//! The domain's ports implemented against what the Spin host provides
//! (PostgreSQL, Redis, the clock and randomness), shared by every component
//! of the order service so that they all read and write orders one way.
//!
//! Each adapter opens its connection on first use and keeps it for the one
//! request or message it serves.

mod postgres;
mod redis_cache;
mod redis_connection;
mod system;

pub use postgres::{PgOrderRepository, PgStatusEventStore};
pub use redis_cache::{cache_key, RedisOrderCache};
pub use redis_connection::LazyRedis;
pub use system::{SystemClock, UuidGenerator};
