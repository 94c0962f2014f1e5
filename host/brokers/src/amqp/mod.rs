//! RabbitMQ (AMQP 0-9-1) adapter built on `lapin`.
//!
//! - [`AmqpPublisher`]: publishes persistent messages on a confirm-mode channel and waits
//!   for the broker's confirm; reconnects with back-off after the connection is lost.
//! - [`AmqpConsumer`]: consumes one queue with manual acks and a bounded prefetch, and
//!   gives each [`Delivery`] the contract's retry policy: `retry` re-queues a copy through
//!   `<queue>.retry.<n>` (a TTL queue that dead-letters back to `<queue>`), and exhausted
//!   or permanent failures go to `<queue>.dlq` with `x-failure-reason` and `x-attempts`.
//!
//! Every await on the broker is bounded by [`AmqpOptions::operation_timeout`], so a broker
//! that is down makes calls fail with [`BrokerError::Unavailable`] instead of hanging.

mod consumer;
mod headers;
mod link;
mod publisher;
mod topology;

use std::time::Duration;

use lapin::protocol::AMQPErrorKind;
use lapin::types::ShortString;
use lapin::ErrorKind;

use crate::BrokerError;

pub use consumer::{AmqpConsumer, Delivery, Disposition};
pub use publisher::AmqpPublisher;
pub use topology::{dlq_name, retry_queue_name};

/// Header carrying how many times a message has been tried and failed.
pub const ATTEMPTS_HEADER: &str = "x-attempts";
/// Header carrying why the last attempt failed.
pub const FAILURE_REASON_HEADER: &str = "x-failure-reason";

/// A message to publish. It is always sent persistent (delivery mode 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub body: Vec<u8>,
    pub message_id: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
}

/// Timeouts and reconnect back-off shared by publishers and consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpOptions {
    /// Upper bound for establishing the TCP + AMQP connection.
    pub connect_timeout: Duration,
    /// Upper bound for any other broker round trip (declare, publish + confirm, ack).
    pub operation_timeout: Duration,
    /// First wait after a failed connection attempt; doubled after every failure.
    pub reconnect_backoff_min: Duration,
    /// Longest wait between connection attempts.
    pub reconnect_backoff_max: Duration,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(5),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
        }
    }
}

/// Translates a lapin error into what the caller can do about it.
fn map_lapin_error(what: &str, error: &lapin::Error) -> BrokerError {
    match error.kind() {
        // Soft errors (404 missing exchange, 406 argument mismatch, 403 access refused)
        // close only the channel: the broker is up and said no.
        ErrorKind::ProtocolError(amqp) if matches!(amqp.kind(), AMQPErrorKind::Soft(_)) => {
            BrokerError::Rejected(format!("{what}: {amqp}"))
        }
        ErrorKind::AuthProviderError(_) | ErrorKind::InvalidProtocolVersion(_) => {
            BrokerError::Config(format!("{what}: {error}"))
        }
        _ => BrokerError::Unavailable(format!("{what}: {error}")),
    }
}

/// An AMQP short string (at most 255 bytes), or a configuration error naming the field.
fn short(value: &str, what: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(value)
        .map_err(|_| BrokerError::Config(format!("{what} {value:?} is longer than 255 bytes")))
}
