//! The host's life: graceful shutdown, the compiled-component cache, and
//! `sales-host build`.

use std::time::{Duration, Instant};

use sales_api_tests::{base_env, run_host_command, workspace, TestApp, TestAppOptions};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let mut app = TestApp::spawn_with(TestAppOptions::probe())
        .await
        .unwrap_or_else(|f| panic!("{f:#?}"));
    let in_flight = {
        let request = app.client.get(app.url("/probe/sleep?ms=1500"));
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;

    let started = Instant::now();
    let status = tokio::task::block_in_place(|| app.terminate(Duration::from_secs(10)))
        .expect("the host exits after draining");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "exited before the request finished"
    );

    let (code, body) = in_flight.await.unwrap();
    assert_eq!((code.as_u16(), body.as_str()), (200, "slept"));
    assert!(
        app.client.get(app.url("/probe/log")).send().await.is_err(),
        "no longer accepting"
    );
    app.logs
        .wait_for(Duration::from_secs(2), |l| {
            l.contains("draining in-flight requests")
        })
        .expect("the shutdown is logged");
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_by_content() {
    let app = TestApp::spawn().await;
    let wasm = std::fs::read(workspace().join("target/wasm32-wasip2/release/product_catalog.wasm"))
        .unwrap();
    let digest: String = Sha256::digest(&wasm)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = workspace().join("target/cache/sales-host");
    let cached: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&digest) && name.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "in {cache:?}: {cached:?}");
    drop(app);
}

fn manifest_with_build(dir: &std::path::Path, command: &str) -> std::path::PathBuf {
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"spin_manifest_version = 2
[application]
name = "build-test"
[[trigger.http]]
route = "/..."
component = "only"
[component.only]
source = "only.wasm"
[component.only.build]
command = "{command}"
"#
        ),
    )
    .unwrap();
    manifest
}

#[test]
fn sales_host_build_runs_each_components_build_command_in_the_manifests_directory() {
    let dir = std::env::temp_dir().join(format!("sales-host-build-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = manifest_with_build(&dir, "echo built > marker");
    let output = run_host_command(
        &["build", "--manifest", manifest.to_str().unwrap()],
        &base_env("unused"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap().trim(),
        "built"
    );

    let manifest = manifest_with_build(&dir, "exit 3");
    let output = run_host_command(
        &["build", "--manifest", manifest.to_str().unwrap()],
        &base_env("unused"),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"only\""));
    std::fs::remove_dir_all(&dir).unwrap();
}
