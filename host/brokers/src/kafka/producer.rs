//! The idempotent producer and topic creation.

use std::fmt;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use tokio::time::timeout;

use super::errors::{map_code, map_kafka_error};
use crate::BrokerError;

/// Producer settings that matter for delivery guarantees and latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `linger.ms`: how long a record may wait to be batched with others.
    pub linger: Duration,
    /// `delivery.timeout.ms`: how long librdkafka keeps retrying one record before
    /// reporting it failed. `send` never waits much longer than this.
    pub delivery_timeout: Duration,
    /// Upper bound for admin operations such as creating a topic.
    pub admin_timeout: Duration,
    /// Replication factor for topics created by `ensure_topic`.
    pub replication_factor: i32,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            // Batches are handed over whole (send_batch): waiting for more
            // records only adds to every batch's latency.
            linger: Duration::from_millis(1),
            delivery_timeout: Duration::from_secs(10),
            admin_timeout: Duration::from_secs(10),
            replication_factor: 1,
        }
    }
}

/// One record of a [`KafkaProducer::send_batch`].
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub headers: &'a [(String, String)],
}

/// An idempotent Kafka producer (`acks=all`) plus an admin client for topics.
pub struct KafkaProducer {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    options: KafkaOptions,
}

impl fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// A producer for the comma-separated `brokers` (`host:port,...`) with default options.
    ///
    /// Creating it does not contact the brokers; `Config` for invalid settings.
    pub fn new(brokers: &str) -> Result<Self, BrokerError> {
        Self::with_options(brokers, KafkaOptions::default())
    }

    pub fn with_options(brokers: &str, options: KafkaOptions) -> Result<Self, BrokerError> {
        if brokers.trim().is_empty() {
            return Err(BrokerError::Config(
                "kafka brokers must not be empty".into(),
            ));
        }
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", millis(options.linger))
            .set("delivery.timeout.ms", millis(options.delivery_timeout))
            .create()
            .map_err(|e| BrokerError::Config(format!("creating the kafka producer: {e}")))?;
        let admin = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .map_err(|e| BrokerError::Config(format!("creating the kafka admin client: {e}")))?;
        Ok(Self {
            producer,
            admin,
            options,
        })
    }

    /// Sends one record and waits until the broker acknowledged it (all in-sync
    /// replicas). Returns its `(partition, offset)`.
    ///
    /// Records with the same `key` go to the same partition, in the order sent.
    /// `Unavailable` when the broker did not acknowledge within the delivery timeout,
    /// `Rejected` for a record the broker refuses, `Config` for a missing topic.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(String, String)],
    ) -> Result<(i32, i64), BrokerError> {
        let what = format!("sending to topic {topic:?}");
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(owned_headers(headers));
        // librdkafka fails the record after `delivery.timeout.ms`; the outer timeout is
        // only a guard against a callback that never comes.
        let guard = self.options.delivery_timeout + Duration::from_secs(2);
        let queue_wait = Timeout::After(self.options.delivery_timeout);
        match timeout(guard, self.producer.send(record, queue_wait)).await {
            Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
            Ok(Err((error, _message))) => Err(map_kafka_error(&what, &error)),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "{what}: no delivery report within {guard:?}"
            ))),
        }
    }

    /// Hands every record to the producer in order (records with the
    /// same key go to one partition and keep this order), then awaits the delivery
    /// reports together: one result per record, in order, each as [`KafkaProducer::send`]
    /// would give it.
    pub async fn send_batch(
        &self,
        topic: &str,
        records: &[KafkaRecord<'_>],
    ) -> Vec<Result<(i32, i64), BrokerError>> {
        let what = format!("sending to topic {topic:?}");
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            let record = FutureRecord::to(topic)
                .key(record.key)
                .payload(record.payload)
                .headers(owned_headers(record.headers));
            pending.push(
                self.producer
                    .send_result(record)
                    .map_err(|(error, _record)| map_kafka_error(&what, &error)),
            );
        }
        let guard = self.options.delivery_timeout + Duration::from_secs(2);
        let deadline = tokio::time::Instant::now() + guard;
        let mut results = Vec::with_capacity(pending.len());
        for delivery in pending {
            results.push(match delivery {
                Err(error) => Err(error),
                Ok(future) => match tokio::time::timeout_at(deadline, future).await {
                    Ok(Ok(Ok(delivery))) => Ok((delivery.partition, delivery.offset)),
                    Ok(Ok(Err((error, _message)))) => Err(map_kafka_error(&what, &error)),
                    Ok(Err(_canceled)) => Err(BrokerError::Unavailable(format!(
                        "{what}: the producer dropped the record"
                    ))),
                    Err(_) => Err(BrokerError::Unavailable(format!(
                        "{what}: no delivery report within {guard:?}"
                    ))),
                },
            });
        }
        results
    }

    /// Asks a broker for the cluster's metadata: proves one is reachable and
    /// answering, within `within`.
    pub async fn check_connection(&self, within: Duration) -> Result<(), BrokerError> {
        let producer = self.producer.clone();
        // librdkafka's metadata call blocks its thread.
        let call = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Timeout::After(within))
                .map(|_| ())
        });
        match timeout(within + Duration::from_millis(100), call).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(map_kafka_error("fetching metadata", &error)),
            Ok(Err(join)) => Err(BrokerError::Unavailable(format!(
                "fetching metadata: {join}"
            ))),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "fetching metadata: no answer within {within:?}"
            ))),
        }
    }

    /// Creates `topic` with `partitions` partitions; a topic that already exists is fine
    /// (its partition count is left as it is).
    pub async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BrokerError> {
        if partitions < 1 {
            return Err(BrokerError::Config(format!(
                "topic {topic:?} needs at least one partition, not {partitions}"
            )));
        }
        let what = format!("creating topic {topic:?}");
        let new_topic = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.options.replication_factor),
        );
        let results = self
            .admin_call(
                &what,
                self.admin
                    .create_topics([&new_topic], &self.admin_options()),
            )
            .await?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(map_code(&what, code)),
            }
        }
        Ok(())
    }

    /// Deletes `topic`; a topic that does not exist is fine.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), BrokerError> {
        let what = format!("deleting topic {topic:?}");
        let results = self
            .admin_call(
                &what,
                self.admin.delete_topics(&[topic], &self.admin_options()),
            )
            .await?;
        for result in results {
            match result {
                Ok(_)
                | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))
                | Err((_, RDKafkaErrorCode::UnknownTopic)) => {}
                Err((_, code)) => return Err(map_code(&what, code)),
            }
        }
        Ok(())
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.options.admin_timeout))
            .operation_timeout(Some(self.options.admin_timeout))
    }

    async fn admin_call<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = rdkafka::error::KafkaResult<T>>,
    ) -> Result<T, BrokerError> {
        let guard = self.options.admin_timeout + Duration::from_secs(2);
        match timeout(guard, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(map_kafka_error(what, &error)),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "{what}: no answer within {guard:?}"
            ))),
        }
    }
}

fn owned_headers(headers: &[(String, String)]) -> OwnedHeaders {
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (name, value) in headers {
        owned = owned.insert(Header {
            key: name,
            value: Some(value.as_bytes()),
        });
    }
    owned
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}
