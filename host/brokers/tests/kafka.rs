//! KafkaProducer against the real Kafka API (tansu).

mod common;

use std::time::{Duration, Instant};

use common::{kafka_brokers, unique};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::Message;
use sales_brokers::kafka::{KafkaOptions, KafkaProducer, KafkaRecord};
use sales_brokers::BrokerError;

fn headers_of(message: &BorrowedMessage<'_>) -> Vec<(String, String)> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                    (h.key.to_string(), value.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn messages_with_the_same_key_arrive_in_order_on_one_partition() {
    let topic = unique("test-order-events");
    let producer = KafkaProducer::new(&kafka_brokers()).expect("producer");
    producer
        .ensure_topic(&topic, 3)
        .await
        .expect("create topic");
    producer
        .ensure_topic(&topic, 3)
        .await
        .expect("creating it again is fine");
    let key = unique("order");
    let headers = vec![("event_type".to_string(), "OrderCreated".to_string())];

    let (partition_1, offset_1) = producer
        .send(&topic, key.as_bytes(), b"first", &headers)
        .await
        .expect("first delivered");
    let (partition_2, offset_2) = producer
        .send(&topic, key.as_bytes(), b"second", &headers)
        .await
        .expect("second delivered");
    assert_eq!(partition_1, partition_2, "same key, same partition");
    assert!(offset_2 > offset_1, "{offset_1} then {offset_2}");

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("group.id", unique("test-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut received = Vec::new();
    while received.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a message within 30 s")
            .expect("message");
        received.push((
            message.key().map(<[u8]>::to_vec),
            message.payload().map(<[u8]>::to_vec),
            headers_of(&message),
            message.partition(),
            message.offset(),
        ));
    }
    let expected = |payload: &[u8], offset| {
        (
            Some(key.as_bytes().to_vec()),
            Some(payload.to_vec()),
            headers.clone(),
            partition_1,
            offset,
        )
    };
    assert_eq!(received[0], expected(b"first", offset_1));
    assert_eq!(received[1], expected(b"second", offset_2));

    drop(consumer);
    producer.delete_topic(&topic).await.expect("delete topic");
}

#[tokio::test]
async fn a_batch_is_delivered_in_order_with_one_result_per_record() {
    let topic = unique("test-order-events");
    let producer = KafkaProducer::new(&kafka_brokers()).expect("producer");
    producer
        .ensure_topic(&topic, 3)
        .await
        .expect("create topic");
    let key = unique("order");
    let headers = vec![("event_type".to_string(), "OrderCreated".to_string())];
    let payloads: Vec<Vec<u8>> = (0..20).map(|n| format!("event-{n}").into_bytes()).collect();
    let records: Vec<KafkaRecord<'_>> = payloads
        .iter()
        .map(|payload| KafkaRecord {
            key: key.as_bytes(),
            payload,
            headers: &headers,
        })
        .collect();

    let results = producer.send_batch(&topic, &records).await;

    assert_eq!(results.len(), 20);
    let delivered: Vec<(i32, i64)> = results.into_iter().map(|r| r.expect("delivered")).collect();
    assert!(
        delivered
            .windows(2)
            .all(|w| w[0].0 == w[1].0 && w[1].1 > w[0].1),
        "one partition, offsets rising in the order sent: {delivered:?}"
    );
    producer.delete_topic(&topic).await.expect("delete topic");
}

#[tokio::test]
async fn a_batch_to_a_topic_that_was_never_created_fails_every_record() {
    let producer =
        KafkaProducer::with_options(&kafka_brokers(), quick_options()).expect("producer");
    let records = [b"one".as_slice(), b"two"].map(|payload| KafkaRecord {
        key: b"k",
        payload,
        headers: &[],
    });

    let results = producer
        .send_batch(&unique("test-never-created"), &records)
        .await;

    assert_eq!(results.len(), 2);
    assert!(results.iter().all(Result::is_err), "{results:?}");
}

#[tokio::test]
async fn a_topic_needs_at_least_one_partition() {
    let producer = KafkaProducer::new(&kafka_brokers()).expect("producer");

    let error = producer
        .ensure_topic(&unique("test-empty"), 0)
        .await
        .expect_err("zero partitions");

    assert!(matches!(error, BrokerError::Config(_)), "{error:?}");
}

fn quick_options() -> KafkaOptions {
    KafkaOptions {
        delivery_timeout: Duration::from_secs(2),
        admin_timeout: Duration::from_secs(2),
        ..KafkaOptions::default()
    }
}

#[tokio::test]
async fn sending_to_a_topic_that_was_never_created_fails_within_the_delivery_timeout() {
    let producer =
        KafkaProducer::with_options(&kafka_brokers(), quick_options()).expect("producer");
    let started = Instant::now();

    let error = producer
        .send(&unique("test-missing"), b"key", b"payload", &[])
        .await
        .expect_err("no such topic");

    // librdkafka waits for the topic to appear in metadata, so tansu (which does not
    // auto-create) surfaces as a delivery timeout rather than UnknownTopicOrPartition.
    assert!(
        matches!(error, BrokerError::Unavailable(_) | BrokerError::Config(_)),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn sending_while_no_broker_listens_is_unavailable_within_the_delivery_timeout() {
    let producer = KafkaProducer::with_options("127.0.0.1:1", quick_options()).expect("producer");
    let started = Instant::now();

    let error = producer
        .send("order-events", b"key", b"payload", &[])
        .await
        .expect_err("nobody listens");

    assert!(matches!(error, BrokerError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
