//! One Redis connection per request or message, opened on first use, shared
//! by the adapters that use Redis (the cache, the Orders API's idempotency
//! store); failures are logged, never fatal (both degrade when Redis is
//! away).

use std::cell::OnceCell;

use spin_sdk::redis::Connection;

pub struct LazyRedis {
    address: String,
    connection: OnceCell<Option<Connection>>,
}

impl LazyRedis {
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            connection: OnceCell::new(),
        }
    }

    /// The connection, or `None` (logged once) when Redis cannot be reached.
    pub fn get(&self) -> Option<&Connection> {
        self.connection
            .get_or_init(|| match Connection::open(&self.address) {
                Ok(connection) => Some(connection),
                Err(error) => {
                    eprintln!("redis unavailable, carrying on without it: {error:?}");
                    None
                }
            })
            .as_ref()
    }
}
