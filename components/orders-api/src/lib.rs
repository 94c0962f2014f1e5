//! The Orders API component, routed at `/api/v1/orders/...`:
//!
//! - `POST /api/v1/orders` takes an order (JWT), idempotently;
//! - `GET /api/v1/orders/:id` returns one (JWT).
//!
//! This file only wires: configuration, the route, the caller's identity,
//! then a handler over the domain's use cases with this component's adapters.
//! Every failure becomes a response in [`api_error`].

#![deny(unsafe_code)]
#![warn(clippy::dbg_macro)]

mod adapters;
mod api_error;
mod config;
mod handlers;
mod routes;

use guest_http::body::{check_declared_length, collect_limited, MAX_BODY_BYTES};
use guest_http::header;
use sales_domain::correlation::{Correlation, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use spin_sdk::http::{IncomingRequest, Response};

use crate::api_error::ApiError;
use crate::config::Config;
use crate::routes::Route;

/// The exported entry point. Its own module because the bindings the macro
/// generates use `unsafe`, which the rest of the crate may not.
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{IncomingRequest, Response};
    use spin_sdk::http_component;

    #[http_component]
    async fn handle_orders(request: IncomingRequest) -> Response {
        super::respond(request).await
    }
}

async fn respond(request: IncomingRequest) -> Response {
    let request_id = header(&request, REQUEST_ID_HEADER).unwrap_or_default();
    match serve(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(&request_id),
    }
}

async fn serve(request: IncomingRequest) -> Result<Response, ApiError> {
    let path_info = header(&request, "spin-path-info").unwrap_or_default();
    let route = Route::resolve(&request.method().to_string(), &path_info)?;
    let config = Config::load()?;
    // The token is checked before the body is read or validated: an
    // anonymous caller learns nothing about what a valid body looks like.
    let principal = config.authenticate(header(&request, "authorization").as_deref())?;
    match route {
        Route::CreateOrder => {
            let correlation = correlation(&request);
            check_declared_length(
                header(&request, "content-length").as_deref(),
                MAX_BODY_BYTES,
            )?;
            let body = collect_limited(request.into_body_stream(), MAX_BODY_BYTES).await?;
            handlers::create_order(&config, &principal, &body, &correlation)
        }
        Route::GetOrder(id) => handlers::get_order(&config, &principal, &id),
    }
}

/// What the events this request causes carry: the host's `x-request-id`
/// (always set) and the caller's `traceparent` when it sent exactly one
/// (Trace Context treats several as none). The domain drops invalid values.
fn correlation(request: &IncomingRequest) -> Correlation {
    let traceparents = request.headers().get(TRACEPARENT_HEADER);
    let traceparent = match traceparents.as_slice() {
        [one] => std::str::from_utf8(one).ok(),
        _ => None,
    };
    Correlation::from_headers(header(request, REQUEST_ID_HEADER).as_deref(), traceparent)
}
