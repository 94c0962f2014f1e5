//! Queue names and declarations for the retry policy.
//!
//! `<queue>` is consumed; a failed message is copied to `<queue>.retry.<n>` (n = 1 for
//! the first retry), a durable queue whose `x-message-ttl` is the n-th delay and whose
//! dead-letter target is `<queue>` through the default exchange. When the TTL expires the
//! broker moves the copy back to `<queue>`. Nothing waits in memory, so pending retries
//! survive restarts of both the host and the broker.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};

use super::link::Link;
use super::short;
use crate::BrokerError;

/// The dead-letter queue of `queue`.
pub fn dlq_name(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// The queue that holds the `attempt`-th retry (1-based) of `queue`.
pub fn retry_queue_name(queue: &str, attempt: usize) -> String {
    format!("{queue}.retry.{attempt}")
}

/// Declares `queue`, `<queue>.dlq` and one `<queue>.retry.<n>` per delay, all durable.
pub(super) async fn declare_consumed_queue(
    link: &Link,
    queue: &str,
    retry_delays: &[Duration],
) -> Result<(), BrokerError> {
    if queue.is_empty() {
        return Err(BrokerError::Config("queue name must not be empty".into()));
    }
    declare_durable_queue(link, queue, FieldTable::default()).await?;
    declare_durable_queue(link, &dlq_name(queue), FieldTable::default()).await?;
    for (index, delay) in retry_delays.iter().enumerate() {
        let ttl_ms = u32::try_from(delay.as_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                BrokerError::Config(format!(
                    "retry delay {delay:?} for {queue:?} must be between 1 ms and u32::MAX ms"
                ))
            })?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-message-ttl".into(), AMQPValue::LongUInt(ttl_ms));
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(queue)),
        );
        declare_durable_queue(link, &retry_queue_name(queue, index + 1), arguments).await?;
    }
    Ok(())
}

async fn declare_durable_queue(
    link: &Link,
    name: &str,
    arguments: FieldTable,
) -> Result<(), BrokerError> {
    let queue = short(name, "queue name")?;
    link.run(&format!("declaring queue {name:?}"), |channel| async move {
        channel
            .queue_declare(queue, QueueDeclareOptions::durable(), arguments)
            .await
    })
    .await
    .map(|_| ())
}
