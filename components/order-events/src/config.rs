//! The component's settings, from its Spin variables, read for each message:
//! a missing or malformed one fails the message (to be retried once the
//! deployment is fixed), never a guess.

use crate::bindings::sales::messaging::types::HandleMessageError;

pub struct Config {
    pub database_url: String,
    pub redis_url: String,
    /// Unused when only invalidating, but checked like everywhere else.
    pub order_cache_ttl_seconds: u64,
}

fn variable(name: &str) -> Result<String, HandleMessageError> {
    spin_sdk::variables::get(name)
        .map_err(|e| HandleMessageError::Other(format!("configuration: variable {name:?}: {e:?}")))
}

fn number(name: &str) -> Result<u64, HandleMessageError> {
    let text = variable(name)?;
    text.trim().parse().map_err(|_| {
        HandleMessageError::Other(format!(
            "configuration: {name} must be a whole number, not {text:?}"
        ))
    })
}

impl Config {
    pub fn load() -> Result<Self, HandleMessageError> {
        Ok(Self {
            database_url: variable("database_url")?,
            redis_url: variable("redis_url")?,
            order_cache_ttl_seconds: number("order_cache_ttl_seconds")?,
        })
    }
}
