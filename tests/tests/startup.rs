//! Start-up: what the host refuses to start with, and migrations.

use sales_api_tests::{base_env, run_host_command, TestApp, TestAppOptions, TestDatabase};

#[tokio::test]
async fn a_missing_required_variable_stops_start_up_naming_it() {
    let failure = TestApp::spawn_with(TestAppOptions::default().without_env("JWT_SECRET"))
        .await
        .err()
        .expect("the host must not start without jwt_secret");
    assert!(!failure.status.unwrap().success());
    assert!(failure.output.contains("jwt_secret"), "{}", failure.output);
    assert!(failure.output.contains("JWT_SECRET"), "{}", failure.output);
}

#[tokio::test]
async fn an_unknown_manifest_key_stops_start_up_naming_it() {
    let dir = std::env::temp_dir().join(format!("sales-host-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = std::fs::read_to_string(sales_api_tests::workspace().join("spin.toml"))
        .unwrap()
        .replace(
            "[component.product-catalog]\n",
            "[component.product-catalog]\nallowed_outbund_hosts = []\n",
        );
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();

    let options = TestAppOptions {
        manifest: dir.join("spin.toml"),
        ..TestAppOptions::default()
    };
    let failure = TestApp::spawn_with(options)
        .await
        .err()
        .expect("must refuse the manifest");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failure.output.contains("allowed_outbund_hosts"),
        "{}",
        failure.output
    );
}

/// As in Spin 3: a component that no trigger names (a library that
/// `spin build` builds, say) is not loaded, so its source need not even
/// exist, and the rest of the application starts and serves.
#[tokio::test]
async fn a_component_no_trigger_names_is_not_loaded_and_the_rest_serves() {
    let workspace = sales_api_tests::workspace();
    let dir = std::env::temp_dir().join(format!("sales-host-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = std::fs::read_to_string(workspace.join("spin.toml"))
        .unwrap()
        .replace(
            "source = \"target/",
            &format!("source = \"{}/target/", workspace.display()),
        )
        + "\n[component.shared-library]\nsource = \"no/such/library.wasm\"\n";
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();

    let app = TestApp::spawn_with(TestAppOptions {
        manifest: dir.join("spin.toml"),
        args: vec![
            "--migrations".to_owned(),
            workspace.join("migrations").display().to_string(),
        ],
        ..TestAppOptions::default()
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    let app = app.unwrap_or_else(|failure| panic!("must start: {}", failure.output));

    assert!(
        app.logs
            .lines()
            .iter()
            .any(|line| line.contains("shared-library")
                && line.contains("no trigger names this component")),
        "a warning names the component"
    );
    let id = uuid::Uuid::new_v4().to_string();
    let put = app
        .put_product(&id, serde_json::json!({"available_quantity": 3}))
        .await;
    assert_eq!(put.status(), 200);
    let got: serde_json::Value = app.get_product(&id).await.json().await.unwrap();
    assert_eq!(got["available_quantity"], 3);
}

#[tokio::test]
async fn an_unreachable_database_stops_start_up_saying_so() {
    let failure = TestApp::spawn_with(
        TestAppOptions::default().env("DATABASE_URL", "postgres://root@127.0.0.1:1/nowhere"),
    )
    .await
    .err()
    .expect("must not start without its database");
    assert!(
        failure.output.contains("database_url"),
        "{}",
        failure.output
    );
}

#[test]
fn migrations_applied_twice_are_a_no_op() {
    let database = TestDatabase::create();
    let env = base_env(&database.url());
    for run in 1..=2 {
        let output = run_host_command(&["migrate"], &env);
        assert!(
            output.status.success(),
            "migrate run {run} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let files = std::fs::read_dir(sales_api_tests::workspace().join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    let applied: usize = database
        .query("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .parse()
        .unwrap();
    assert_eq!(applied, files);
    assert_eq!(
        database.query("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('orders', 'processed_events')"),
        "2"
    );
}

#[test]
fn two_hosts_migrating_at_once_both_succeed() {
    let database = TestDatabase::create();
    let env = base_env(&database.url());
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || run_host_command(&["migrate"], &env))
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(database.query("SELECT count(*) FROM orders"), "0");
}
