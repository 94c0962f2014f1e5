//! The host's broker connections for the outbox relay, and the
//! `sales:messaging/producer` interface the relay imports over them.

use std::sync::Arc;

use sales_brokers::amqp::{AmqpPublisher, OutgoingMessage as AmqpMessage};
use sales_brokers::kafka::{KafkaProducer, KafkaRecord};
use sales_brokers::BrokerError;

use crate::messaging::relay::sales::messaging::producer::{
    self as wit, OutgoingMessage, PublishError,
};
use crate::ops::metrics::metrics;
use crate::state::GuestState;

/// Records how long `broker` took to take one message, by outcome (`ok`,
/// `unroutable`: taken but no queue bound for it, `error`).
fn observe_publish<T>(broker: &str, started: std::time::Instant, outcome: &Result<T, BrokerError>) {
    let outcome = match outcome {
        Ok(_) => "ok",
        Err(BrokerError::Unroutable(_)) => "unroutable",
        Err(_) => "error",
    };
    metrics()
        .publish_duration
        .with_label_values(&[broker, outcome])
        .observe(started.elapsed().as_secs_f64());
}

pub struct Brokers {
    amqp_address: String,
    amqp: tokio::sync::OnceCell<AmqpPublisher>,
    kafka: KafkaProducer,
}

impl Brokers {
    pub fn new(amqp_address: String, kafka_brokers: &str) -> Result<Self, BrokerError> {
        Ok(Self {
            amqp_address,
            amqp: tokio::sync::OnceCell::new(),
            kafka: KafkaProducer::new(kafka_brokers)?,
        })
    }

    async fn amqp(&self) -> Result<&AmqpPublisher, BrokerError> {
        self.amqp
            .get_or_try_init(|| AmqpPublisher::connect(&self.amqp_address))
            .await
    }

    /// Declares the exchanges and topics the relay publishes to; run at
    /// start-up so that a missing broker stops the host with its name.
    pub async fn declare(
        &self,
        exchanges: &[String],
        topics: &[(String, i32)],
    ) -> Result<(), BrokerError> {
        let amqp = self.amqp().await?;
        for exchange in exchanges {
            amqp.declare_topic_exchange(exchange).await?;
        }
        for (topic, partitions) in topics {
            self.kafka.ensure_topic(topic, *partitions).await?;
        }
        Ok(())
    }
}

fn publish_error(error: BrokerError) -> PublishError {
    match error {
        BrokerError::Rejected(why) | BrokerError::Config(why) | BrokerError::Unroutable(why) => {
            PublishError::Rejected(why)
        }
        BrokerError::Unavailable(why) => PublishError::Unavailable(why),
    }
}

impl GuestState {
    fn brokers(&self) -> wasmtime::Result<Arc<Brokers>> {
        self.brokers
            .clone()
            .ok_or_else(|| wasmtime::format_err!("this component has no broker connections"))
    }
}

/// A RabbitMQ outcome as the guest sees it. An unroutable message counts as
/// published: the exchange took the event and no subscriber has bound a
/// queue for it (a topic exchange's subscribers own their queues). Holding
/// the outbox back instead would stop every later event, Kafka's included,
/// until someone subscribes. It is said loudly, not silently.
fn amqp_outcome(
    exchange: &str,
    routing_key: &str,
    outcome: Result<(), BrokerError>,
) -> Result<(), PublishError> {
    match outcome {
        Err(BrokerError::Unroutable(why)) => {
            tracing::warn!(%exchange, %routing_key, reason = %why, "no queue is bound for this event: RabbitMQ dropped it");
            metrics()
                .amqp_unroutable
                .with_label_values(&[exchange])
                .inc();
            Ok(())
        }
        other => other.map_err(publish_error),
    }
}

fn amqp_message(message: OutgoingMessage) -> AmqpMessage {
    AmqpMessage {
        body: message.data,
        message_id: message.message_id,
        content_type: message.content_type,
        headers: message.headers,
    }
}

/// A Kafka record's headers: the message's own, then its id and content
/// type (Kafka has no properties for them).
fn kafka_headers(message: &mut OutgoingMessage) -> Vec<(String, String)> {
    let mut headers = std::mem::take(&mut message.headers);
    headers.push(("message-id".to_owned(), message.message_id.clone()));
    headers.push(("content-type".to_owned(), message.content_type.clone()));
    headers
}

impl wit::Host for GuestState {
    async fn publish_amqp_batch(
        &mut self,
        exchange: String,
        messages: Vec<(String, OutgoingMessage)>,
    ) -> wasmtime::Result<Vec<Result<(), PublishError>>> {
        let brokers = self.brokers()?;
        let started = std::time::Instant::now();
        let messages: Vec<(String, AmqpMessage)> = messages
            .into_iter()
            .map(|(key, message)| (key, amqp_message(message)))
            .collect();
        let outcomes = match brokers.amqp().await {
            Ok(amqp) => amqp.publish_batch(&exchange, &messages).await,
            Err(error) => vec![Err(error); messages.len()],
        };
        Ok(outcomes
            .into_iter()
            .zip(&messages)
            .map(|(outcome, (key, _))| {
                observe_publish("rabbitmq", started, &outcome);
                amqp_outcome(&exchange, key, outcome)
            })
            .collect())
    }

    async fn send_kafka_batch(
        &mut self,
        topic: String,
        mut messages: Vec<(String, OutgoingMessage)>,
    ) -> wasmtime::Result<Vec<Result<(), PublishError>>> {
        let brokers = self.brokers()?;
        let started = std::time::Instant::now();
        let headers: Vec<Vec<(String, String)>> = messages
            .iter_mut()
            .map(|(_, message)| kafka_headers(message))
            .collect();
        let records: Vec<KafkaRecord<'_>> = messages
            .iter()
            .zip(&headers)
            .map(|((key, message), headers)| KafkaRecord {
                key: key.as_bytes(),
                payload: &message.data,
                headers,
            })
            .collect();
        let outcomes = brokers.kafka.send_batch(&topic, &records).await;
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                let outcome = outcome.map(|_| ());
                observe_publish("kafka", started, &outcome);
                outcome.map_err(publish_error)
            })
            .collect())
    }
}
