//! One request id followed end to end: POST (x-request-id, traceparent) ->
//! orders-api -> the OrderCreated outbox row -> outbox-relay -> RabbitMQ and
//! Kafka headers; then a shipping service's OrderShipped carrying the same
//! id -> order-events (its log line) -> the OrderStatusChanged Kafka record.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers as _};
use rdkafka::Message as _;
use sales_api_tests::{TestApp, AMQP_URL};
use sales_brokers::amqp::{AmqpConsumer, AmqpPublisher, Delivery, OutgoingMessage};
use serde_json::{json, Value};
use uuid::Uuid;

/// A valid W3C traceparent, fresh per test.
fn traceparent() -> String {
    let trace_id = Uuid::new_v4().simple().to_string();
    let parent_id = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace_id}-{parent_id}-01")
}

/// A queue of this test's own bound to `orders.created`, like any
/// subscriber of OrderCreated; deleted by [`BoundQueue::delete`].
struct BoundQueue {
    name: String,
    consumer: AmqpConsumer,
    broker: AmqpPublisher,
}

impl BoundQueue {
    async fn bind() -> Self {
        let name = format!("test.correlation.{}", Uuid::new_v4().simple());
        let consumer = AmqpConsumer::connect(AMQP_URL, &name, &[Duration::from_millis(100)], 16)
            .await
            .unwrap();
        let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
        broker
            .bind_queue(&name, "orders.created", "order.created")
            .await
            .unwrap();
        Self {
            name,
            consumer,
            broker,
        }
    }

    /// The delivery whose `message_id` is `event_id`; other tests' events
    /// go through the same exchange and are acknowledged on the way.
    async fn delivery_of(&mut self, event_id: &str) -> Delivery {
        loop {
            let delivery = tokio::time::timeout(Duration::from_secs(15), self.consumer.next())
                .await
                .expect("OrderCreated on RabbitMQ within 15 s")
                .unwrap();
            if delivery.message_id.as_deref() == Some(event_id) {
                return delivery;
            }
            delivery.ack().await.unwrap();
        }
    }

    async fn delete(self) {
        drop(self.consumer);
        for name in [
            self.name.clone(),
            format!("{}.dlq", self.name),
            format!("{}.retry.1", self.name),
        ] {
            let _ = self.broker.delete_queue(&name).await;
        }
    }
}

/// Reads `order-events` from the start with a group of its own.
fn kafka_consumer() -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9092")
        .set("group.id", format!("test-correlation-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["order-events"]).unwrap();
    consumer
}

/// A Kafka record as the test needs it: its envelope and its headers.
struct Record {
    envelope: Value,
    headers: Vec<(String, String)>,
}

impl Record {
    fn read(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| {
                        let value = header.value.unwrap_or_default();
                        (
                            header.key.to_owned(),
                            String::from_utf8_lossy(value).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            envelope: serde_json::from_slice(message.payload().unwrap_or_default())
                .unwrap_or(Value::Null),
            headers,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The next record keyed by `order_id` whose event type is `event_type`.
async fn kafka_record(consumer: &StreamConsumer, order_id: &str, event_type: &str) -> Record {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("no {event_type} for {order_id} on order-events"))
            .unwrap();
        if message.key() != Some(order_id.as_bytes()) {
            continue;
        }
        let record = Record::read(&message);
        if record.envelope["event_type"] == event_type {
            return record;
        }
    }
}

/// `POST /api/v1/orders` for one unit of a fresh product, with the given
/// correlation headers; returns the new order's id.
async fn post_order(app: &TestApp, request_id: &str, traceparent: &str) -> String {
    let user = Uuid::new_v4().to_string();
    let product = Uuid::new_v4().to_string();
    app.put_product(&product, json!({"available_quantity": 5}))
        .await;
    let response = app
        .post_order_with_headers(
            &user,
            &product,
            &[("x-request-id", request_id), ("traceparent", traceparent)],
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["x-request-id"].to_str().unwrap(),
        request_id
    );
    let body: Value = response.json().await.unwrap();
    body["order_id"].as_str().unwrap().to_owned()
}

fn consumed_queue<'a>(app: &'a TestApp, name: &str) -> &'a str {
    app.queues
        .iter()
        .find(|q| q.starts_with(&format!("{name}.")))
        .unwrap_or_else(|| panic!("no queue {name} in {:?}", app.queues))
}

/// An OrderShipped for `order_id`, as a shipping service that propagates the
/// request's correlation would publish it.
async fn publish_shipped(queue: &str, order_id: &str, request_id: &str, traceparent: &str) {
    let event_id = Uuid::new_v4().to_string();
    let body = json!({
        "event_id": event_id,
        "event_type": "OrderShipped",
        "order_id": order_id,
        "timestamp": "2026-11-24T10:00:00.000Z",
        "data": {"shipped_at": "2026-11-24T11:00:00.000Z"},
    });
    AmqpPublisher::connect(AMQP_URL)
        .await
        .unwrap()
        .publish(
            "",
            queue,
            &OutgoingMessage {
                body: body.to_string().into_bytes(),
                message_id: event_id,
                content_type: "application/json".to_owned(),
                headers: vec![
                    ("x-request-id".to_owned(), request_id.to_owned()),
                    ("traceparent".to_owned(), traceparent.to_owned()),
                ],
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn one_request_id_is_followed_from_the_post_to_the_consumers_log() {
    let app = TestApp::spawn().await;
    let mut created_queue = BoundQueue::bind().await;
    let kafka = kafka_consumer();
    let request_id = format!("corr-{}", Uuid::new_v4());
    let traceparent = traceparent();

    // The order, taken with the caller's request id and trace context.
    let order_id = post_order(&app, &request_id, &traceparent).await;
    let event_id = app.database.query(&format!(
        "SELECT event_id FROM outbox WHERE order_id = '{order_id}' AND event_type = 'OrderCreated'"
    ));

    // OrderCreated on RabbitMQ carries them as AMQP headers...
    let delivery = created_queue.delivery_of(&event_id).await;
    assert_eq!(delivery.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(delivery.header("traceparent"), Some(traceparent.as_str()));
    assert_eq!(delivery.header("event-type"), Some("OrderCreated"));
    delivery.ack().await.unwrap();
    created_queue.delete().await;

    // ... and on Kafka as record headers.
    let created = kafka_record(&kafka, &order_id, "OrderCreated").await;
    assert_eq!(created.envelope["event_id"], event_id);
    assert_eq!(created.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(created.header("traceparent"), Some(traceparent.as_str()));

    // A shipping service propagates the id with its OrderShipped.
    publish_shipped(
        consumed_queue(&app, "orders.shipped"),
        &order_id,
        &request_id,
        &traceparent,
    )
    .await;

    // The consumer's log line is tagged with it...
    let line = app
        .logs
        .wait_for(Duration::from_secs(15), |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|line| {
                line["component"] == "order-events"
                    && line["request_id"] == request_id.as_str()
                    && line["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&order_id))
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no order-events log line with request_id {request_id}: {:#?}",
                app.logs.lines()
            )
        });
    assert!(line.contains("OrderShipped"), "{line}");

    // ... and so is the OrderStatusChanged event it caused.
    let changed = kafka_record(&kafka, &order_id, "OrderStatusChanged").await;
    assert_eq!(changed.envelope["data"]["status"], "Shipped");
    assert_eq!(changed.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(changed.header("traceparent"), Some(traceparent.as_str()));
}

#[tokio::test]
async fn an_invalid_traceparent_is_dropped_and_the_request_id_kept() {
    let app = TestApp::spawn().await;
    let request_id = format!("corr-{}", Uuid::new_v4());

    let order_id = post_order(&app, &request_id, "00-not-a-trace-context").await;

    let headers = app.database.query(&format!(
        "SELECT headers::text FROM outbox WHERE order_id = '{order_id}'"
    ));
    let headers: Value = serde_json::from_str(&headers).unwrap();
    assert_eq!(headers, json!({"x-request-id": request_id}));
}
