//! The Orders API through the real path: HTTP -> sales-host -> orders-api
//! component -> PostgreSQL / Redis / the product mock over outbound HTTP.
//! One test per row of CONTRACT.md's POST and GET tables.

use std::time::Duration;

use reqwest::header::HeaderMap;
use sales_api_tests::{unix_now, TestApp, TestAppOptions};
use serde_json::{json, Value};
use uuid::Uuid;

struct Answer {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.bytes)))
    }

    fn error_codes(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .expect("an error body")
            .iter()
            .map(|e| e["error_code"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

async fn post(app: &TestApp, token: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
    let mut request = app
        .client
        .post(app.url("/api/v1/orders"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

async fn get_order(app: &TestApp, token: &str, id: &str) -> Answer {
    answer(
        app.client
            .get(app.url(&format!("/api/v1/orders/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A user with a token, a product with `stock`, and a fresh order body.
struct Shopper {
    user: String,
    token: String,
    product: String,
}

impl Shopper {
    async fn new(app: &TestApp, stock: u32) -> Self {
        let user = Uuid::new_v4().to_string();
        let product = Uuid::new_v4().to_string();
        app.track_redis_pattern(format!("orders-api:idempotency:{user}:*"));
        let put = app
            .put_product(&product, json!({"available_quantity": stock}))
            .await;
        assert_eq!(put.status(), 200);
        Self {
            token: app.token(&user, "orders:write"),
            user,
            product,
        }
    }

    /// The Redis key of the idempotency record of `order`, one of this
    /// shopper's.
    fn idempotency_record(&self, order: &Value) -> String {
        format!(
            "orders-api:idempotency:{}:{}",
            self.user,
            order["idempotency_key"].as_str().unwrap()
        )
    }

    fn order(&self, quantity: u32) -> Value {
        json!({
            "idempotency_key": Uuid::new_v4().to_string(),
            "user_id": self.user,
            "product_id": self.product,
            "quantity": quantity,
        })
    }
}

async fn create(app: &TestApp, shopper: &Shopper, body: &Value) -> Answer {
    let answer = post(app, Some(&shopper.token), body.to_string()).await;
    if let Some(id) = answer.json().get("order_id").and_then(Value::as_str) {
        app.track_redis_key(format!("orders-api:order:{id}"));
    }
    answer
}

fn redis_cli(args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn an_order_is_created_with_201_its_id_status_time_and_location() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let created = create(&app, &shopper, &shopper.order(2)).await;

    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.bytes)
    );
    let body = created.json();
    let id = body["order_id"].as_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok());
    assert_eq!(body["status"], "Pending Shipment");
    let created_at = body["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "{created_at}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/orders/{id}").as_str()
    );
    assert!(created.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_created_order_reads_back_in_full() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let order = shopper.order(3);
    let created = create(&app, &shopper, &order).await.json();
    let id = created["order_id"].as_str().unwrap();

    let read = get_order(&app, &shopper.token, id).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.json(),
        json!({
            "order_id": id,
            "user_id": shopper.user,
            "product_id": shopper.product,
            "quantity": 3,
            "status": "Pending Shipment",
            "idempotency_key": order["idempotency_key"],
            "created_at": created["created_at"],
            "updated_at": created["created_at"],
            "shipped_at": null,
            "delivered_at": null,
        })
    );
    // The second read is served from the cache, identically.
    let cached = get_order(&app, &shopper.token, id).await;
    assert_eq!(cached.bytes, read.bytes);
    assert_eq!(
        redis_cli(&["EXISTS", &format!("orders-api:order:{id}")]),
        "1"
    );
}

#[tokio::test]
async fn the_order_and_its_order_created_event_are_written_together() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let created = create(&app, &shopper, &shopper.order(1)).await.json();
    let id = created["order_id"].as_str().unwrap();

    let row = app.database.query(&format!(
        "SELECT event_type || '|' || payload::text FROM outbox WHERE order_id = '{id}'"
    ));
    let mut parts = row.splitn(2, '|');
    assert_eq!(parts.next(), Some("OrderCreated"), "{row}");
    let envelope: Value = serde_json::from_str(parts.next().unwrap()).unwrap();
    assert!(Uuid::parse_str(envelope["event_id"].as_str().unwrap()).is_ok());
    assert_eq!(envelope["event_type"], "OrderCreated");
    assert_eq!(envelope["order_id"], id);
    assert!(envelope["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        envelope["data"],
        json!({
            "user_id": shopper.user,
            "product_id": shopper.product,
            "quantity": 1,
            "status": "Pending Shipment",
            "created_at": created["created_at"],
        })
    );
}

#[tokio::test]
async fn malformed_json_is_a_validation_error() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let answer = post(&app, Some(&shopper.token), "{\"quantity\": ").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_codes(), ["VALIDATION_ERROR"]);
}

#[tokio::test]
async fn every_schema_problem_is_reported_as_its_own_entry() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let body = json!({
        "idempotency_key": "",
        "user_id": "not-a-uuid",
        "quantity": 0,
        "colour": "red",
    });
    let answer = post(&app, Some(&shopper.token), body.to_string()).await;
    assert_eq!(answer.status, 400);
    let descriptions: Vec<String> = answer.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_description"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(answer.error_codes().len(), 5, "{descriptions:?}");
    assert!(answer.error_codes().iter().all(|c| c == "VALIDATION_ERROR"));
    for needle in [
        "idempotency_key",
        "user_id",
        "product_id",
        "quantity must be an integer between 1 and 10000",
        "colour",
    ] {
        assert!(
            descriptions.iter().any(|d| d.contains(needle)),
            "{needle} missing from {descriptions:?}"
        );
    }
}

#[tokio::test]
async fn quantity_bounds_and_types_are_enforced() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 20_000).await;
    for quantity in [json!(0), json!(10_001), json!(2.5), json!("2"), json!(-1)] {
        let mut body = shopper.order(1);
        body["quantity"] = quantity.clone();
        let answer = post(&app, Some(&shopper.token), body.to_string()).await;
        assert_eq!(answer.status, 400, "quantity {quantity}");
        assert_eq!(
            answer.error_codes(),
            ["VALIDATION_ERROR"],
            "quantity {quantity}"
        );
    }
    for quantity in [1, 10_000] {
        let answer = create(&app, &shopper, &shopper.order(quantity)).await;
        assert_eq!(answer.status, 201, "quantity {quantity}");
    }
}

#[tokio::test]
async fn idempotency_keys_are_1_to_255_printable_characters() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 50).await;
    for key in ["x".repeat(256), "tab\there".to_owned()] {
        let mut body = shopper.order(1);
        body["idempotency_key"] = json!(key);
        assert_eq!(
            post(&app, Some(&shopper.token), body.to_string())
                .await
                .status,
            400
        );
    }
    let mut body = shopper.order(1);
    body["idempotency_key"] = json!(format!("any printable key {}", "k".repeat(200)));
    assert_eq!(create(&app, &shopper, &body).await.status, 201);
}

#[tokio::test]
async fn a_body_over_16_kib_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let mut body = shopper.order(1);
    body["padding"] = json!("x".repeat(17 * 1024));
    let answer = post(&app, Some(&shopper.token), body.to_string()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.error_codes(), ["PAYLOAD_TOO_LARGE"]);
}

async fn assert_unauthorized(app: &TestApp, token: Option<&str>, shopper: &Shopper, case: &str) {
    let answer = post(app, token, shopper.order(1).to_string()).await;
    assert_eq!(
        answer.status,
        401,
        "{case}: {}",
        String::from_utf8_lossy(&answer.bytes)
    );
    assert_eq!(answer.error_codes(), ["UNAUTHORIZED"], "{case}");
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{case}"
    );
}

#[tokio::test]
async fn no_token_is_401() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    assert_unauthorized(&app, None, &shopper, "no token").await;
    assert_unauthorized(&app, Some("not.a.jwt"), &shopper, "garbage").await;
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let mut parts: Vec<String> = shopper.token.split('.').map(str::to_owned).collect();
    let other = app.token(&Uuid::new_v4().to_string(), "orders:admin");
    parts[1] = other.split('.').nth(1).unwrap().to_owned();
    assert_unauthorized(&app, Some(&parts.join(".")), &shopper, "tampered payload").await;

    let foreign = orders_auth::testing::hs256_token(
        "some-other-secret",
        json!({"sub": shopper.user, "exp": unix_now() + 300}),
    );
    assert_unauthorized(&app, Some(&foreign), &shopper, "wrong secret").await;
}

#[tokio::test]
async fn an_expired_token_or_one_without_exp_is_401() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let expired = app.token_with(json!({"sub": shopper.user, "exp": unix_now() - 120}));
    assert_unauthorized(&app, Some(&expired), &shopper, "expired").await;
    let no_exp = app.token_with(json!({"sub": shopper.user}));
    assert_unauthorized(&app, Some(&no_exp), &shopper, "no exp").await;
    let not_yet = app
        .token_with(json!({"sub": shopper.user, "exp": unix_now() + 600, "nbf": unix_now() + 300}));
    assert_unauthorized(&app, Some(&not_yet), &shopper, "nbf in the future").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_401() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let none = orders_auth::testing::unsigned_token(
        json!({"alg": "none", "typ": "JWT"}),
        json!({"sub": shopper.user, "exp": unix_now() + 300}),
        b"",
    );
    assert_unauthorized(&app, Some(&none), &shopper, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_401() {
    use orders_auth::testing::{jwks, rsa_jwk, RSA_A_PUBLIC_PEM};
    let keys = jwks([rsa_jwk(RSA_A_PUBLIC_PEM, Some("a"))]);
    let app = TestApp::spawn_with(TestAppOptions::default().env("JWT_JWKS", &keys))
        .await
        .unwrap_or_else(|f| panic!("{f:#?}"));
    let shopper = Shopper::new(&app, 5).await;
    let confused = orders_auth::testing::hs256_token_with_key(
        RSA_A_PUBLIC_PEM.as_bytes(),
        Some("a"),
        json!({"sub": shopper.user, "exp": unix_now() + 300}),
    );
    assert_unauthorized(&app, Some(&confused), &shopper, "HS/RS confusion").await;

    // The same host accepts a real RS256 token for that key.
    let order = shopper.order(1);
    let genuine = orders_auth::testing::rs256_token(
        orders_auth::testing::RSA_A_PRIVATE_PEM,
        Some("a"),
        json!({"sub": shopper.user, "exp": unix_now() + 300}),
    );
    let shopper = Shopper {
        token: genuine,
        ..shopper
    };
    assert_eq!(create(&app, &shopper, &order).await.status, 201);
}

#[tokio::test]
async fn acting_for_another_user_is_403_unless_admin() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let someone_else = app.token(&Uuid::new_v4().to_string(), "orders:write");
    let answer = post(&app, Some(&someone_else), shopper.order(1).to_string()).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.error_codes(), ["FORBIDDEN"]);

    let admin = app.token(&Uuid::new_v4().to_string(), "openid orders:admin");
    let answer = post(&app, Some(&admin), shopper.order(1).to_string()).await;
    assert_eq!(answer.status, 201);
    app.track_redis_key(format!(
        "orders-api:order:{}",
        answer.json()["order_id"].as_str().unwrap()
    ));
}

#[tokio::test]
async fn an_unknown_product_is_409_product_unavailable() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let mut body = shopper.order(1);
    body["product_id"] = json!(Uuid::new_v4().to_string());
    let answer = create(&app, &shopper, &body).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.error_codes(), ["PRODUCT_UNAVAILABLE"]);
}

#[tokio::test]
async fn too_little_stock_is_409_product_unavailable() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 2).await;
    let answer = create(&app, &shopper, &shopper.order(3)).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.error_codes(), ["PRODUCT_UNAVAILABLE"]);
    assert_eq!(create(&app, &shopper, &shopper.order(2)).await.status, 201);

    let out_of_stock = Shopper::new(&app, 0).await;
    assert_eq!(
        create(&app, &out_of_stock, &out_of_stock.order(1))
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let order = shopper.order(1);
    let first = create(&app, &shopper, &order).await;
    let again = create(&app, &shopper, &order).await;

    assert_eq!(again.status, 201);
    assert_eq!(again.bytes, first.bytes, "replayed byte for byte");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers["location"], first.headers["location"]);
    let count = app.database.query(&format!(
        "SELECT count(*) FROM orders WHERE user_id = '{}'",
        shopper.user
    ));
    assert_eq!(count, "1");
}

#[tokio::test]
async fn a_replay_survives_the_idempotency_cache_forgetting_the_key() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let order = shopper.order(1);
    let first = create(&app, &shopper, &order).await;
    redis_cli(&["DEL", &shopper.idempotency_record(&order)]);

    let again = create(&app, &shopper, &order).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(again.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_409_duplicate() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let order = shopper.order(1);
    assert_eq!(create(&app, &shopper, &order).await.status, 201);
    let mut changed = order.clone();
    changed["quantity"] = json!(2);
    let answer = create(&app, &shopper, &changed).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.error_codes(), ["DUPLICATE_IDEMPOTENCY_KEY"]);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_user() {
    let app = TestApp::spawn().await;
    let alice = Shopper::new(&app, 5).await;
    let bob = Shopper::new(&app, 5).await;
    let key = Uuid::new_v4().to_string();
    let mut alices = alice.order(1);
    alices["idempotency_key"] = json!(key);
    let mut bobs = bob.order(1);
    bobs["idempotency_key"] = json!(key);

    let a = create(&app, &alice, &alices).await;
    let b = create(&app, &bob, &bobs).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.json()["order_id"], b.json()["order_id"]);
    assert!(b.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_make_exactly_one_order() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let order = shopper.order(1).to_string();
    let requests = (0..20).map(|_| {
        let request = app
            .client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&shopper.token)
            .header("content-type", "application/json")
            .body(order.clone());
        async move { answer(request.send().await.unwrap()).await }
    });
    let answers = futures_join_all(requests).await;

    let mut created = Vec::new();
    for answer in &answers {
        match answer.status {
            201 => created.push(answer.bytes.clone()),
            409 => assert_eq!(answer.error_codes(), ["IDEMPOTENCY_KEY_IN_USE"]),
            other => panic!(
                "unexpected {other}: {}",
                String::from_utf8_lossy(&answer.bytes)
            ),
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.windows(2).all(|w| w[0] == w[1]),
        "every 201 is the same response"
    );
    let count = app.database.query(&format!(
        "SELECT count(*) FROM orders WHERE user_id = '{}'",
        shopper.user
    ));
    assert_eq!(count, "1");
    let events = app.database.query("SELECT count(*) FROM outbox");
    assert_eq!(events, "1");
}

async fn futures_join_all<F: std::future::Future<Output = Answer> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Answer> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn an_unreachable_product_service_is_503() {
    let app = TestApp::spawn_with(
        TestAppOptions::default()
            .env("PRODUCT_SERVICE_URL", "http://127.0.0.1:1/product-service")
            .env("PRODUCT_SERVICE_ORIGIN", "http://127.0.0.1:1"),
    )
    .await
    .unwrap_or_else(|f| panic!("{f:#?}"));
    let shopper = Shopper::new(&app, 5).await;
    let answer = create(&app, &shopper, &shopper.order(1)).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_codes(), ["PRODUCT_SERVICE_UNAVAILABLE"]);
    assert_eq!(app.database.query("SELECT count(*) FROM orders"), "0");
}

#[tokio::test]
async fn unknown_order_ids_are_404_and_bad_ids_400() {
    let app = TestApp::spawn().await;
    let token = app.token(&Uuid::new_v4().to_string(), "");
    let missing = get_order(&app, &token, &Uuid::new_v4().to_string()).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_codes(), ["ORDER_NOT_FOUND"]);
    let bad = get_order(&app, &token, "12345").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_codes(), ["VALIDATION_ERROR"]);
    let anonymous = answer(app.get(&format!("/api/v1/orders/{}", Uuid::new_v4())).await).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn another_users_order_is_404_unless_admin() {
    let app = TestApp::spawn().await;
    let shopper = Shopper::new(&app, 5).await;
    let id = create(&app, &shopper, &shopper.order(1)).await.json()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let stranger = app.token(&Uuid::new_v4().to_string(), "orders:read");
    let hidden = get_order(&app, &stranger, &id).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.error_codes(), ["ORDER_NOT_FOUND"]);

    let admin = app.token(&Uuid::new_v4().to_string(), "orders:admin");
    assert_eq!(get_order(&app, &admin, &id).await.status, 200);
}

#[tokio::test]
async fn reads_survive_a_cache_outage() {
    let app =
        TestApp::spawn_with(TestAppOptions::default().env("REDIS_URL", "redis://127.0.0.1:1"))
            .await
            .unwrap_or_else(|f| panic!("{f:#?}"));
    let user = Uuid::new_v4().to_string();
    let id = Uuid::new_v4().to_string();
    app.database.query(&format!(
        "INSERT INTO orders (order_id, user_id, product_id, quantity, status, idempotency_key) \
         VALUES ('{id}', '{user}', gen_random_uuid(), 2, 'Shipped', 'k-{id}')"
    ));
    let started = std::time::Instant::now();
    let read = get_order(&app, &app.token(&user, ""), &id).await;
    assert_eq!(read.status, 200, "{}", String::from_utf8_lossy(&read.bytes));
    assert_eq!(read.json()["status"], "Shipped");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_lost_database_is_503_service_unavailable() {
    let app = TestApp::spawn().await;
    let token = app.token(&Uuid::new_v4().to_string(), "");
    app.database.drop_now();
    let answer = get_order(&app, &token, &Uuid::new_v4().to_string()).await;
    assert_eq!(
        answer.status,
        503,
        "{}",
        String::from_utf8_lossy(&answer.bytes)
    );
    assert_eq!(answer.error_codes(), ["SERVICE_UNAVAILABLE"]);
    assert!(
        !String::from_utf8_lossy(&answer.bytes).contains("sales_test"),
        "no internal detail"
    );
}

/// A stand-in product service on a local port: it either never answers or
/// always answers 500. (The product service is the seed's one sanctioned mock.)
async fn broken_product_service(answer_500: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            if answer_500 {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                    .await;
            } else {
                held.push(socket);
            }
        }
    });
    port
}

async fn app_with_product_service(port: u16) -> TestApp {
    app_with_product_service_timeout(port, 300).await
}

async fn app_with_product_service_timeout(port: u16, timeout_ms: u32) -> TestApp {
    TestApp::spawn_with(
        TestAppOptions::default()
            .env(
                "PRODUCT_SERVICE_URL",
                &format!("http://127.0.0.1:{port}/product-service"),
            )
            .env(
                "PRODUCT_SERVICE_ORIGIN",
                &format!("http://127.0.0.1:{port}"),
            )
            .env("PRODUCT_SERVICE_TIMEOUT_MS", &timeout_ms.to_string()),
    )
    .await
    .unwrap_or_else(|f| panic!("{f:#?}"))
}

#[tokio::test]
async fn a_product_service_that_does_not_answer_is_503_after_the_timeout() {
    let app = app_with_product_service(broken_product_service(false).await).await;
    let shopper = Shopper::new(&app, 5).await;
    let started = std::time::Instant::now();
    let answer = create(&app, &shopper, &shopper.order(1)).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_codes(), ["PRODUCT_SERVICE_UNAVAILABLE"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

#[tokio::test]
async fn a_product_service_answering_5xx_is_503() {
    let app = app_with_product_service(broken_product_service(true).await).await;
    let shopper = Shopper::new(&app, 5).await;
    let answer = create(&app, &shopper, &shopper.order(1)).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_codes(), ["PRODUCT_SERVICE_UNAVAILABLE"]);
    assert_eq!(app.database.query("SELECT count(*) FROM orders"), "0");
}

/// A request that outlives its claim (say it expired while the product
/// service hung) must not drop the claim another request took since: its
/// failure releases the key only while the key still holds its own claim.
#[tokio::test]
async fn a_failed_request_releases_its_own_idempotency_claim_and_no_other() {
    let app = app_with_product_service_timeout(broken_product_service(false).await, 1500).await;
    let shopper = Shopper::new(&app, 5).await;

    // Unchallenged, a failed request takes its claim away, so the client
    // can retry at once.
    let order = shopper.order(1);
    let failed = create(&app, &shopper, &order).await;
    assert_eq!(failed.status, 503);
    let key = shopper.idempotency_record(&order);
    assert_eq!(redis_cli(&["EXISTS", &key]), "0", "its own claim released");

    // Challenged: while the request waits on the product service, its claim
    // is replaced by another request's.
    let order = shopper.order(1);
    let key = shopper.idempotency_record(&order);
    let theirs = r#"{"state":"in_flight","fingerprint":"another","claim":"another-request"}"#;
    let take_over = async {
        let deadline = std::time::Instant::now() + Duration::from_millis(1200);
        while redis_cli(&["EXISTS", &key]) != "1" {
            assert!(
                std::time::Instant::now() < deadline,
                "the request never claimed its key"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(redis_cli(&["SET", &key, theirs, "EX", "30"]), "OK");
    };
    let (failed, ()) = tokio::join!(create(&app, &shopper, &order), take_over);

    assert_eq!(failed.status, 503);
    assert_eq!(
        redis_cli(&["GET", &key]),
        theirs,
        "the other request's claim is left alone"
    );
}
