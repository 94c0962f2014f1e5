//! Consuming one queue with manual acks, and the retry / dead-letter decisions.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Acker, BasicProperties, Channel, Consumer};

use super::headers::{attempts, is_broker_death_header, pairs_from_table};
use super::link::Link;
use super::publisher::PERSISTENT;
use super::topology::{declare_consumed_queue, dlq_name, retry_queue_name};
use super::{short, AmqpOptions, ATTEMPTS_HEADER, FAILURE_REASON_HEADER};
use crate::BrokerError;

/// Consumes one queue. Declares the queue, its DLQ and its retry queues on connect.
pub struct AmqpConsumer {
    shared: Arc<Shared>,
    prefetch: u16,
    subscription: Option<Subscription>,
}

struct Shared {
    link: Link,
    queue: String,
    retry_delays: Vec<Duration>,
}

struct Subscription {
    channel: Channel,
    consumer: Consumer,
}

impl fmt::Debug for AmqpConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConsumer")
            .field("queue", &self.shared.queue)
            .field("retry_delays", &self.shared.retry_delays)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl AmqpConsumer {
    /// Connects with [`AmqpOptions::default`]; see [`AmqpConsumer::connect_with`].
    pub async fn connect(
        url: &str,
        queue: &str,
        retry_delays: &[Duration],
        prefetch: u16,
    ) -> Result<Self, BrokerError> {
        Self::connect_with(url, AmqpOptions::default(), queue, retry_delays, prefetch).await
    }

    /// Connects, declares `queue` with its DLQ and one retry queue per delay, and starts
    /// consuming with at most `prefetch` unacknowledged deliveries in flight.
    pub async fn connect_with(
        url: &str,
        options: AmqpOptions,
        queue: &str,
        retry_delays: &[Duration],
        prefetch: u16,
    ) -> Result<Self, BrokerError> {
        if prefetch == 0 {
            return Err(BrokerError::Config(
                "prefetch must be at least 1 (0 means unbounded)".into(),
            ));
        }
        let link = Link::connect(url, options).await?;
        declare_consumed_queue(&link, queue, retry_delays).await?;
        let mut consumer = Self {
            shared: Arc::new(Shared {
                link,
                queue: queue.to_string(),
                retry_delays: retry_delays.to_vec(),
            }),
            prefetch,
            subscription: None,
        };
        consumer.subscription = Some(consumer.subscribe().await?);
        Ok(consumer)
    }

    /// The queue this consumer reads.
    pub fn queue(&self) -> &str {
        &self.shared.queue
    }

    /// Waits for the next delivery.
    ///
    /// Waits as long as the queue is empty (wrap it in `tokio::time::timeout` to bound
    /// it); it is cancel-safe. `Unavailable` when the connection or the subscription was
    /// lost: call `next` again (after a pause) to resubscribe. Unacknowledged deliveries
    /// of a lost channel are redelivered by the broker.
    pub async fn next(&mut self) -> Result<Delivery, BrokerError> {
        if self.subscription.is_none() {
            self.subscription = Some(self.subscribe().await?);
        }
        let Some(subscription) = self.subscription.as_mut() else {
            return Err(BrokerError::Unavailable("no subscription".into()));
        };
        match subscription.consumer.next().await {
            Some(Ok(delivery)) => Ok(Delivery::new(delivery, Arc::clone(&self.shared))),
            Some(Err(error)) => {
                self.subscription = None;
                Err(super::map_lapin_error(
                    &format!("consuming {:?}", self.shared.queue),
                    &error,
                ))
            }
            None => {
                self.subscription = None;
                Err(BrokerError::Unavailable(format!(
                    "consumer of {:?} was cancelled",
                    self.shared.queue
                )))
            }
        }
    }

    async fn subscribe(&self) -> Result<Subscription, BrokerError> {
        let link = &self.shared.link;
        let queue = short(&self.shared.queue, "queue name")?;
        let channel = link.open_channel().await?;
        link.bounded(
            "setting the prefetch",
            channel.basic_qos(self.prefetch, BasicQosOptions::default()),
        )
        .await?;
        let consumer = link
            .bounded(
                &format!("subscribing to {:?}", self.shared.queue),
                channel.basic_consume(
                    queue,
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        Ok(Subscription { channel, consumer })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.channel.status().connected() {
            let channel = self.channel.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let limit = Duration::from_secs(5);
                    let _ = tokio::time::timeout(limit, channel.close(200, "bye".into())).await;
                });
            }
        }
    }
}

/// Where [`Delivery::retry`] sent the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Copied to `<queue>.retry.<attempt>`; it comes back after `delay`.
    Retried { attempt: u32, delay: Duration },
    /// Attempts exhausted (or a permanent failure): copied to `<queue>.dlq`.
    DeadLettered,
}

/// One message received from the queue, not yet acknowledged.
///
/// Finish it with exactly one of [`ack`](Self::ack), [`retry`](Self::retry) or
/// [`dead_letter`](Self::dead_letter). A delivery dropped unfinished stays unacked until
/// the consumer's channel closes, and is then redelivered.
pub struct Delivery {
    pub body: Vec<u8>,
    /// Scalar headers as strings (including `x-attempts` and `x-failure-reason` when set).
    pub headers: Vec<(String, String)>,
    /// How many earlier attempts failed (`x-attempts`, 0 for a first delivery).
    pub attempts: u32,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    /// Delivery mode 2.
    pub persistent: bool,
    /// The broker delivered it before and it was not acknowledged.
    pub redelivered: bool,
    pub exchange: String,
    pub routing_key: String,
    properties: BasicProperties,
    acker: Acker,
    shared: Arc<Shared>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.shared.queue)
            .field("message_id", &self.message_id)
            .field("attempts", &self.attempts)
            .field("redelivered", &self.redelivered)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    fn new(delivery: lapin::message::Delivery, shared: Arc<Shared>) -> Self {
        let properties = delivery.properties;
        let headers = properties.headers().as_ref();
        Self {
            headers: pairs_from_table(headers),
            attempts: attempts(headers),
            message_id: properties.message_id().as_ref().map(ToString::to_string),
            content_type: properties.content_type().as_ref().map(ToString::to_string),
            persistent: *properties.delivery_mode() == Some(PERSISTENT),
            redelivered: delivery.redelivered,
            exchange: delivery.exchange.to_string(),
            routing_key: delivery.routing_key.to_string(),
            body: delivery.data,
            properties,
            acker: delivery.acker,
            shared,
        }
    }

    /// The value of header `name`, if it is a scalar.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Acknowledges the message: the broker forgets it.
    pub async fn ack(self) -> Result<(), BrokerError> {
        let what = format!("acknowledging a message from {:?}", self.shared.queue);
        self.shared
            .link
            .bounded(&what, self.acker.ack(BasicAckOptions::default()))
            .await
            .map(|_| ())
    }

    /// Schedules another attempt after the next configured delay, or dead-letters the
    /// message when every delay has been used. The copy carries `x-attempts` (this
    /// attempt included) and `x-failure-reason`; the original is acked only after the
    /// broker confirmed the copy.
    ///
    /// On error the original is requeued (best effort) and will be delivered again with
    /// unchanged headers.
    pub async fn retry(self, reason: &str) -> Result<Disposition, BrokerError> {
        let attempt = self.attempts.saturating_add(1);
        let delay = usize::try_from(self.attempts)
            .ok()
            .and_then(|index| self.shared.retry_delays.get(index).copied());
        match delay {
            Some(delay) => {
                let target = retry_queue_name(&self.shared.queue, attempt as usize);
                self.move_to(&target, reason).await?;
                Ok(Disposition::Retried { attempt, delay })
            }
            None => {
                self.dead_letter(reason).await?;
                Ok(Disposition::DeadLettered)
            }
        }
    }

    /// Moves the message to `<queue>.dlq` at once (a permanent failure), with
    /// `x-attempts` and `x-failure-reason`, acking the original after the confirm.
    pub async fn dead_letter(self, reason: &str) -> Result<(), BrokerError> {
        let target = dlq_name(&self.shared.queue);
        self.move_to(&target, reason).await
    }

    async fn move_to(self, target: &str, reason: &str) -> Result<(), BrokerError> {
        let properties = self.failed_copy_properties(reason);
        let link = &self.shared.link;
        if let Err(error) = link
            .publish_confirmed("", target, &self.body, properties)
            .await
        {
            let requeue = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            let _ = link.bounded("requeueing", self.acker.nack(requeue)).await;
            return Err(error);
        }
        self.ack().await
    }

    fn failed_copy_properties(&self, reason: &str) -> BasicProperties {
        let mut headers = FieldTable::default();
        if let Some(original) = self.properties.headers() {
            for (key, value) in original.inner() {
                if !is_broker_death_header(key.as_str()) {
                    headers.insert(key.clone(), value.clone());
                }
            }
        }
        let attempts = i64::from(self.attempts) + 1;
        headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongLongInt(attempts));
        headers.insert(
            FAILURE_REASON_HEADER.into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        self.properties
            .clone()
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers)
    }
}
