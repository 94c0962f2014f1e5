//! The order cache (cache-aside) in Redis: `orders-api:order:<id>` holds the
//! order's JSON for a short time. The database stays the truth; a cache
//! outage is logged and costs only speed. The Orders API fills it; whoever
//! changes an order invalidates it.

use sales_domain::ids::OrderId;
use sales_domain::order::Order;
use sales_domain::ports::OrderCache;
use spin_sdk::redis::RedisParameter;

use crate::redis_connection::LazyRedis;

/// The key of an order's entry, the same for every component.
pub fn cache_key(id: &OrderId) -> String {
    format!("orders-api:order:{id}")
}

pub struct RedisOrderCache {
    redis: LazyRedis,
    ttl_seconds: u64,
}

impl RedisOrderCache {
    pub fn new(address: &str, ttl_seconds: u64) -> Self {
        Self {
            redis: LazyRedis::new(address),
            ttl_seconds,
        }
    }
}

impl OrderCache for RedisOrderCache {
    fn get(&self, id: &OrderId) -> Option<Order> {
        let bytes = match self.redis.get()?.get(&cache_key(id)) {
            Ok(bytes) => bytes?,
            Err(error) => {
                eprintln!("order cache read failed: {error:?}");
                return None;
            }
        };
        serde_json::from_slice(&bytes)
            .inspect_err(|error| eprintln!("order cache entry for {id} unreadable: {error}"))
            .ok()
    }

    fn put(&self, order: &Order) {
        if self.ttl_seconds == 0 {
            return;
        }
        let Some(redis) = self.redis.get() else {
            return;
        };
        let Ok(json) = serde_json::to_vec(order) else {
            return;
        };
        let arguments = [
            RedisParameter::Binary(cache_key(&order.id).into_bytes()),
            RedisParameter::Binary(json),
            RedisParameter::Binary(b"EX".to_vec()),
            RedisParameter::Int64(self.ttl_seconds as i64),
        ];
        if let Err(error) = redis.execute("SET", &arguments) {
            eprintln!("order cache write failed: {error:?}");
        }
    }

    fn invalidate(&self, id: &OrderId) {
        let Some(redis) = self.redis.get() else {
            return;
        };
        if let Err(error) = redis.del(&[cache_key(id)]) {
            eprintln!("order cache invalidation failed: {error:?}");
        }
    }
}
