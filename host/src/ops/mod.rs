//! The host's own operational routes: `GET /health`, `GET /metrics` and
//! `GET /openapi.json`. They are answered before the manifest's routes, so
//! they work whatever the components do (and a manifest cannot shadow them).

pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pollers;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiBody;

use crate::host_error::error_response;
use crate::services::Services;
use crate::variables::ResolvedVariables;
use health::HealthChecks;

/// One of the host's operational routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsRoute {
    Health,
    Metrics,
    OpenApi,
}

impl OpsRoute {
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "/health" => Some(Self::Health),
            "/metrics" => Some(Self::Metrics),
            "/openapi.json" => Some(Self::OpenApi),
            _ => None,
        }
    }

    /// The route's label in the HTTP metrics.
    pub fn path(self) -> &'static str {
        match self {
            Self::Health => "/health",
            Self::Metrics => "/metrics",
            Self::OpenApi => "/openapi.json",
        }
    }
}

pub struct Ops {
    health: HealthChecks,
    services: Arc<Services>,
    openapi: Bytes,
}

impl Ops {
    /// The checks cover the application's `database_url`, `redis_url`,
    /// `rabbitmq_url` and `kafka_brokers`, as far as it declares them.
    pub fn new(services: Arc<Services>, variables: &ResolvedVariables) -> anyhow::Result<Self> {
        let variable = |name: &str| variables.get(name).map(str::to_owned);
        Ok(Self {
            health: HealthChecks::new(
                services.clone(),
                variable("database_url"),
                variable("redis_url"),
                variable("rabbitmq_url"),
                variable("kafka_brokers"),
            )?,
            services,
            openapi: openapi::document_json()?,
        })
    }

    pub async fn handle(&self, route: OpsRoute, method: &Method) -> Response<WasiBody> {
        if method != Method::GET && method != Method::HEAD {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "only GET is allowed here",
            );
            response.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
            return response;
        }
        match route {
            OpsRoute::Health => {
                let report = self.health.run().await;
                let status = if report.healthy() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let body = serde_json::to_vec(&report).expect("a report serializes");
                respond(status, "application/json", Bytes::from(body))
            }
            OpsRoute::Metrics => {
                self.refresh_pool_gauges();
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    Bytes::from(metrics::metrics().render()),
                )
            }
            OpsRoute::OpenApi => respond(StatusCode::OK, "application/json", self.openapi.clone()),
        }
    }

    /// Pool usage is in memory: read it at scrape time.
    fn refresh_pool_gauges(&self) {
        let gauges = &metrics::metrics().db_pool_connections;
        for (database, in_use, idle) in self.services.pg_pool_usage() {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            gauges
                .with_label_values(&[database.as_str(), "in_use"])
                .set(count(in_use));
            gauges
                .with_label_values(&[database.as_str(), "idle"])
                .set(count(idle));
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<WasiBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a static response is valid")
}
