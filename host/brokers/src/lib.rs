//! Host-side message broker adapters for the order service.
//!
//! - [`amqp`]: RabbitMQ publishing with publisher confirms, and consumption with the
//!   contract's retry policy (TTL retry queues, then `<queue>.dlq`).
//! - [`kafka`]: an idempotent Kafka producer (`acks=all`) and topic creation, for brokers
//!   such as tansu that do not auto-create topics.
//!
//! Everything here is plain tokio code that runs in the host, never in a guest.

pub mod amqp;
mod error;
pub mod kafka;

pub use error::BrokerError;
