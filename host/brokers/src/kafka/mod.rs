//! Kafka adapter built on `rdkafka` (bundled librdkafka).
//!
//! [`KafkaProducer`] is idempotent (`enable.idempotence=true`, `acks=all`), so librdkafka's
//! internal retries never duplicate or reorder a partition's messages; `send` returns
//! only once the broker acknowledged the record. Topics are created explicitly with
//! [`KafkaProducer::ensure_topic`] because tansu does not create them on first use.

mod errors;
mod producer;

pub use producer::{KafkaOptions, KafkaProducer, KafkaRecord};
