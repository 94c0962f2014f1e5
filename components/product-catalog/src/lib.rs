//! The product-service mock: a Spin HTTP component routed at
//! `/product-service/...` that keeps each product's stock in Redis.
//!
//! - `GET /products/:id` answers `{"product_id","available_quantity"}`, 404
//!   `PRODUCT_NOT_FOUND` for a product never set.
//! - `PUT /products/:id` with `{"available_quantity":N}` sets the stock.
//!
//! This file only wires: it reads the request, hands it to [`routes`] and
//! [`handlers`], and turns the outcome into a response ([`error`] for
//! failures).

#![deny(unsafe_code)]
#![warn(clippy::dbg_macro)]

mod error;
mod handlers;
mod product;
mod routes;
mod stock;

use spin_sdk::http::{IncomingRequest, Response};

use crate::error::{error_response, CatalogError};
use crate::product::ProductStock;
use crate::routes::Route;
use crate::stock::RedisStock;
use guest_http::body::{check_declared_length, collect_limited, MAX_BODY_BYTES};
use guest_http::header;

/// The exported entry point. Its own module because the bindings the macro
/// generates use `unsafe`, which the rest of the crate may not.
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{IncomingRequest, Response};
    use spin_sdk::http_component;

    #[http_component]
    async fn handle_product_service(request: IncomingRequest) -> Response {
        super::respond(request).await
    }
}

async fn respond(request: IncomingRequest) -> Response {
    let request_id = header(&request, "x-request-id").unwrap_or_default();
    let body = serve(request).await.and_then(|product| {
        serde_json::to_vec(&product)
            .map_err(|e| CatalogError::Internal(format!("serializing {product:?}: {e}")))
    });
    match body {
        Ok(body) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body)
            .build(),
        Err(error) => error_response(&error, &request_id),
    }
}

async fn serve(request: IncomingRequest) -> Result<ProductStock, CatalogError> {
    // Spin puts the path below the component's route in `spin-path-info`.
    let path_info = header(&request, "spin-path-info")
        .or_else(|| request.path_with_query())
        .unwrap_or_default();
    let route = Route::resolve(&request.method().to_string(), &path_info)?;
    let body = if route.takes_body() {
        check_declared_length(
            header(&request, "content-length").as_deref(),
            MAX_BODY_BYTES,
        )?;
        collect_limited(request.into_body_stream(), MAX_BODY_BYTES).await?
    } else {
        Vec::new()
    };
    handlers::handle(route, &body, RedisStock::open)
}
