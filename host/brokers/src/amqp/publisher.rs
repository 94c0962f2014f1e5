//! Publishing with publisher confirms, plus the declarations a publisher needs.

use std::fmt;
use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};

use super::headers::table_from_pairs;
use super::link::Link;
use super::{short, topology, AmqpOptions, OutgoingMessage};
use crate::BrokerError;

/// Persistent delivery mode: the broker writes the message to disk in durable queues.
pub(super) const PERSISTENT: u8 = 2;

/// Publishes to RabbitMQ over one connection and one confirm-mode channel.
///
/// Safe to share between tasks (`&self` everywhere). Every publish waits for the
/// broker's confirm, so `Ok(())` means the broker has taken responsibility for the
/// message.
pub struct AmqpPublisher {
    link: Link,
}

impl fmt::Debug for AmqpPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpPublisher")
            .field("options", self.link.options())
            .finish_non_exhaustive()
    }
}

impl AmqpPublisher {
    /// Connects with [`AmqpOptions::default`].
    ///
    /// `Config` for a malformed URL, `Unavailable` when the broker cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, BrokerError> {
        Self::connect_with(url, AmqpOptions::default()).await
    }

    /// Connects with explicit timeouts and back-off.
    pub async fn connect_with(url: &str, options: AmqpOptions) -> Result<Self, BrokerError> {
        Ok(Self {
            link: Link::connect(url, options).await?,
        })
    }

    /// Declares a durable topic exchange (a no-op if it exists with the same settings).
    pub async fn declare_topic_exchange(&self, name: &str) -> Result<(), BrokerError> {
        let exchange = short(name, "exchange name")?;
        let options = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        self.link
            .run(
                &format!("declaring exchange {name:?}"),
                |channel| async move {
                    channel
                        .exchange_declare(
                            exchange,
                            ExchangeKind::Topic,
                            options,
                            FieldTable::default(),
                        )
                        .await
                },
            )
            .await
    }

    /// Declares the durable `queue`, its `<queue>.dlq` and one `<queue>.retry.<n>` TTL
    /// queue per delay (see [`super::retry_queue_name`]).
    ///
    /// `Rejected` if one of them already exists with other arguments (for example a
    /// changed delay): delete the retry queue (once empty) to change it.
    pub async fn declare_consumed_queue(
        &self,
        queue: &str,
        retry_delays: &[Duration],
    ) -> Result<(), BrokerError> {
        topology::declare_consumed_queue(&self.link, queue, retry_delays).await
    }

    /// Binds `queue` to `exchange` for `routing_key` (a topic pattern).
    pub async fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        let (q, e, k) = (
            short(queue, "queue name")?,
            short(exchange, "exchange name")?,
            short(routing_key, "routing key")?,
        );
        let what = format!("binding queue {queue:?} to exchange {exchange:?}");
        self.link
            .run(&what, |channel| async move {
                channel
                    .queue_bind(q, e, k, QueueBindOptions::default(), FieldTable::default())
                    .await
            })
            .await
    }

    /// How many messages are ready in `queue` (a passive declare: the queue is not
    /// created). `Rejected` if it does not exist.
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BrokerError> {
        let name = short(queue, "queue name")?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.link
            .run(
                &format!("inspecting queue {queue:?}"),
                |channel| async move {
                    channel
                        .queue_declare(name, options, FieldTable::default())
                        .await
                },
            )
            .await
            .map(|queue| queue.message_count())
    }

    /// One round trip to the broker (a passive declare of the predeclared
    /// `amq.topic` exchange): proves the connection and channel work.
    pub async fn check_connection(&self) -> Result<(), BrokerError> {
        let options = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        self.link
            .run("checking the connection", |channel| async move {
                channel
                    .exchange_declare(
                        "amq.topic".into(),
                        ExchangeKind::Topic,
                        options,
                        FieldTable::default(),
                    )
                    .await
            })
            .await
    }

    /// Deletes a queue and the messages in it (a no-op if it does not exist).
    pub async fn delete_queue(&self, queue: &str) -> Result<(), BrokerError> {
        let name = short(queue, "queue name")?;
        self.link
            .run(&format!("deleting queue {queue:?}"), |channel| async move {
                channel
                    .queue_delete(name, QueueDeleteOptions::default())
                    .await
            })
            .await
            .map(|_| ())
    }

    /// Deletes an exchange (a no-op if it does not exist).
    pub async fn delete_exchange(&self, exchange: &str) -> Result<(), BrokerError> {
        let name = short(exchange, "exchange name")?;
        self.link
            .run(
                &format!("deleting exchange {exchange:?}"),
                |channel| async move {
                    channel
                        .exchange_delete(name, ExchangeDeleteOptions::default())
                        .await
                },
            )
            .await
    }

    /// Publishes `message` persistently and waits for the broker's confirm.
    ///
    /// - `Rejected`: the broker nacked it, or the exchange does not exist.
    /// - `Unroutable`: the broker took it but no queue is bound for `routing_key`, so it
    ///   kept nothing (the message is published `mandatory` so that this is known).
    /// - `Unavailable`: no connection, or no confirm within the operation timeout. The
    ///   message may or may not have been taken: publish again (consumers deduplicate).
    /// - `Config`: a name or header longer than AMQP allows.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage,
    ) -> Result<(), BrokerError> {
        self.link
            .publish_confirmed(exchange, routing_key, &message.body, properties(message)?)
            .await
    }

    /// Publishes each `(routing key, message)` to `exchange` persistently, in order, and
    /// awaits the confirms together: one result per message, in order, each as
    /// [`AmqpPublisher::publish`] would give it. A message whose properties are invalid
    /// gets its `Config` error and is not sent; the others are.
    pub async fn publish_batch(
        &self,
        exchange: &str,
        messages: &[(String, OutgoingMessage)],
    ) -> Vec<Result<(), BrokerError>> {
        let mut results: Vec<Option<Result<(), BrokerError>>> = vec![None; messages.len()];
        let mut valid = Vec::with_capacity(messages.len());
        let mut sent = Vec::with_capacity(messages.len());
        for (index, (routing_key, message)) in messages.iter().enumerate() {
            match short(routing_key, "routing key").and_then(|key| Ok((key, properties(message)?)))
            {
                Ok((key, properties)) => {
                    valid.push((key, message.body.clone(), properties));
                    sent.push(index);
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        match self.link.publish_confirmed_batch(exchange, valid).await {
            Ok(outcomes) => {
                for (index, outcome) in sent.into_iter().zip(outcomes) {
                    results[index] = Some(outcome);
                }
            }
            Err(error) => {
                for index in sent {
                    results[index] = Some(Err(error.clone()));
                }
            }
        }
        results
            .into_iter()
            .map(|result| result.expect("every message has its result"))
            .collect()
    }
}

/// A message's AMQP properties: persistent, with its id, content type and headers.
fn properties(message: &OutgoingMessage) -> Result<BasicProperties, BrokerError> {
    Ok(BasicProperties::default()
        .with_message_id(short(&message.message_id, "message id")?)
        .with_content_type(short(&message.content_type, "content type")?)
        .with_delivery_mode(PERSISTENT)
        .with_headers(table_from_pairs(&message.headers)?))
}
