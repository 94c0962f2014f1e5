//! The host's operational routes through the real path: `GET /health`
//! against the real services (and against a dead and a hanging one), and
//! `GET /metrics` moving with the traffic a test sends.

use std::time::{Duration, Instant};

use sales_api_tests::{TestApp, TestAppOptions, AMQP_URL};
use sales_brokers::amqp::{AmqpPublisher, OutgoingMessage};
use serde_json::Value;
use uuid::Uuid;

async fn health(app: &TestApp) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = app.get("/health").await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"), elapsed)
}

/// The value of the sample `name{labels}` in a Prometheus text page, 0 when
/// the series does not exist yet.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

async fn metrics(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// Polls `/metrics` until `series` reaches `at_least`, or gives up after
/// `timeout` and returns the last page.
async fn wait_for_sample(app: &TestApp, series: &str, at_least: f64, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let page = metrics(app).await;
        if sample(&page, series) >= at_least || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn health_is_ok_when_every_service_answers() {
    let app = TestApp::spawn().await;

    let (status, body, _) = health(&app).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    for check in ["database", "redis", "rabbitmq", "kafka"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}: {body}");
        assert!(body["checks"][check]["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(body["checks"][check].get("error").is_none());
    }
}

#[tokio::test]
async fn health_is_503_naming_a_service_on_a_dead_port() {
    // Nothing listens on port 1; the other three services are the real ones.
    let options = TestAppOptions::default().env("REDIS_URL", "redis://127.0.0.1:1");
    let app = TestApp::spawn_with(options).await.unwrap();

    let (status, body, elapsed) = health(&app).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "error");
    assert!(body["checks"]["redis"]["error"].is_string());
    for check in ["database", "rabbitmq", "kafka"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}: {body}");
    }
    assert!(elapsed < Duration::from_secs(1), "answered in {elapsed:?}");
}

#[tokio::test]
async fn health_answers_within_a_second_when_a_service_hangs() {
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(4).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let options = TestAppOptions::default().env("REDIS_URL", &format!("redis://127.0.0.1:{port}"));
    let app = TestApp::spawn_with(options).await.unwrap();

    let (status, body, elapsed) = health(&app).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "error");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert!(elapsed < Duration::from_secs(1), "answered in {elapsed:?}");
    drop(accepted);
}

#[tokio::test]
async fn health_accepts_only_get() {
    let app = TestApp::spawn().await;

    let response = app.client.post(app.url("/health")).send().await.unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["error_code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn request_counters_move_by_the_number_of_requests() {
    let app = TestApp::spawn().await;
    let unknown = format!("/product-service/products/{}", Uuid::new_v4());
    let requests =
        "http_requests_total{method=\"GET\",route=\"/product-service/...\",status=\"404\"}";
    let errors =
        "http_errors_total{error_code=\"PRODUCT_NOT_FOUND\",route=\"/product-service/...\"}";
    let latencies = "http_request_duration_seconds_count{route=\"/product-service/...\"}";
    let before = metrics(&app).await;

    for _ in 0..7 {
        assert_eq!(app.get(&unknown).await.status(), 404);
    }

    let after = metrics(&app).await;
    assert_eq!(
        sample(&after, requests) - sample(&before, requests),
        7.0,
        "{after}"
    );
    assert_eq!(sample(&after, errors) - sample(&before, errors), 7.0);
    assert_eq!(sample(&after, latencies) - sample(&before, latencies), 7.0);
    assert!(
        after.contains(
            "http_request_duration_seconds_bucket{route=\"/product-service/...\",le=\"0.005\"}"
        ),
        "the latency histogram has buckets"
    );
    assert!(
        sample(
            &after,
            "component_instantiation_seconds_count{component=\"product-catalog\"}"
        ) >= 7.0
    );
}

/// Every guest connection's wait for a pooled Postgres connection is timed,
/// by component: the API's reads under `orders-api`, the relay's runs
/// (every `interval_ms`) under `outbox-relay`.
#[tokio::test]
async fn waits_for_a_postgres_connection_are_timed_per_component() {
    let app = TestApp::spawn().await;
    let api_waits = "db_pool_wait_seconds_count{component=\"orders-api\"}";
    let relay_waits = "db_pool_wait_seconds_count{component=\"outbox-relay\"}";
    let admin = app.token(&Uuid::new_v4().to_string(), "orders:admin");
    let before = metrics(&app).await;

    for _ in 0..3 {
        let unknown = format!("/api/v1/orders/{}", Uuid::new_v4());
        let response = app
            .client
            .get(app.url(&unknown))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "read from the database, not found");
    }

    let after = wait_for_sample(&app, relay_waits, 1.0, Duration::from_secs(10)).await;
    assert_eq!(
        sample(&after, api_waits) - sample(&before, api_waits),
        3.0,
        "{after}"
    );
    assert!(sample(&after, relay_waits) >= 1.0, "{after}");
    assert!(after.contains("db_pool_connections{"), "{after}");
}

#[tokio::test]
async fn the_dead_letter_queue_depth_and_counters_follow_a_poison_message() {
    let app = TestApp::spawn().await;
    let shipped = app
        .queues
        .iter()
        .find(|q| q.starts_with("orders.shipped."))
        .expect("the shipped queue")
        .clone();
    let dlq = format!("{shipped}.dlq");
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();

    for n in 0..2 {
        broker
            .publish(
                "",
                &shipped,
                &OutgoingMessage {
                    body: b"this is not json".to_vec(),
                    message_id: format!("poison-{n}-{}", Uuid::new_v4()),
                    content_type: "application/json".to_owned(),
                    headers: Vec::new(),
                },
            )
            .await
            .unwrap();
    }

    let depth = format!("amqp_queue_depth{{queue=\"{dlq}\"}}");
    let page = wait_for_sample(&app, &depth, 2.0, Duration::from_secs(15)).await;
    assert_eq!(sample(&page, &depth), 2.0, "{page}");
    assert_eq!(
        sample(&page, &format!("amqp_queue_depth{{queue=\"{shipped}\"}}")),
        0.0
    );
    assert_eq!(
        sample(
            &page,
            &format!("amqp_messages_consumed_total{{queue=\"{shipped}\"}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &page,
            &format!("amqp_messages_dead_lettered_total{{queue=\"{shipped}\"}}")
        ),
        2.0
    );
}

#[tokio::test]
async fn the_outbox_backlog_drains_and_publishing_is_counted() {
    let app = TestApp::spawn().await;
    // A subscriber, so that RabbitMQ routes OrderCreated (and the publish is
    // counted as `ok`, whatever other tests bind meanwhile).
    let subscriber = format!("test.operations.{}", Uuid::new_v4().simple());
    let broker = AmqpPublisher::connect(AMQP_URL).await.unwrap();
    broker
        .declare_consumed_queue(&subscriber, &[Duration::from_millis(100)])
        .await
        .unwrap();
    broker
        .bind_queue(&subscriber, "orders.created", "order.created")
        .await
        .unwrap();
    let user = Uuid::new_v4().to_string();
    let product = Uuid::new_v4().to_string();
    app.put_product(&product, serde_json::json!({"available_quantity": 10}))
        .await;

    let response = app.post_order(&user, &product).await;
    assert_eq!(response.status(), 201);

    let published = "outbox_events_published_total{component=\"outbox-relay\"}";
    let page = wait_for_sample(&app, published, 1.0, Duration::from_secs(10)).await;
    assert_eq!(sample(&page, published), 1.0, "{page}");
    assert!(
        sample(
            &page,
            "broker_publish_duration_seconds_count{broker=\"rabbitmq\",outcome=\"ok\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &page,
            "broker_publish_duration_seconds_count{broker=\"kafka\",outcome=\"ok\"}"
        ) >= 1.0
    );
    // The backlog gauge is polled: give it one round after the publish.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let page = metrics(&app).await;
    assert_eq!(sample(&page, "outbox_backlog"), 0.0, "{page}");
    assert_eq!(sample(&page, "outbox_oldest_unpublished_age_seconds"), 0.0);
    for queue in [
        subscriber.clone(),
        format!("{subscriber}.dlq"),
        format!("{subscriber}.retry.1"),
    ] {
        let _ = broker.delete_queue(&queue).await;
    }
}
