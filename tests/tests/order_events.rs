//! Consumed events through the real path: RabbitMQ -> sales-host's AMQP
//! trigger -> order-events component -> PostgreSQL (and the outbox), with the
//! retry and dead-letter policy of CONTRACT.md "Events".

use std::time::{Duration, Instant};

use sales_api_tests::{TestApp, TestAppOptions, AMQP_URL};
use sales_brokers::amqp::{AmqpConsumer, AmqpPublisher, OutgoingMessage};
use serde_json::{json, Value};
use uuid::Uuid;

fn queue<'a>(app: &'a TestApp, name: &str) -> &'a str {
    app.queues
        .iter()
        .find(|q| q.starts_with(&format!("{name}.")))
        .unwrap_or_else(|| panic!("no queue {name} in {:?}", app.queues))
}

/// An order of the app's database, written directly: these tests are about
/// consuming events, not about taking orders.
fn insert_order(app: &TestApp) -> String {
    let id = Uuid::new_v4().to_string();
    app.database.query(&format!(
        "INSERT INTO orders (order_id, user_id, product_id, quantity, status, idempotency_key, created_at, updated_at) \
         VALUES ('{id}', gen_random_uuid(), gen_random_uuid(), 1, 'Pending Shipment', 'k-{id}', \
                 now() - interval '1 hour', now() - interval '1 hour')"
    ));
    id
}

fn envelope(event_type: &str, order_id: &str, data: Value) -> (String, Vec<u8>) {
    let event_id = Uuid::new_v4().to_string();
    let body = json!({
        "event_id": event_id,
        "event_type": event_type,
        "order_id": order_id,
        "timestamp": "2026-11-24T10:00:00.000Z",
        "data": data,
    });
    (event_id, body.to_string().into_bytes())
}

async fn publish(queue: &str, event_id: &str, body: Vec<u8>) {
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
    broker
        .publish(
            "",
            queue,
            &OutgoingMessage {
                body,
                message_id: event_id.to_owned(),
                content_type: "application/json".to_owned(),
                headers: vec![("x-request-id".to_owned(), format!("req-{event_id}"))],
            },
        )
        .await
        .unwrap();
}

async fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `copies` copies of one message, sent back to back on one connection so
/// that the trigger handles them at once.
async fn publish_copies(queue: &str, event_id: &str, body: Vec<u8>, copies: usize) {
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
    let message = OutgoingMessage {
        body,
        message_id: event_id.to_owned(),
        content_type: "application/json".to_owned(),
        headers: vec![("x-request-id".to_owned(), format!("req-{event_id}"))],
    };
    for _ in 0..copies {
        broker.publish("", queue, &message).await.unwrap();
    }
}

/// Waits for `copies` messages of `event_id` to be handled; each must have
/// been acknowledged (none retried or dead-lettered).
async fn assert_all_acknowledged(app: &TestApp, event_id: &str, copies: usize) {
    let handled = || {
        app.logs
            .lines()
            .into_iter()
            .filter(|l| l.contains(&format!("req-{event_id}")) && l.contains("message handled"))
            .collect::<Vec<_>>()
    };
    wait_for("all copies handled", Duration::from_secs(10), || {
        handled().len() == copies
    })
    .await;
    for line in handled() {
        assert!(line.contains("\"acknowledged\""), "{line}");
    }
}

/// How many `processed_events` rows record `event_id`.
fn processed_rows(app: &TestApp, event_id: &str) -> String {
    app.database.query(&format!(
        "SELECT count(*) FROM processed_events WHERE event_id = '{event_id}'"
    ))
}

/// How many `OrderStatusChanged` events the outbox holds for `order_id`.
fn status_changed_rows(app: &TestApp, order_id: &str) -> String {
    app.database.query(&format!(
        "SELECT count(*) FROM outbox WHERE order_id = '{order_id}' AND event_type = 'OrderStatusChanged'"
    ))
}

fn status(app: &TestApp, order_id: &str) -> String {
    app.database.query(&format!(
        "SELECT status FROM orders WHERE order_id = '{order_id}'"
    ))
}

/// The order's status as `GET /api/v1/orders/:id` answers it, which the
/// order cache serves once a read has put the order there (an admin may
/// read any order).
async fn status_read_through_the_api(app: &TestApp, order_id: &str) -> String {
    let admin = app.token(&Uuid::new_v4().to_string(), "orders:admin");
    let response = app
        .client
        .get(app.url(&format!("/api/v1/orders/{order_id}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await.unwrap();
    order["status"].as_str().unwrap().to_owned()
}

/// A pending order, read once through the API so that the order cache
/// holds it (the key is deleted when the test ends).
async fn insert_cached_order(app: &TestApp) -> String {
    let order = insert_order(app);
    app.track_redis_key(format!("orders-api:order:{order}"));
    assert_eq!(
        status_read_through_the_api(app, &order).await,
        "Pending Shipment"
    );
    order
}

/// The next message in `<queue>.dlq`, within a few seconds.
async fn dead_lettered(queue: &str) -> sales_brokers::amqp::Delivery {
    let dlq = format!("{queue}.dlq");
    let mut consumer = AmqpConsumer::connect(AMQP_URL, &dlq, &[Duration::from_millis(100)], 1)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(15), consumer.next())
        .await
        .expect("a dead-lettered message")
        .unwrap();
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
    for name in [format!("{dlq}.dlq"), format!("{dlq}.retry.1")] {
        let _ = broker.delete_queue(&name).await;
    }
    delivery
}

#[tokio::test]
async fn shipped_then_delivered_moves_the_order_and_records_each_change() {
    let app = TestApp::spawn().await;
    let order = insert_order(&app);

    let (shipped_id, body) = envelope(
        "OrderShipped",
        &order,
        json!({"shipped_at": "2026-11-24T11:00:00.000Z"}),
    );
    publish(queue(&app, "orders.shipped"), &shipped_id, body).await;
    wait_for("Shipped", Duration::from_secs(10), || {
        status(&app, &order) == "Shipped"
    })
    .await;

    let (delivered_id, body) = envelope("OrderDelivered", &order, json!({}));
    publish(queue(&app, "orders.delivered"), &delivered_id, body).await;
    wait_for("Delivered", Duration::from_secs(10), || {
        status(&app, &order) == "Delivered"
    })
    .await;

    let shipped_at = app
        .database
        .query(&format!("SELECT to_char(shipped_at, 'YYYY-MM-DD HH24:MI:SS') FROM orders WHERE order_id = '{order}'"));
    assert_eq!(shipped_at, "2026-11-24 11:00:00");
    assert_eq!(
        app.database.query(&format!(
            "SELECT delivered_at IS NOT NULL FROM orders WHERE order_id = '{order}'"
        )),
        "t"
    );
    let events: Vec<Value> = app
        .database
        .query(&format!(
            "SELECT payload::text FROM outbox WHERE order_id = '{order}' AND event_type = 'OrderStatusChanged' ORDER BY id"
        ))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["data"]["previous_status"], "Pending Shipment");
    assert_eq!(events[0]["data"]["status"], "Shipped");
    assert_eq!(events[0]["data"]["caused_by_event_id"], shipped_id);
    assert_eq!(events[1]["data"]["previous_status"], "Shipped");
    assert_eq!(events[1]["data"]["status"], "Delivered");
    assert_eq!(events[1]["data"]["caused_by_event_id"], delivered_id);
    assert_eq!(
        app.database.query(&format!(
            "SELECT count(*) FROM processed_events WHERE order_id = '{order}'"
        )),
        "2"
    );
}

/// An applied event's `OrderStatusChanged` leaves on the wake the AMQP
/// trigger gives the host's relays once the handler returns, not at the
/// relay's next interval run (ten minutes here): it is published within
/// seconds.
#[tokio::test]
async fn an_applied_event_wakes_the_relay_without_waiting_for_its_interval() {
    let app = TestApp::spawn_with(TestAppOptions::default().outbox_interval_ms(600_000))
        .await
        .unwrap();
    let order = insert_order(&app);

    let (shipped_id, body) = envelope("OrderShipped", &order, json!({}));
    publish(queue(&app, "orders.shipped"), &shipped_id, body).await;
    wait_for(
        "OrderStatusChanged published",
        Duration::from_secs(10),
        || {
            app.database.query(&format!(
                "SELECT count(*) FROM outbox WHERE order_id = '{order}' \
                 AND event_type = 'OrderStatusChanged' AND published_at IS NOT NULL"
            )) == "1"
        },
    )
    .await;
}

/// A host that consumes but runs no relay says so at start, and the
/// consumer's `OrderStatusChanged` is committed to the outbox, to wait there
/// for a relay (another host's, or this one's once it runs one).
#[tokio::test]
async fn a_host_without_a_relay_warns_and_leaves_the_consumers_events_in_the_outbox() {
    let app = TestApp::spawn_with(TestAppOptions::default().without_outbox_trigger())
        .await
        .unwrap();
    app.logs
        .wait_for(Duration::from_secs(2), |l| {
            l.contains("runs no [[trigger.outbox]]")
        })
        .expect("the missing relay is logged at start");
    let order = insert_order(&app);

    let (shipped_id, body) = envelope("OrderShipped", &order, json!({}));
    publish(queue(&app, "orders.shipped"), &shipped_id, body).await;
    assert_all_acknowledged(&app, &shipped_id, 1).await;

    assert_eq!(status(&app, &order), "Shipped");
    assert_eq!(
        app.database.query(&format!(
            "SELECT count(*) FROM outbox WHERE order_id = '{order}' \
             AND event_type = 'OrderStatusChanged' AND published_at IS NULL"
        )),
        "1"
    );
}

/// Copies of one event delivered at once race each other (the trigger
/// handles up to `prefetch` messages together): exactly one applies it, and
/// every other copy finds it processed and is acknowledged, none retried.
#[tokio::test]
async fn a_duplicate_event_is_applied_once() {
    const COPIES: usize = 32;
    let app = TestApp::spawn().await;
    let order = insert_order(&app);
    let (event_id, body) = envelope("OrderShipped", &order, json!({}));
    publish_copies(queue(&app, "orders.shipped"), &event_id, body, COPIES).await;
    // Let every copy be consumed before counting.
    assert_all_acknowledged(&app, &event_id, COPIES).await;
    assert_eq!(status(&app, &order), "Shipped");
    assert_eq!(status_changed_rows(&app, &order), "1");
    assert_eq!(processed_rows(&app, &event_id), "1");
}

/// An applied event invalidates the order's cache entry: the next read
/// answers the new status, not the one cached before the event.
#[tokio::test]
async fn an_applied_event_invalidates_the_cached_order() {
    let app = TestApp::spawn().await;
    let order = insert_cached_order(&app).await;

    let (event_id, body) = envelope("OrderShipped", &order, json!({}));
    publish(queue(&app, "orders.shipped"), &event_id, body).await;
    assert_all_acknowledged(&app, &event_id, 1).await;

    assert_eq!(status_read_through_the_api(&app, &order).await, "Shipped");
}

/// A redelivered event whose first handling committed but never reached
/// the cache (the handler stopped in between) is a duplicate, and still
/// invalidates the entry: the read does not stay stale until the TTL.
#[tokio::test]
async fn a_redelivered_event_already_processed_invalidates_the_cached_order() {
    let app = TestApp::spawn().await;
    let order = insert_cached_order(&app).await;
    let (event_id, body) = envelope("OrderShipped", &order, json!({}));
    // The first handling's commit, without its invalidation.
    app.database.query(&format!(
        "WITH changed AS (UPDATE orders SET status = 'Shipped', shipped_at = now(), updated_at = now() \
         WHERE order_id = '{order}' RETURNING order_id) \
         INSERT INTO processed_events (event_id, event_type, order_id) \
         SELECT '{event_id}', 'OrderShipped', order_id FROM changed"
    ));
    assert_eq!(
        status_read_through_the_api(&app, &order).await,
        "Pending Shipment",
        "the cache serves the order as read before the commit"
    );

    publish(queue(&app, "orders.shipped"), &event_id, body).await;
    assert_all_acknowledged(&app, &event_id, 1).await;

    assert_eq!(status_read_through_the_api(&app, &order).await, "Shipped");
    assert_eq!(status_changed_rows(&app, &order), "0", "no event written");
}

/// An OrderShipped for an order shipped already (by an event this service
/// never saw) changes nothing and writes no event, but is recorded once,
/// however many copies arrive at once: the order's `updated_at` has
/// microseconds, which the store's condition must still match.
#[tokio::test]
async fn a_shipment_for_an_order_already_shipped_is_recorded_once_without_a_change() {
    const COPIES: usize = 8;
    let app = TestApp::spawn().await;
    let order = insert_order(&app);
    app.database.query(&format!(
        "UPDATE orders SET status = 'Shipped', shipped_at = clock_timestamp(), \
         updated_at = clock_timestamp() WHERE order_id = '{order}'"
    ));
    let updated_at = || {
        app.database.query(&format!(
            "SELECT updated_at FROM orders WHERE order_id = '{order}'"
        ))
    };
    let before = updated_at();
    let (event_id, body) = envelope("OrderShipped", &order, json!({}));
    publish_copies(queue(&app, "orders.shipped"), &event_id, body, COPIES).await;
    assert_all_acknowledged(&app, &event_id, COPIES).await;
    assert_eq!(processed_rows(&app, &event_id), "1");
    assert_eq!(status_changed_rows(&app, &order), "0");
    assert_eq!(status(&app, &order), "Shipped");
    assert_eq!(updated_at(), before, "the order is untouched");
}

#[tokio::test]
async fn a_poison_message_goes_straight_to_the_dead_letter_queue() {
    let app = TestApp::spawn().await;
    let shipped = queue(&app, "orders.shipped").to_owned();
    publish(&shipped, "poison-1", b"this is not json".to_vec()).await;
    let delivery = dead_lettered(&shipped).await;
    assert_eq!(delivery.body, b"this is not json");
    assert!(delivery
        .header("x-failure-reason")
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(delivery.header("x-attempts"), Some("1"));
}

#[tokio::test]
async fn an_event_for_an_unknown_order_goes_straight_to_the_dead_letter_queue() {
    let app = TestApp::spawn().await;
    let shipped = queue(&app, "orders.shipped").to_owned();
    let (event_id, body) = envelope("OrderShipped", &Uuid::new_v4().to_string(), json!({}));
    publish(&shipped, &event_id, body).await;
    let delivery = dead_lettered(&shipped).await;
    assert_eq!(delivery.message_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(delivery.header("x-attempts"), Some("1"));
}

#[tokio::test]
async fn delivered_before_shipped_is_retried_then_dead_lettered() {
    let app = TestApp::spawn_with(TestAppOptions::default().retry_delays_ms(&[100, 200, 300]))
        .await
        .unwrap_or_else(|f| panic!("{f:#?}"));
    let order = insert_order(&app);
    let delivered = queue(&app, "orders.delivered").to_owned();
    let (event_id, body) = envelope("OrderDelivered", &order, json!({}));
    publish(&delivered, &event_id, body).await;

    let delivery = dead_lettered(&delivered).await;
    assert_eq!(delivery.message_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(
        delivery.header("x-attempts"),
        Some("4"),
        "{:?}",
        delivery.headers
    );
    assert!(delivery.header("x-failure-reason").is_some());
    assert_eq!(status(&app, &order), "Pending Shipment");
    assert_eq!(processed_rows(&app, &event_id), "0");
}

#[tokio::test]
async fn delivered_before_shipped_is_applied_once_the_shipment_arrives() {
    let app = TestApp::spawn_with(TestAppOptions::default().retry_delays_ms(&[300, 600, 1200]))
        .await
        .unwrap_or_else(|f| panic!("{f:#?}"));
    let order = insert_order(&app);
    let (delivered_id, body) = envelope("OrderDelivered", &order, json!({}));
    publish(queue(&app, "orders.delivered"), &delivered_id, body).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (shipped_id, body) = envelope("OrderShipped", &order, json!({}));
    publish(queue(&app, "orders.shipped"), &shipped_id, body).await;

    wait_for("Delivered", Duration::from_secs(10), || {
        status(&app, &order) == "Delivered"
    })
    .await;
}

#[tokio::test]
async fn a_host_killed_mid_consumption_loses_no_message() {
    const EVENTS: usize = 200;
    let mut app = TestApp::spawn().await;
    let shipped = queue(&app, "orders.shipped").to_owned();
    let orders: Vec<String> = (0..EVENTS).map(|_| insert_order(&app)).collect();
    // Publishing goes on while the host is killed and restarted.
    let publishing = tokio::spawn(async move {
        for order in &orders {
            let (event_id, body) = envelope("OrderShipped", order, json!({}));
            publish(&shipped, &event_id, body).await;
        }
    });
    let count_shipped = |app: &TestApp| -> usize {
        app.database
            .query("SELECT count(*) FROM orders WHERE status = 'Shipped'")
            .parse()
            .unwrap()
    };
    wait_for("the first events", Duration::from_secs(10), || {
        count_shipped(&app) > 0
    })
    .await;

    app.kill_and_restart().await;
    let at_restart = count_shipped(&app);
    assert!(
        at_restart < EVENTS,
        "killed after everything was consumed ({at_restart})"
    );

    publishing.await.unwrap();
    wait_for("every order shipped", Duration::from_secs(60), || {
        count_shipped(&app) == EVENTS
    })
    .await;
    assert_eq!(
        app.database.query("SELECT count(*) FROM processed_events"),
        EVENTS.to_string()
    );
    assert_eq!(
        app.database
            .query("SELECT count(*) FROM outbox WHERE event_type = 'OrderStatusChanged'"),
        EVENTS.to_string(),
        "each event applied exactly once"
    );
}
