//! AmqpPublisher against the real RabbitMQ.

mod common;

use std::time::{Duration, Instant};

use common::{amqp_url, get_one, unique, Cleanup, TcpProxy};
use lapin::types::AMQPValue;
use sales_brokers::amqp::{AmqpConsumer, AmqpOptions, AmqpPublisher, OutgoingMessage};
use sales_brokers::BrokerError;

fn message(id: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: format!(r#"{{"event_id":"{id}","event_type":"OrderCreated"}}"#).into_bytes(),
        message_id: id.to_string(),
        content_type: "application/json".to_string(),
        headers: vec![
            ("event_type".to_string(), "OrderCreated".to_string()),
            ("trace".to_string(), "abc".to_string()),
        ],
    }
}

/// A durable topic exchange with one queue bound to `order.*`.
async fn exchange_with_queue(publisher: &AmqpPublisher, cleanup: &mut Cleanup) -> (String, String) {
    let exchange = unique("test.orders.created");
    let queue = unique("test.orders.created.q");
    cleanup.exchanges.push(exchange.clone());
    cleanup.consumed_queue(&queue, 0);
    publisher
        .declare_topic_exchange(&exchange)
        .await
        .expect("declare exchange");
    publisher
        .declare_consumed_queue(&queue, &[])
        .await
        .expect("declare queue");
    publisher
        .bind_queue(&queue, &exchange, "order.*")
        .await
        .expect("bind");
    (exchange, queue)
}

#[tokio::test]
async fn a_published_message_arrives_with_all_its_properties() {
    let mut cleanup = Cleanup::default();
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, queue) = exchange_with_queue(&publisher, &mut cleanup).await;
    let sent = message(&unique("event"));

    publisher
        .publish(&exchange, "order.created", &sent)
        .await
        .expect("publish confirmed");

    let mut consumer = AmqpConsumer::connect(&amqp_url(), &queue, &[], 4)
        .await
        .expect("consumer");
    let got = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("a delivery within 5 s")
        .expect("delivery");
    assert_eq!(got.body, sent.body);
    assert_eq!(got.message_id.as_deref(), Some(sent.message_id.as_str()));
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert!(got.persistent, "delivery mode 2");
    assert_eq!(got.header("event_type"), Some("OrderCreated"));
    assert_eq!(got.header("trace"), Some("abc"));
    assert_eq!(got.attempts, 0);
    assert_eq!(got.exchange, exchange);
    assert_eq!(got.routing_key, "order.created");
    got.ack().await.expect("ack");
    assert!(
        get_one(&queue, Duration::from_millis(300)).await.is_none(),
        "acked message is gone"
    );
}

#[tokio::test]
async fn publishing_to_a_missing_exchange_is_rejected_and_the_next_publish_still_works() {
    let mut cleanup = Cleanup::default();
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, queue) = exchange_with_queue(&publisher, &mut cleanup).await;

    let error = publisher
        .publish(&unique("test.missing"), "order.created", &message("lost"))
        .await
        .expect_err("missing exchange");
    assert!(matches!(error, BrokerError::Rejected(_)), "{error:?}");

    publisher
        .publish(&exchange, "order.created", &message("after-error"))
        .await
        .expect("publish on a reopened channel");
    let got = get_one(&queue, Duration::from_secs(5))
        .await
        .expect("message after the channel error");
    assert_eq!(
        got.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("after-error")
    );
}

#[tokio::test]
async fn an_unroutable_message_is_reported_as_unroutable() {
    let mut cleanup = Cleanup::default();
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, _queue) = exchange_with_queue(&publisher, &mut cleanup).await;

    let error = publisher
        .publish(&exchange, "nobody.listens", &message("unroutable"))
        .await
        .expect_err("returned");

    assert!(matches!(error, BrokerError::Unroutable(_)), "{error:?}");
}

#[tokio::test]
async fn headers_are_stored_as_strings_on_the_wire() {
    let mut cleanup = Cleanup::default();
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, queue) = exchange_with_queue(&publisher, &mut cleanup).await;

    publisher
        .publish(&exchange, "order.created", &message("wire"))
        .await
        .expect("publish");

    let got = get_one(&queue, Duration::from_secs(5))
        .await
        .expect("message");
    let props = &got.delivery.properties;
    assert_eq!(*props.delivery_mode(), Some(2));
    let headers = props.headers().as_ref().expect("headers");
    assert!(matches!(
        headers.inner().get("event_type"),
        Some(AMQPValue::LongString(value)) if value.as_bytes() == b"OrderCreated"
    ));
}

#[tokio::test]
async fn a_malformed_url_is_a_configuration_error() {
    let error = AmqpPublisher::connect("not a url")
        .await
        .expect_err("bad url");
    assert!(matches!(error, BrokerError::Config(_)), "{error:?}");
}

#[tokio::test]
async fn publishing_fails_promptly_while_the_broker_is_unreachable_and_works_again_after() {
    let mut cleanup = Cleanup::default();
    let direct = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, queue) = exchange_with_queue(&direct, &mut cleanup).await;
    let mut proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let options = AmqpOptions {
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(2),
        reconnect_backoff_min: Duration::from_millis(100),
        reconnect_backoff_max: Duration::from_millis(400),
    };
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let publisher = AmqpPublisher::connect_with(&url, options)
        .await
        .expect("connect through the proxy");
    publisher
        .publish(&exchange, "order.created", &message("before"))
        .await
        .expect("publish before the cut");

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let error = publisher
            .publish(&exchange, "order.created", &message("during"))
            .await
            .expect_err("broker unreachable");
        assert!(matches!(error, BrokerError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "failed after {:?}",
            started.elapsed()
        );
    }

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match publisher
            .publish(&exchange, "order.created", &message("after"))
            .await
        {
            Ok(()) => break,
            Err(error) if Instant::now() < deadline => {
                assert!(error.is_retryable(), "{error:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("no reconnect within 10 s: {error:?}"),
        }
    }

    let mut ids = Vec::new();
    while let Some(got) = get_one(&queue, Duration::from_millis(500)).await {
        ids.push(
            got.delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string()),
        );
    }
    assert_eq!(ids.first(), Some(&Some("before".to_string())));
    assert_eq!(ids.last(), Some(&Some("after".to_string())));
}

#[tokio::test]
async fn a_batch_is_published_in_order_with_one_result_per_message() {
    let mut cleanup = Cleanup::default();
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let (exchange, queue) = exchange_with_queue(&publisher, &mut cleanup).await;
    let ids: Vec<String> = (0..3).map(|n| unique(&format!("batch-{n}"))).collect();
    let batch = vec![
        ("order.created".to_owned(), message(&ids[0])),
        ("nobody.listens".to_owned(), message(&ids[1])),
        ("order.created".to_owned(), message(&ids[2])),
    ];

    let results = publisher.publish_batch(&exchange, &batch).await;

    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(()));
    assert!(
        matches!(results[1], Err(BrokerError::Unroutable(_))),
        "{results:?}"
    );
    assert_eq!(results[2], Ok(()));
    for expected in [&ids[0], &ids[2]] {
        let got = get_one(&queue, Duration::from_secs(5))
            .await
            .expect("a routed message of the batch");
        assert_eq!(
            got.delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string()),
            Some(expected.clone())
        );
    }
}

#[tokio::test]
async fn a_batch_to_a_missing_exchange_fails_every_message() {
    let publisher = AmqpPublisher::connect(&amqp_url()).await.expect("connect");
    let batch = vec![
        ("order.created".to_owned(), message(&unique("a"))),
        ("order.created".to_owned(), message(&unique("b"))),
    ];

    let results = publisher
        .publish_batch(&unique("test.missing"), &batch)
        .await;

    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(BrokerError::Rejected(_)))),
        "{results:?}"
    );
}
