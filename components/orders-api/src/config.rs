//! The component's settings, from its Spin variables, checked before any
//! request is served: a bad setting is a logged 500, never a guess.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orders_auth::AuthConfig;
use sales_domain::auth::Principal;

use crate::api_error::ApiError;

pub struct Config {
    pub database_url: String,
    pub redis_url: String,
    pub product_service_url: String,
    pub product_service_timeout: Duration,
    pub order_cache_ttl_seconds: u64,
    auth: AuthConfig,
}

fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name)
        .map_err(|e| ApiError::Internal(format!("configuration: variable {name:?}: {e:?}")))
}

fn number(name: &str) -> Result<u64, ApiError> {
    let text = variable(name)?;
    text.trim().parse().map_err(|_| {
        ApiError::Internal(format!(
            "configuration: {name} must be a whole number, not {text:?}"
        ))
    })
}

/// A variable whose empty value means "not configured".
fn optional(name: &str) -> Result<Option<String>, ApiError> {
    Ok(Some(variable(name)?).filter(|v| !v.trim().is_empty()))
}

impl Config {
    pub fn load() -> Result<Self, ApiError> {
        let auth = AuthConfig::new(
            optional("jwt_secret")?.as_deref(),
            optional("jwt_jwks")?.as_deref(),
            optional("jwt_issuer")?.as_deref(),
            optional("jwt_audience")?.as_deref(),
        )
        .map_err(|e| ApiError::Internal(format!("configuration: jwt: {e}")))?;
        Ok(Self {
            database_url: variable("database_url")?,
            redis_url: variable("redis_url")?,
            product_service_url: variable("product_service_url")?
                .trim_end_matches('/')
                .to_owned(),
            product_service_timeout: Duration::from_millis(number("product_service_timeout_ms")?),
            order_cache_ttl_seconds: number("order_cache_ttl_seconds")?,
            auth,
        })
    }

    /// The caller behind the `Authorization` header, or why there is none.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| ApiError::Internal(format!("clock before 1970: {e}")))?
            .as_secs() as i64;
        let token = self.auth.verify(authorization, now)?;
        Ok(Principal::from_scopes(
            token.subject.clone(),
            token.scopes.iter().map(String::as_str),
        ))
    }
}
