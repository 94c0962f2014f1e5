//! `sales-host`: runs the Sales API's Spin components on wasmtime, against
//! the real PostgreSQL and Redis, and serves their HTTP routes.

pub mod amqp_trigger;
pub mod app;
pub mod brokers;
pub mod component_build;
pub mod engine;
pub mod guest_log;
pub mod host_error;
pub mod logging;
pub mod manifest;
pub mod messaging;
pub mod migrate;
pub mod ops;
pub mod outbound;
pub mod outbound_http;
pub mod outbox_trigger;
pub mod response_body;
pub mod routing;
pub mod runtime_config;
pub mod server;
pub mod services;
pub mod spin;
pub mod startup;
pub mod state;
pub mod variables;
