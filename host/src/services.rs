//! Connections to the real services, shared by the guest instances: a
//! Postgres pool per component and address, and one multiplexed Redis
//! connection per address.
//!
//! A pool per component is a bulkhead: a flood of HTTP requests that holds
//! every connection of the API's pool cannot keep the outbox relay or the
//! broker consumer from the database, and the other way round. (One shared
//! pool made the relay queue behind the API's requests: 7 ms on average per
//! relay run at 1,077 POST/s, 50 ms at the 99th percentile.)

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Settings for the connections the host opens on the guests' behalf.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    /// Connections per component and database.
    pub pg_pool_size: usize,
    pub connect_timeout: Duration,
    pub redis_response_timeout: Duration,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            pg_pool_size: 32,
            connect_timeout: Duration::from_secs(2),
            redis_response_timeout: Duration::from_secs(2),
        }
    }
}

/// After a failed connection attempt, further attempts to that address fail
/// at once for this long: a cache that is down must cost its callers nothing,
/// not one connect timeout each.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);

enum RedisSlot {
    Connected(ConnectionManager),
    Failed { at: Instant, why: String },
}

/// Who a pool is for: the host's own checks (`/health`, the backlog poller)
/// use [`HOST_POOL`], a guest its component id.
pub const HOST_POOL: &str = "sales-host";

/// One pool's connections, for the `db_pool_connections` gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    pub component: String,
    /// `host:port/name`, never the credentials.
    pub database: String,
    pub in_use: usize,
    pub idle: usize,
}

pub struct Services {
    limits: ServiceLimits,
    /// By `(component, address)`.
    pg: Mutex<HashMap<(String, String), Pool>>,
    redis: tokio::sync::Mutex<HashMap<String, RedisSlot>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    #[error("{0}")]
    Unavailable(String),
}

impl Services {
    pub fn new(limits: ServiceLimits) -> Self {
        Self {
            limits,
            pg: Mutex::default(),
            redis: tokio::sync::Mutex::default(),
        }
    }

    /// `component`'s pool for `address`, created on first use. Creating a
    /// pool opens no connection, so this never waits on the network.
    pub fn pg_pool(&self, component: &str, address: &str) -> Result<Pool, ServiceError> {
        let key = (component.to_owned(), address.to_owned());
        let mut pools = self.pg.lock().expect("pg pool map poisoned");
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let mut config = tokio_postgres::Config::from_str(address)
            .map_err(|e| ServiceError::InvalidAddress(e.to_string()))?;
        config.connect_timeout(self.limits.connect_timeout);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.limits.pg_pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.limits.connect_timeout * 2))
            .create_timeout(Some(self.limits.connect_timeout))
            .recycle_timeout(Some(self.limits.connect_timeout))
            .build()
            .map_err(|e| ServiceError::InvalidAddress(e.to_string()))?;
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// Each pool's connections.
    pub fn pg_pool_usage(&self) -> Vec<PoolUsage> {
        let pools = self.pg.lock().expect("pg pool map poisoned");
        pools
            .iter()
            .map(|((component, address), pool)| {
                let status = pool.status();
                PoolUsage {
                    component: component.clone(),
                    database: database_label(address),
                    in_use: status.size.saturating_sub(status.available),
                    idle: status.available,
                }
            })
            .collect()
    }

    /// The multiplexed connection for `address`, connected on first use and
    /// reconnected by the manager after a failure.
    pub async fn redis(&self, address: &str) -> Result<ConnectionManager, ServiceError> {
        let mut connections = self.redis.lock().await;
        match connections.get(address) {
            Some(RedisSlot::Connected(connection)) => return Ok(connection.clone()),
            Some(RedisSlot::Failed { at, why }) if at.elapsed() < REDIS_RETRY_AFTER => {
                return Err(ServiceError::Unavailable(why.clone()))
            }
            _ => {}
        }
        let client = redis::Client::open(address)
            .map_err(|e| ServiceError::InvalidAddress(e.to_string()))?;
        // No retries on the first connection: a guest waiting on a dead cache
        // should learn so at once and carry on without it. Once connected,
        // the manager reconnects by itself.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(self.limits.connect_timeout)
            .set_response_timeout(self.limits.redis_response_timeout);
        match ConnectionManager::new_with_config(client, config).await {
            Ok(connection) => {
                connections.insert(address.to_owned(), RedisSlot::Connected(connection.clone()));
                Ok(connection)
            }
            Err(error) => {
                let why = error.to_string();
                connections.insert(
                    address.to_owned(),
                    RedisSlot::Failed {
                        at: Instant::now(),
                        why: why.clone(),
                    },
                );
                Err(ServiceError::Unavailable(why))
            }
        }
    }
}

/// `host:port/dbname` of a Postgres address, for a metric label.
fn database_label(address: &str) -> String {
    let Ok(config) = tokio_postgres::Config::from_str(address) else {
        return "invalid".to_owned();
    };
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_label_never_carries_credentials() {
        assert_eq!(
            database_label("postgres://app:s3cret@db.internal:6432/sales?sslmode=disable"),
            "db.internal:6432/sales"
        );
        assert_eq!(database_label("not a url at all ::"), "invalid");
    }

    /// A real PostgreSQL (trust authentication, role root), as in CI.
    const DATABASE: &str = "postgres://root@127.0.0.1:5432/postgres";

    fn one_connection_each() -> Services {
        Services::new(ServiceLimits {
            pg_pool_size: 1,
            connect_timeout: Duration::from_millis(250),
            ..ServiceLimits::default()
        })
    }

    #[tokio::test]
    async fn a_component_holding_all_its_connections_leaves_the_others_theirs() {
        let services = one_connection_each();
        let api = services.pg_pool("orders-api", DATABASE).unwrap();
        let relay = services.pg_pool("outbox-relay", DATABASE).unwrap();

        let held = api.get().await.expect("PostgreSQL at 127.0.0.1:5432");
        let relays = relay.get().await;
        let api_again = api.get().await;

        let relays = relays.expect("the relay's own pool has a connection");
        relays.simple_query("SELECT 1").await.unwrap();
        assert!(
            api_again.is_err(),
            "the API's pool of one is taken, so a second get waits and times out"
        );
        drop(held);
    }

    #[test]
    fn one_component_asking_twice_gets_the_same_pool() {
        let services = one_connection_each();

        services.pg_pool("orders-api", DATABASE).unwrap();
        services.pg_pool("orders-api", DATABASE).unwrap();
        services.pg_pool(HOST_POOL, DATABASE).unwrap();

        let mut pools: Vec<_> = services
            .pg_pool_usage()
            .into_iter()
            .map(|usage| (usage.component, usage.database))
            .collect();
        pools.sort();
        assert_eq!(
            pools,
            [
                (
                    "orders-api".to_owned(),
                    "127.0.0.1:5432/postgres".to_owned()
                ),
                (HOST_POOL.to_owned(), "127.0.0.1:5432/postgres".to_owned()),
            ]
        );
    }
}
