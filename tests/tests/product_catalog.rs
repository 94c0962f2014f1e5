//! The product-service mock, through the real path: HTTP -> sales-host ->
//! product-catalog component -> Redis.

use sales_api_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

fn error_code(body: &Value) -> &str {
    body["errors"][0]["error_code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn stock_that_was_put_can_be_read_back() {
    let app = TestApp::spawn().await;
    let id = Uuid::new_v4().to_string();

    let put = app.put_product(&id, json!({"available_quantity": 5})).await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        put.json::<Value>().await.unwrap(),
        json!({"product_id": id, "available_quantity": 5})
    );

    let get = app.get_product(&id).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "application/json");
    assert_eq!(
        get.json::<Value>().await.unwrap(),
        json!({"product_id": id, "available_quantity": 5})
    );
}

#[tokio::test]
async fn a_later_put_replaces_the_stock_and_zero_means_out_of_stock() {
    let app = TestApp::spawn().await;
    let id = Uuid::new_v4().to_string();
    app.put_product(&id, json!({"available_quantity": 7})).await;
    app.put_product(&id, json!({"available_quantity": 0})).await;

    let body: Value = app.get_product(&id).await.json().await.unwrap();
    assert_eq!(body["available_quantity"], 0);
}

#[tokio::test]
async fn a_product_never_set_is_not_found() {
    let app = TestApp::spawn().await;
    let response = app.get_product(&Uuid::new_v4().to_string()).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "PRODUCT_NOT_FOUND");
    assert_eq!(body["errors"][0]["error_severity"], "error");
}

#[tokio::test]
async fn product_ids_are_case_insensitive_uuids() {
    let app = TestApp::spawn().await;
    let id = Uuid::new_v4().to_string();
    app.put_product(&id.to_uppercase(), json!({"available_quantity": 3}))
        .await;

    let body: Value = app.get_product(&id).await.json().await.unwrap();
    assert_eq!(body, json!({"product_id": id, "available_quantity": 3}));
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_a_validation_error() {
    let app = TestApp::spawn().await;
    for response in [
        app.get_product("not-a-uuid").await,
        app.put_product("not-a-uuid", json!({"available_quantity": 1}))
            .await,
    ] {
        assert_eq!(response.status(), 400);
        assert_eq!(
            error_code(&response.json().await.unwrap()),
            "VALIDATION_ERROR"
        );
    }
}

#[tokio::test]
async fn invalid_stock_bodies_are_validation_errors() {
    let app = TestApp::spawn().await;
    let id = Uuid::new_v4().to_string();
    for body in [
        json!({"available_quantity": -1}),
        json!({"available_quantity": 1.5}),
        json!({"available_quantity": "5"}),
        json!({}),
        json!({"available_quantity": 1, "colour": "red"}),
    ] {
        let response = app.put_product(&id, body.clone()).await;
        assert_eq!(response.status(), 400, "body {body}");
        assert_eq!(
            error_code(&response.json().await.unwrap()),
            "VALIDATION_ERROR",
            "body {body}"
        );
    }
    let malformed = app
        .client
        .put(app.url(&format!("/product-service/products/{id}")))
        .header("content-type", "application/json")
        .body("{\"available_quantity\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    // Nothing was stored by the rejected requests.
    assert_eq!(app.get_product(&id).await.status(), 404);
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url(&format!("/product-service/products/{}", Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "METHOD_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn an_unknown_route_is_not_found_in_the_error_format() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(&response.json().await.unwrap()), "NOT_FOUND");
}

#[tokio::test]
async fn responses_carry_the_callers_request_id_or_a_new_one() {
    let app = TestApp::spawn().await;
    let url = app.url(&format!("/product-service/products/{}", Uuid::new_v4()));

    let given = app
        .client
        .get(&url)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");

    let made = app.client.get(&url).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok(), "{id} is not a UUID");

    let unusable = app
        .client
        .get(&url)
        .header("x-request-id", "x".repeat(129))
        .send()
        .await
        .unwrap();
    assert_ne!(unusable.headers()["x-request-id"], "x".repeat(129).as_str());

    let line = app
        .logs
        .wait_for(std::time::Duration::from_secs(5), |l| {
            l.contains("trace-me-42") && l.contains("request completed")
        })
        .expect("a log line for the request with its id");
    assert!(line.contains("\"status\":404"), "{line}");
}

#[tokio::test]
async fn a_redis_outage_is_a_prompt_503_without_detail() {
    let app = TestApp::spawn_with(
        sales_api_tests::TestAppOptions::default().env("REDIS_URL", "redis://127.0.0.1:1"),
    )
    .await
    .unwrap_or_else(|f| panic!("{f:#?}"));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let response = app.get_product(&Uuid::new_v4().to_string()).await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE");
        assert!(!body.to_string().contains("127.0.0.1"), "{body}");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "took {:?}",
            started.elapsed()
        );
    }
}
