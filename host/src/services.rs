//! Connections to the real services, shared by every guest instance: one
//! Postgres pool and one multiplexed Redis connection per address.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Settings for the connections the host opens on the guests' behalf.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    pub pg_pool_size: usize,
    pub connect_timeout: Duration,
    pub redis_response_timeout: Duration,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            // Connections beyond what the database's CPUs run at once only
            // queue inside Postgres, where a waiting statement holds its
            // backend and competes for the CPUs; in the pool a waiting guest
            // costs nothing. On 2 CPUs shared with Postgres, 8 against 16
            // (and 16 against 32): the outbox's events out sooner, POSTs and
            // the consumer faster; 4 cost the consumer a fifth
            // (bench/results/pg-pool-size-ab-2026-12-06.txt).
            pg_pool_size: 8,
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

pub struct Services {
    limits: ServiceLimits,
    pg: Mutex<HashMap<String, Pool>>,
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

    /// The pool for `address`, created on first use. Creating a pool opens no
    /// connection, so this never waits on the network.
    pub fn pg_pool(&self, address: &str) -> Result<Pool, ServiceError> {
        let mut pools = self.pg.lock().expect("pg pool map poisoned");
        if let Some(pool) = pools.get(address) {
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
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }

    /// Each pool's connections as `(database, in use, idle)`, the database
    /// named by its host, port and name (never its credentials).
    pub fn pg_pool_usage(&self) -> Vec<(String, usize, usize)> {
        let pools = self.pg.lock().expect("pg pool map poisoned");
        pools
            .iter()
            .map(|(address, pool)| {
                let status = pool.status();
                let idle = status.available;
                (
                    database_label(address),
                    status.size.saturating_sub(idle),
                    idle,
                )
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
}
