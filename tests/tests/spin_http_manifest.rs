//! `scripts/spin-http-manifest.sh`: the HTTP part of the app, as `spin up`
//! would run it, is still a manifest sales-host accepts and serves.

use std::process::Command;

use sales_api_tests::{workspace, TestApp, TestAppOptions};
use uuid::Uuid;

/// Removes the generated manifest however the test ends.
struct Generated(std::path::PathBuf);

impl Drop for Generated {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_http_only_manifest_serves_the_http_routes_and_runs_no_broker_trigger() {
    let output = Command::new(workspace().join("scripts/spin-http-manifest.sh"))
        .output()
        .expect("running scripts/spin-http-manifest.sh");
    assert!(output.status.success(), "{output:?}");
    let manifest = String::from_utf8(output.stdout).unwrap();
    for gone in [
        "[[trigger.amqp]]",
        "[[trigger.outbox]]",
        "[component.order-events]",
        "[component.outbox-relay]",
    ] {
        assert!(!manifest.contains(gone), "{gone} is left in:\n{manifest}");
    }
    // Next to spin.toml, as the script's usage says: sources are relative.
    let path = workspace().join(format!("spin-http-{}.toml", Uuid::new_v4().simple()));
    std::fs::write(&path, &manifest).unwrap();
    let _generated = Generated(path.clone());

    let app = TestApp::spawn_with(TestAppOptions {
        manifest: path,
        ..TestAppOptions::default()
    })
    .await
    .expect("sales-host serves the HTTP-only manifest");

    let product = Uuid::new_v4().to_string();
    let put = app
        .put_product(&product, serde_json::json!({"available_quantity": 3}))
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(app.get_product(&product).await.status(), 200);
    let unauthenticated = app
        .client
        .get(app.url("/api/v1/orders/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(
        !app.logs
            .lines()
            .iter()
            .any(|l| l.contains("\"consuming\"") || l.contains("relaying the outbox")),
        "no broker trigger runs"
    );
}
