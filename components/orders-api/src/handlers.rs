//! What `POST /` and `GET /:id` do once the caller is known: parse, run the
//! domain's use case over this component's adapters, and shape the answer.

use sales_domain::auth::Principal;
use sales_domain::correlation::Correlation;
use sales_domain::create_order::CreateOrder;
use sales_domain::get_order::GetOrder;
use sales_domain::ids::OrderId;
use sales_domain::new_order::NewOrder;
use spin_sdk::http::Response;

use crate::adapters::{
    HttpProductCatalog, PgOrderRepository, RedisIdempotencyStore, RedisOrderCache, SystemClock,
    UuidGenerator,
};
use crate::api_error::ApiError;
use crate::config::Config;

pub fn create_order(
    config: &Config,
    principal: &Principal,
    body: &[u8],
    correlation: &Correlation,
) -> Result<Response, ApiError> {
    let request = NewOrder::parse_json(body)?;
    let repository = PgOrderRepository::new(&config.database_url);
    let catalog =
        HttpProductCatalog::new(&config.product_service_url, config.product_service_timeout);
    let idempotency = RedisIdempotencyStore::new(&config.redis_url);
    let created = CreateOrder {
        repository: &repository,
        catalog: &catalog,
        idempotency: &idempotency,
        clock: &SystemClock,
        ids: &UuidGenerator,
    }
    .execute(principal, request, correlation)?;

    let mut builder = Response::builder();
    builder
        .status(created.response.status)
        .header("content-type", "application/json");
    if let Some(order_id) = created_order_id(&created.response.body) {
        builder.header("location", format!("/api/v1/orders/{order_id}"));
    }
    if created.replayed {
        builder.header("idempotent-replayed", "true");
    }
    Ok(builder.body(created.response.body).build())
}

/// The `order_id` of a stored creation response, for `Location`.
fn created_order_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["order_id"].as_str().map(str::to_owned)
}

pub fn get_order(config: &Config, principal: &Principal, id: &str) -> Result<Response, ApiError> {
    let id = OrderId::parse(id)
        .map_err(|_| ApiError::Validation(vec!["order id must be a UUID".to_owned()]))?;
    let repository = PgOrderRepository::new(&config.database_url);
    let cache = RedisOrderCache::new(&config.redis_url, config.order_cache_ttl_seconds);
    let order = GetOrder {
        repository: &repository,
        cache: &cache,
    }
    .execute(principal, &id)?;
    let body = serde_json::to_vec(&order)
        .map_err(|e| ApiError::Internal(format!("serializing order {id}: {e}")))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .build())
}
