//! `docs/openapi.yaml` is a valid OpenAPI 3.1 document, and what the service
//! really answers conforms to it: one live request for every documented
//! (path, method, status) that can be produced from outside, each checked by
//! `sales_api_tests::openapi::assert_conforms`.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use sales_api_tests::openapi::{
    assert_conforms, check_conforms, document, document_problems, validate_document,
};
use sales_api_tests::{TestApp, TestAppOptions};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One request and its answer, already checked against the document.
struct Exchange {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Exchange {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Asserts the status and, for an error, that every entry has `code`.
    fn expect(&self, status: u16, code: Option<&str>) -> &Self {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{text}");
        if let Some(code) = code {
            let errors = self.json()["errors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(!errors.is_empty(), "{text}");
            assert!(errors.iter().all(|e| e["error_code"] == code), "{text}");
        }
        self
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn exchange(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Exchange {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("the request was sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the body was read").to_vec();
    assert_conforms(method.as_str(), path, status, &headers, &body);
    Exchange {
        status,
        headers,
        body,
    }
}

fn order_body(key: &str, user: &str, product: &str, quantity: u32) -> String {
    json!({
        "idempotency_key": key,
        "user_id": user,
        "product_id": product,
        "quantity": quantity,
    })
    .to_string()
}

/// The idempotency fingerprint the service computes for this request (the
/// domain's canonical form, `sales_domain::new_order::NewOrder::fingerprint`).
fn fingerprint(key: &str, user: &str, product: &str, quantity: u32) -> String {
    let canonical = format!(
        r#"{{"idempotency_key":"{key}","user_id":"{user}","product_id":"{product}","quantity":{quantity}}}"#
    );
    Sha256::digest(canonical)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn redis(args: &[&str]) {
    let output = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1"])
        .args(args)
        .output()
        .expect("running redis-cli");
    assert!(output.status.success(), "redis-cli {args:?}");
}

#[test]
fn the_openapi_document_is_valid() {
    let problems = validate_document();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_document_check_finds_broken_documents() {
    type Breakage = fn(&mut Value);
    let breakages: [(&str, Breakage); 7] = [
        ("an unknown top-level field", |d| d["bogus"] = json!(1)),
        ("a status that is not one", |d| {
            d["paths"]["/health"]["get"]["responses"]["2000"] = json!({"description": "x"})
        }),
        ("a dangling $ref", |d| {
            d["components"]["schemas"]["Order"]["properties"]["status"] =
                json!({"$ref": "#/components/schemas/Nothing"})
        }),
        ("an undeclared path parameter", |d| {
            d["paths"]["/api/v1/orders/{id}"]["parameters"] = json!([])
        }),
        ("a schema that is not JSON Schema", |d| {
            d["components"]["schemas"]["Quantity"]["type"] = json!("integr")
        }),
        ("a repeated operationId", |d| {
            d["paths"]["/metrics"]["get"]["operationId"] = json!("getHealth")
        }),
        ("a 405 naming the wrong methods", |d| {
            d["paths"]["/api/v1/orders"]["x-method-not-allowed"]["allow"] = json!("GET")
        }),
    ];
    for (what, breakage) in breakages {
        let mut broken = document().clone();
        breakage(&mut broken);
        assert!(
            !document_problems(&broken).is_empty(),
            "{what} went unnoticed"
        );
    }
}

#[test]
fn the_check_refuses_what_the_document_does_not_describe() {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("abc"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let order_id = Uuid::new_v4().to_string();
    headers.insert(
        "location",
        HeaderValue::from_str(&format!("/api/v1/orders/{order_id}")).unwrap(),
    );
    let created = json!({
        "order_id": order_id,
        "status": "Pending Shipment",
        "created_at": "2026-11-24T10:00:00.123Z",
    });
    let body = created.to_string().into_bytes();
    check_conforms("POST", "/api/v1/orders", 201, &headers, &body).expect("a valid 201");

    let refused = |method: &str, path: &str, status: u16, headers: &HeaderMap, body: &[u8]| {
        assert!(
            check_conforms(method, path, status, headers, body).is_err(),
            "{method} {path} {status} {}",
            String::from_utf8_lossy(body)
        );
    };
    refused("GET", "/nowhere", 200, &headers, &body);
    refused("POST", "/api/v1/orders", 418, &headers, &body);
    refused("PATCH", "/api/v1/orders", 201, &headers, &body);
    refused("GET", "/metrics/extra", 200, &headers, &body);

    let mut extra = created.clone();
    extra["discount"] = json!(1);
    refused(
        "POST",
        "/api/v1/orders",
        201,
        &headers,
        extra.to_string().as_bytes(),
    );
    let mut bad_time = created.clone();
    bad_time["created_at"] = json!("2026-11-24 10:00:00");
    refused(
        "POST",
        "/api/v1/orders",
        201,
        &headers,
        bad_time.to_string().as_bytes(),
    );
    let mut bad_id = created.clone();
    bad_id["order_id"] = json!("42");
    refused(
        "POST",
        "/api/v1/orders",
        201,
        &headers,
        bad_id.to_string().as_bytes(),
    );

    let mut no_location = headers.clone();
    no_location.remove("location");
    refused("POST", "/api/v1/orders", 201, &no_location, &body);
    let mut no_request_id = headers.clone();
    no_request_id.remove("x-request-id");
    refused("POST", "/api/v1/orders", 201, &no_request_id, &body);

    let unknown_code = json!({"errors":[{
        "error_code": "TEAPOT",
        "error_description": "short and stout",
        "error_severity": "error",
    }]});
    refused(
        "GET",
        "/product-service/products/x",
        400,
        &headers,
        unknown_code.to_string().as_bytes(),
    );
}

#[tokio::test]
async fn every_black_box_response_conforms_to_the_document() {
    let app = TestApp::spawn().await;
    let user = Uuid::new_v4().to_string();
    let token = app.token(&user, "orders:write");
    app.track_redis_pattern(format!("orders-api:idempotency:{user}:*"));
    let product = Uuid::new_v4().to_string();
    let product_path = format!("/product-service/products/{product}");
    app.track_redis_key(format!("product-catalog:stock:{product}"));

    // The product service mock.
    let stock = |n: i64| Some(json!({ "available_quantity": n }).to_string());
    exchange(&app, Method::PUT, &product_path, None, stock(5))
        .await
        .expect(200, None);
    exchange(&app, Method::PUT, &product_path, None, stock(-1))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    let bad_product = "/product-service/products/not-a-uuid";
    exchange(&app, Method::PUT, bad_product, None, stock(1))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    let huge = Some(json!({ "available_quantity": 1, "pad": "x".repeat(17 * 1024) }).to_string());
    exchange(&app, Method::PUT, &product_path, None, huge.clone())
        .await
        .expect(413, Some("PAYLOAD_TOO_LARGE"));
    let read = exchange(&app, Method::GET, &product_path, None, None).await;
    read.expect(200, None);
    assert_eq!(read.json()["available_quantity"], 5);
    let unknown_product = format!("/product-service/products/{}", Uuid::new_v4());
    exchange(&app, Method::GET, &unknown_product, None, None)
        .await
        .expect(404, Some("PRODUCT_NOT_FOUND"));
    exchange(&app, Method::GET, bad_product, None, None)
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    exchange(&app, Method::DELETE, &product_path, None, None)
        .await
        .expect(405, Some("METHOD_NOT_ALLOWED"));
    // A stored value that is not a stock level is the mock's internal error.
    let corrupt = Uuid::new_v4().to_string();
    app.track_redis_key(format!("product-catalog:stock:{corrupt}"));
    redis(&["SET", &format!("product-catalog:stock:{corrupt}"), "abc"]);
    exchange(
        &app,
        Method::GET,
        &format!("/product-service/products/{corrupt}"),
        None,
        None,
    )
    .await
    .expect(500, Some("INTERNAL_ERROR"));

    // Taking orders.
    let orders = "/api/v1/orders";
    let key = Uuid::new_v4().to_string();
    let body = order_body(&key, &user, &product, 1);
    let created = exchange(&app, Method::POST, orders, Some(&token), Some(body.clone())).await;
    created.expect(201, None);
    assert!(created.headers.get("idempotent-replayed").is_none());
    let order_id = created.json()["order_id"].as_str().unwrap().to_owned();
    app.track_redis_key(format!("orders-api:order:{order_id}"));
    assert_eq!(created.header("location"), format!("{orders}/{order_id}"));

    let replay = exchange(&app, Method::POST, orders, Some(&token), Some(body)).await;
    replay.expect(201, None);
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(replay.body, created.body);

    let changed = order_body(&key, &user, &product, 2);
    exchange(&app, Method::POST, orders, Some(&token), Some(changed))
        .await
        .expect(409, Some("DUPLICATE_IDEMPOTENCY_KEY"));
    let nothing_to_sell = order_body(
        &Uuid::new_v4().to_string(),
        &user,
        &Uuid::new_v4().to_string(),
        1,
    );
    exchange(
        &app,
        Method::POST,
        orders,
        Some(&token),
        Some(nothing_to_sell),
    )
    .await
    .expect(409, Some("PRODUCT_UNAVAILABLE"));
    let too_many = order_body(&Uuid::new_v4().to_string(), &user, &product, 6);
    exchange(&app, Method::POST, orders, Some(&token), Some(too_many))
        .await
        .expect(409, Some("PRODUCT_UNAVAILABLE"));

    // A request still in flight: its claim, as the service writes it.
    let busy_key = Uuid::new_v4().to_string();
    let claim = json!({
        "state": "in_flight",
        "fingerprint": fingerprint(&busy_key, &user, &product, 1),
    });
    redis(&[
        "SET",
        &format!("orders-api:idempotency:{user}:{busy_key}"),
        &claim.to_string(),
        "EX",
        "30",
    ]);
    let busy = order_body(&busy_key, &user, &product, 1);
    exchange(&app, Method::POST, orders, Some(&token), Some(busy))
        .await
        .expect(409, Some("IDEMPOTENCY_KEY_IN_USE"));

    let invalid = json!({ "quantity": 0, "user_id": "me", "colour": "red" }).to_string();
    let refused = exchange(&app, Method::POST, orders, Some(&token), Some(invalid)).await;
    refused.expect(400, Some("VALIDATION_ERROR"));
    assert!(refused.json()["errors"].as_array().unwrap().len() > 1);
    exchange(
        &app,
        Method::POST,
        orders,
        Some(&token),
        Some("{".to_owned()),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    exchange(&app, Method::POST, orders, Some(&token), huge)
        .await
        .expect(413, Some("PAYLOAD_TOO_LARGE"));

    let any_order = order_body(&Uuid::new_v4().to_string(), &user, &product, 1);
    let anonymous = exchange(&app, Method::POST, orders, None, Some(any_order.clone())).await;
    anonymous.expect(401, Some("UNAUTHORIZED"));
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
    let forged = format!("{token}x");
    let refused = exchange(&app, Method::POST, orders, Some(&forged), Some(any_order)).await;
    refused.expect(401, Some("UNAUTHORIZED"));
    assert!(refused.header("www-authenticate").contains("invalid_token"));
    let someone_else = app.token(&Uuid::new_v4().to_string(), "orders:write");
    let for_user = order_body(&Uuid::new_v4().to_string(), &user, &product, 1);
    exchange(
        &app,
        Method::POST,
        orders,
        Some(&someone_else),
        Some(for_user),
    )
    .await
    .expect(403, Some("FORBIDDEN"));
    let listing = exchange(&app, Method::GET, orders, Some(&token), None).await;
    listing.expect(405, Some("METHOD_NOT_ALLOWED"));
    assert_eq!(listing.header("allow"), "POST");

    // Reading orders.
    let order_path = format!("{orders}/{order_id}");
    let order = exchange(&app, Method::GET, &order_path, Some(&token), None).await;
    order.expect(200, None);
    assert_eq!(order.json()["order_id"], order_id);
    exchange(
        &app,
        Method::GET,
        &format!("{orders}/12345"),
        Some(&token),
        None,
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let unknown_order = format!("{orders}/{}", Uuid::new_v4());
    exchange(&app, Method::GET, &unknown_order, Some(&token), None)
        .await
        .expect(404, Some("ORDER_NOT_FOUND"));
    exchange(&app, Method::GET, &order_path, Some(&someone_else), None)
        .await
        .expect(404, Some("ORDER_NOT_FOUND"));
    exchange(&app, Method::GET, &order_path, None, None)
        .await
        .expect(401, Some("UNAUTHORIZED"));
    let deleting = exchange(&app, Method::DELETE, &order_path, Some(&token), None).await;
    deleting.expect(405, Some("METHOD_NOT_ALLOWED"));
    assert_eq!(deleting.header("allow"), "GET");

    // The host's own routes.
    let health = exchange(&app, Method::GET, "/health", None, None).await;
    assert!([200, 503].contains(&health.status));
    exchange(&app, Method::GET, "/metrics", None, None)
        .await
        .expect(200, None);
    let served = exchange(&app, Method::GET, "/openapi.json", None, None).await;
    served.expect(200, None);
    assert_eq!(
        &served.json(),
        document(),
        "/openapi.json is docs/openapi.yaml"
    );
}

#[tokio::test]
async fn responses_while_a_dependency_is_down_conform_to_the_document() {
    let app =
        TestApp::spawn_with(TestAppOptions::default().env("REDIS_URL", "redis://127.0.0.1:1"))
            .await
            .unwrap_or_else(|f| panic!("{f:#?}"));
    let user = Uuid::new_v4().to_string();
    let token = app.token(&user, "");
    let product = Uuid::new_v4().to_string();

    // Redis holds the mock's stock: the mock is unavailable, and so, for
    // the Orders API, is the product service.
    exchange(
        &app,
        Method::GET,
        &format!("/product-service/products/{product}"),
        None,
        None,
    )
    .await
    .expect(503, Some("SERVICE_UNAVAILABLE"));
    exchange(
        &app,
        Method::PUT,
        &format!("/product-service/products/{product}"),
        None,
        Some(json!({ "available_quantity": 1 }).to_string()),
    )
    .await
    .expect(503, Some("SERVICE_UNAVAILABLE"));
    let body = order_body(&Uuid::new_v4().to_string(), &user, &product, 1);
    let unavailable = exchange(
        &app,
        Method::POST,
        "/api/v1/orders",
        Some(&token),
        Some(body),
    )
    .await;
    unavailable.expect(503, Some("PRODUCT_SERVICE_UNAVAILABLE"));
    assert_eq!(unavailable.header("retry-after"), "1");
    exchange(&app, Method::GET, "/health", None, None)
        .await
        .expect(503, None);

    app.database.drop_now();
    let order_path = format!("/api/v1/orders/{}", Uuid::new_v4());
    let lost = exchange(&app, Method::GET, &order_path, Some(&token), None).await;
    lost.expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(lost.header("retry-after"), "1");
}

#[tokio::test]
async fn a_request_past_the_deadline_is_a_conforming_500() {
    let app = TestApp::spawn_with(
        TestAppOptions::default()
            .arg("--request-timeout-ms")
            .arg("1"),
    )
    .await
    .unwrap_or_else(|f| panic!("{f:#?}"));
    let user = Uuid::new_v4().to_string();
    let body = order_body(
        &Uuid::new_v4().to_string(),
        &user,
        &Uuid::new_v4().to_string(),
        1,
    );
    exchange(
        &app,
        Method::POST,
        "/api/v1/orders",
        Some(&app.token(&user, "")),
        Some(body),
    )
    .await
    .expect(500, Some("INTERNAL_ERROR"));
}
