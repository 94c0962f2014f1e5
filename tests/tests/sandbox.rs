//! What the host lets a guest do, and what it stops: deadlines, outbound
//! rules, service chaining, variables, logs and Spin's request headers.
//! These run the test-only probe guest (tests/guests/probe).

use std::time::{Duration, Instant};

use sales_api_tests::{TestApp, TestAppOptions};
use serde_json::Value;
use uuid::Uuid;

async fn probe_app() -> TestApp {
    TestApp::spawn_with(
        TestAppOptions::probe()
            .arg("--request-timeout-ms")
            .arg("2000"),
    )
    .await
    .unwrap_or_else(|f| panic!("probe host did not start: {f:#?}"))
}

fn encode(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_runaway_guest_is_stopped_with_a_500_while_other_requests_are_served() {
    let app = probe_app().await;
    let runaway = {
        let client = app.client.clone();
        let url = app.url("/probe/loop");
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client.get(url).send().await.unwrap();
            (response.status(), started.elapsed())
        })
    };
    // While the loop spins, the same host keeps answering.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let other = app.get("/probe/variable/greeting").await;
    assert_eq!(other.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    let (status, took) = runaway.await.unwrap();
    assert_eq!(status, 500);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    // And the host is still up afterwards.
    assert_eq!(app.get("/probe/variable/greeting").await.status(), 200);
}

#[tokio::test]
async fn a_host_not_in_allowed_outbound_hosts_is_refused_and_logged() {
    let app = probe_app().await;
    let response = app
        .get(&format!(
            "/probe/outbound?url={}",
            encode("http://127.0.0.1:9/denied")
        ))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
    app.logs
        .wait_for(Duration::from_secs(5), |l| {
            l.contains("outbound request denied") && l.contains("127.0.0.1:9")
        })
        .expect("the denial is logged");
}

#[tokio::test]
async fn http_self_reaches_the_apps_own_routes_in_process() {
    let app = probe_app().await;
    let id = Uuid::new_v4().to_string();
    app.put_product(&id, serde_json::json!({"available_quantity": 9}))
        .await;

    let url = format!("http://self/product-service/products/{id}");
    let body: Value = app
        .get(&format!("/probe/outbound?url={}", encode(&url)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], 200, "{body}");
    let upstream: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(upstream["available_quantity"], 9);
}

#[tokio::test]
async fn spin_internal_chains_to_the_named_component() {
    let app = probe_app().await;
    let id = Uuid::new_v4().to_string();
    app.put_product(&id, serde_json::json!({"available_quantity": 4}))
        .await;

    let url = format!("http://product-catalog.spin.internal/products/{id}");
    let body: Value = app
        .get(&format!("/probe/outbound?url={}", encode(&url)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], 200, "{body}");
}

#[tokio::test]
async fn a_guest_reads_its_variables_and_nothing_else() {
    let app = probe_app().await;
    let greeting = app.get("/probe/variable/greeting").await;
    assert_eq!(greeting.status(), 200);
    assert_eq!(greeting.text().await.unwrap(), "hello from the manifest");

    // Declared by the application but not given to this component.
    let other = app.get("/probe/variable/redis_url").await;
    assert_eq!(other.status(), 500);
    assert!(other.text().await.unwrap().contains("Undefined"));
}

#[tokio::test]
async fn guest_output_becomes_log_lines_tagged_with_component_and_request() {
    let app = probe_app().await;
    let response = app
        .client
        .get(app.url("/probe/log"))
        .header("x-request-id", "log-probe-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for text in ["probe stdout line", "probe stderr line"] {
        let line = app
            .logs
            .wait_for(Duration::from_secs(5), |l| l.contains(text))
            .unwrap_or_else(|| panic!("no log line with {text:?}"));
        let line: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["component"], "probe");
        assert_eq!(line["request_id"], "log-probe-7");
    }
}

#[tokio::test]
async fn spin_request_headers_are_set_by_the_host_only() {
    let app = probe_app().await;
    let headers: Value = app
        .client
        .get(app.url("/probe/headers?x=1"))
        .header("spin-path-info", "/forged")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(headers["spin-path-info"], "/headers");
    assert_eq!(headers["spin-matched-route"], "/probe/...");
    assert_eq!(headers["spin-component-route"], "/probe");
    assert_eq!(headers["spin-base-path"], "/");
    assert!(headers["spin-full-url"]
        .as_str()
        .unwrap()
        .ends_with("/probe/headers?x=1"));
    assert!(headers["spin-client-addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(headers["x-request-id"].is_string());
}

#[tokio::test]
async fn postgres_statements_run_in_a_transaction_and_values_round_trip() {
    let app = probe_app().await;
    let response = app.get("/probe/pg").await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["committed"], 1, "{body}");
    assert_eq!(body["rolled_back"], 0, "{body}");
    assert_eq!(body["dropped_in_transaction"], 0, "{body}");
    assert_eq!(body["uuid"], body["uuid_sent"], "{body}");
    assert_eq!(body["jsonb"], serde_json::json!({"a": [1, 2]}), "{body}");
    assert_eq!(body["unique_violation_code"], "23505", "{body}");
    assert_eq!(body["refused_statement_failed"], true, "{body}");
    assert_eq!(body["after_refused_statement_code"], "25P02", "{body}");
    assert_eq!(body["aborted"], 0, "{body}");
}
