//! The retry policy (TTL retry queues, then the DLQ) against the real RabbitMQ.

mod common;

use std::time::{Duration, Instant};

use common::{amqp_url, get_one, unique, Cleanup};
use lapin::types::AMQPValue;
use sales_brokers::amqp::{
    dlq_name, AmqpConsumer, AmqpPublisher, Delivery, Disposition, OutgoingMessage,
};

const DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(400)];
/// TTL expiry is measured from when the copy was enqueued, a little before `retry`
/// returns; allow for that.
const SLACK: Duration = Duration::from_millis(50);

async fn setup(cleanup: &mut Cleanup) -> (String, AmqpPublisher, AmqpConsumer) {
    let queue = unique("test.orders.shipped");
    cleanup.consumed_queue(&queue, DELAYS.len());
    let consumer = AmqpConsumer::connect(&amqp_url(), &queue, &DELAYS, 8)
        .await
        .expect("consumer");
    let publisher = AmqpPublisher::connect(&amqp_url())
        .await
        .expect("publisher");
    let message = OutgoingMessage {
        body: br#"{"event_type":"OrderShipped"}"#.to_vec(),
        message_id: "shipped-1".into(),
        content_type: "application/json".into(),
        headers: vec![("origin".into(), "test".into())],
    };
    publisher
        .publish("", &queue, &message)
        .await
        .expect("publish to the queue");
    (queue, publisher, consumer)
}

async fn next(consumer: &mut AmqpConsumer) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("a delivery within 5 s")
        .expect("delivery")
}

fn int_header(message: &lapin::message::BasicGetMessage, name: &str) -> Option<i64> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongLongInt(value) => Some(*value),
        _ => None,
    }
}

fn string_header(message: &lapin::message::BasicGetMessage, name: &str) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(value) => Some(String::from_utf8_lossy(value.as_bytes()).into()),
        _ => None,
    }
}

#[tokio::test]
async fn a_retried_message_comes_back_after_each_delay_and_then_lands_in_the_dlq() {
    let mut cleanup = Cleanup::default();
    let (queue, _publisher, mut consumer) = setup(&mut cleanup).await;

    let first = next(&mut consumer).await;
    assert_eq!(first.attempts, 0);
    assert_eq!(
        first.retry("database down").await.expect("retry 1"),
        Disposition::Retried {
            attempt: 1,
            delay: DELAYS[0]
        }
    );
    let retried_at = Instant::now();

    let second = next(&mut consumer).await;
    assert!(
        retried_at.elapsed() + SLACK >= DELAYS[0],
        "{:?}",
        retried_at.elapsed()
    );
    assert_eq!(second.attempts, 1);
    assert_eq!(second.header("x-attempts"), Some("1"));
    assert_eq!(second.header("x-failure-reason"), Some("database down"));
    assert_eq!(
        second.header("origin"),
        Some("test"),
        "original headers kept"
    );
    assert_eq!(second.message_id.as_deref(), Some("shipped-1"));
    assert!(second.persistent);
    assert_eq!(
        second
            .retry("shipment not yet seen")
            .await
            .expect("retry 2"),
        Disposition::Retried {
            attempt: 2,
            delay: DELAYS[1]
        }
    );
    let retried_at = Instant::now();

    let third = next(&mut consumer).await;
    assert!(
        retried_at.elapsed() + SLACK >= DELAYS[1],
        "{:?}",
        retried_at.elapsed()
    );
    assert_eq!(third.attempts, 2);
    assert_eq!(
        third.header("x-failure-reason"),
        Some("shipment not yet seen")
    );
    assert_eq!(
        third.retry("still failing").await.expect("to the dlq"),
        Disposition::DeadLettered
    );

    let dead = get_one(&dlq_name(&queue), Duration::from_secs(5))
        .await
        .expect("message in the dlq");
    assert_eq!(int_header(&dead, "x-attempts"), Some(3));
    assert_eq!(
        string_header(&dead, "x-failure-reason").as_deref(),
        Some("still failing")
    );
    assert_eq!(
        dead.delivery.data,
        br#"{"event_type":"OrderShipped"}"#.to_vec()
    );
    assert_eq!(*dead.delivery.properties.delivery_mode(), Some(2));
    assert!(
        get_one(&queue, Duration::from_millis(700)).await.is_none(),
        "nothing left in the queue after every retry delay passed"
    );
}

#[tokio::test]
async fn a_dead_lettered_message_goes_straight_to_the_dlq() {
    let mut cleanup = Cleanup::default();
    let (queue, _publisher, mut consumer) = setup(&mut cleanup).await;

    let delivery = next(&mut consumer).await;
    delivery.dead_letter("not an envelope").await.expect("dlq");

    let dead = get_one(&dlq_name(&queue), Duration::from_secs(5))
        .await
        .expect("message in the dlq");
    assert_eq!(int_header(&dead, "x-attempts"), Some(1));
    assert_eq!(
        string_header(&dead, "x-failure-reason").as_deref(),
        Some("not an envelope")
    );
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("shipped-1")
    );
    assert!(
        get_one(&queue, Duration::from_millis(700)).await.is_none(),
        "the original was acked, not retried"
    );
}

#[tokio::test]
async fn an_unfinished_delivery_is_redelivered_to_a_new_consumer() {
    let mut cleanup = Cleanup::default();
    let (queue, _publisher, mut consumer) = setup(&mut cleanup).await;

    let delivery = next(&mut consumer).await;
    drop(delivery);
    drop(consumer);

    let mut again = AmqpConsumer::connect(&amqp_url(), &queue, &DELAYS, 8)
        .await
        .expect("second consumer");
    let redelivered = next(&mut again).await;
    assert!(redelivered.redelivered);
    assert_eq!(redelivered.attempts, 0);
    redelivered.ack().await.expect("ack");
}

#[tokio::test]
async fn redeclaring_with_other_delays_is_rejected() {
    let mut cleanup = Cleanup::default();
    let (queue, publisher, _consumer) = setup(&mut cleanup).await;

    let error = publisher
        .declare_consumed_queue(&queue, &[Duration::from_secs(1), Duration::from_secs(2)])
        .await
        .expect_err("ttl mismatch");

    assert!(
        matches!(error, sales_brokers::BrokerError::Rejected(_)),
        "{error:?}"
    );
    publisher
        .declare_consumed_queue(&queue, &DELAYS)
        .await
        .expect("the same declaration still works on a reopened channel");
}

#[tokio::test]
async fn a_consumer_resubscribes_after_losing_its_connection() {
    let mut cleanup = Cleanup::default();
    let queue = unique("test.orders.delivered");
    cleanup.consumed_queue(&queue, DELAYS.len());
    let mut proxy = common::TcpProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let options = sales_brokers::amqp::AmqpOptions {
        reconnect_backoff_min: Duration::from_millis(100),
        reconnect_backoff_max: Duration::from_millis(400),
        ..Default::default()
    };
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let mut consumer = AmqpConsumer::connect_with(&url, options, &queue, &DELAYS, 8)
        .await
        .expect("consumer through the proxy");

    proxy.cut();
    let error = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("the loss is reported within 5 s")
        .expect_err("connection lost");
    assert!(error.is_retryable(), "{error:?}");
    let error = consumer.next().await.expect_err("still cut");
    assert!(error.is_retryable(), "{error:?}");

    proxy.restore().await;
    let publisher = AmqpPublisher::connect(&amqp_url())
        .await
        .expect("publisher");
    let message = OutgoingMessage {
        body: b"{}".to_vec(),
        message_id: "after-reconnect".into(),
        content_type: "application/json".into(),
        headers: vec![],
    };
    publisher
        .publish("", &queue, &message)
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        match tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            Ok(Ok(delivery)) => break delivery,
            Ok(Err(error)) if Instant::now() < deadline => {
                assert!(error.is_retryable(), "{error:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("no delivery after the reconnect: {other:?}"),
        }
    };
    assert_eq!(delivery.message_id.as_deref(), Some("after-reconnect"));
    delivery
        .retry("transient")
        .await
        .expect("retry over the new connection");
    let again = next(&mut consumer).await;
    assert_eq!(again.attempts, 1);
    again.ack().await.expect("ack");
}
