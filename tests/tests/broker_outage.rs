//! A RabbitMQ outage while orders are taken: the API keeps answering 201,
//! the events wait in the outbox, and every one is delivered once the broker
//! is back. Its own test binary, with one test: cargo runs test binaries one
//! at a time, so stopping the shared broker disturbs no other test.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use sales_api_tests::{TestApp, AMQP_URL};
use sales_brokers::amqp::{AmqpConsumer, AmqpPublisher};
use serde_json::json;
use uuid::Uuid;

/// Stops the RabbitMQ application, and starts it again when dropped, even
/// if the test fails.
struct BrokerStopped;

fn rabbitmqctl(command: &str) {
    let output = Command::new("rabbitmqctl")
        .arg(command)
        .output()
        .expect("running rabbitmqctl");
    assert!(
        output.status.success(),
        "rabbitmqctl {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn broker_port_open() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().unwrap(),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl BrokerStopped {
    fn stop() -> Self {
        rabbitmqctl("stop_app");
        Self
    }
}

impl Drop for BrokerStopped {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !broker_port_open() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_taken_while_rabbitmq_is_down_are_all_delivered_when_it_returns() {
    let app = TestApp::spawn().await;
    let queue = format!("test.outage.{}", Uuid::new_v4().simple());
    let mut consumer = AmqpConsumer::connect(AMQP_URL, &queue, &[Duration::from_millis(100)], 32)
        .await
        .unwrap();
    AmqpPublisher::connect(AMQP_URL)
        .await
        .unwrap()
        .bind_queue(&queue, "orders.created", "order.created")
        .await
        .unwrap();

    let user = Uuid::new_v4().to_string();
    let product = Uuid::new_v4().to_string();
    app.put_product(&product, json!({"available_quantity": 100}))
        .await;

    let outage = tokio::task::block_in_place(BrokerStopped::stop);
    for _ in 0..5 {
        let response = app.post_order(&user, &product).await;
        assert_eq!(
            response.status(),
            201,
            "the API answers while the broker is down"
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.database
            .query("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        "5",
        "the events wait in the outbox"
    );
    let expected: HashSet<String> = app
        .database
        .query("SELECT event_id FROM outbox")
        .lines()
        .map(str::to_owned)
        .collect();
    tokio::task::block_in_place(|| drop(outage));

    let mut received = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&received) {
        assert!(
            Instant::now() < deadline,
            "delivered {} of {}",
            received.len(),
            expected.len()
        );
        match tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            Ok(Ok(delivery)) => {
                if let Some(id) = delivery.message_id.clone() {
                    received.insert(id);
                }
                delivery.ack().await.unwrap();
            }
            // The consumer's connection died with the broker: resubscribe.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(_) => {}
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .database
        .query("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        != "0"
    {
        assert!(Instant::now() < deadline, "the outbox was never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drop(consumer);
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
    for name in [
        queue.clone(),
        format!("{queue}.dlq"),
        format!("{queue}.retry.1"),
    ] {
        let _ = broker.delete_queue(&name).await;
    }
}
