//! Black-box test support: [`TestApp`] starts the real `sales-host` binary on
//! port 0 against the real services, with a database of its own, and cleans
//! up after itself when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

pub mod openapi;

pub const POSTGRES: &str = "postgres://root@127.0.0.1:5432";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The workspace root, where `spin.toml` and `target/` are.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// The `sales-host` binary under test: `SALES_HOST_BIN`, else the release
/// build in this workspace (the test script builds it first).
pub fn host_binary() -> PathBuf {
    std::env::var_os("SALES_HOST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/sales-host"))
}

/// How to start a host: which manifest, and what to change in the
/// environment the test gives it.
#[derive(Clone, Debug)]
pub struct TestAppOptions {
    pub manifest: PathBuf,
    pub env: Vec<(String, String)>,
    pub remove_env: Vec<String>,
    pub args: Vec<String>,
    /// Replaces every AMQP trigger's retry delays (tests shorten them).
    pub retry_delays_ms: Option<Vec<u64>>,
    /// Replaces every outbox trigger's safety-net interval.
    pub outbox_interval_ms: Option<u64>,
    /// Leaves the manifest's `[[trigger.outbox]]` out: a host that runs no
    /// relay.
    pub without_outbox_trigger: bool,
}

impl Default for TestAppOptions {
    fn default() -> Self {
        Self {
            manifest: workspace().join("spin.toml"),
            env: Vec::new(),
            remove_env: Vec::new(),
            args: Vec::new(),
            retry_delays_ms: None,
            outbox_interval_ms: None,
            without_outbox_trigger: false,
        }
    }
}

impl TestAppOptions {
    /// The test-only manifest with the probe guest (`tests/guests/spin.toml`).
    pub fn probe() -> Self {
        Self {
            manifest: workspace().join("tests/guests/spin.toml"),
            args: vec![
                "--migrations".to_owned(),
                workspace().join("migrations").display().to_string(),
            ],
            ..Self::default()
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_env(mut self, name: &str) -> Self {
        self.remove_env.push(name.to_owned());
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn retry_delays_ms(mut self, delays: &[u64]) -> Self {
        self.retry_delays_ms = Some(delays.to_vec());
        self
    }

    pub fn outbox_interval_ms(mut self, interval: u64) -> Self {
        self.outbox_interval_ms = Some(interval);
        self
    }

    pub fn without_outbox_trigger(mut self) -> Self {
        self.without_outbox_trigger = true;
        self
    }
}

/// The manifest a test host runs: `options.manifest` with every AMQP queue
/// renamed `<queue>.<suffix>` (parallel test hosts must not consume each
/// other's messages), relative sources made absolute, and retry delays and the
/// outbox interval replaced (or the outbox trigger left out) when asked.
/// Returns its path and the renamed queues.
fn test_manifest(options: &TestAppOptions, suffix: &str) -> (PathBuf, Vec<String>) {
    let text = std::fs::read_to_string(&options.manifest).expect("reading the manifest");
    let dir = options
        .manifest
        .parent()
        .expect("the manifest has a directory");
    let mut queues = Vec::new();
    let mut out = String::new();
    let mut in_outbox_trigger = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if options.without_outbox_trigger {
            // The table runs to the next header or blank line.
            if trimmed.starts_with('[') || trimmed.is_empty() {
                in_outbox_trigger = trimmed == "[[trigger.outbox]]";
            }
            if in_outbox_trigger {
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix("queue = \"") {
            let queue = format!("{}.{suffix}", rest.trim_end_matches('"'));
            out.push_str(&format!("queue = \"{queue}\"\n"));
            if let Some(delays) = &options.retry_delays_ms {
                out.push_str(&format!("retry_delays_ms = {delays:?}\n"));
            }
            queues.push(queue);
        } else if options.retry_delays_ms.is_some() && trimmed.starts_with("retry_delays_ms") {
            continue;
        } else if let Some(interval) = options
            .outbox_interval_ms
            .filter(|_| trimmed.starts_with("interval_ms ="))
        {
            out.push_str(&format!("interval_ms = {interval}\n"));
        } else if let Some(rest) = trimmed
            .strip_prefix("source = \"")
            .filter(|rest| !rest.starts_with('/'))
        {
            out.push_str(&format!("source = \"{}/{rest}\n", dir.display()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = workspace()
        .join("target/test-manifests")
        .join(format!("{suffix}.toml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, out).unwrap();
    (path, queues)
}

/// A database created for one test and dropped with it.
pub struct TestDatabase {
    pub name: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let name = format!("sales_test_{}", Uuid::new_v4().simple());
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }

    /// Drops the database while a host may still be using it (the test of
    /// a lost database).
    pub fn drop_now(&self) {
        psql(
            "postgres",
            &format!("DROP DATABASE {} WITH (FORCE)", self.name),
        );
    }

    /// Runs one SQL statement and returns psql's unaligned output.
    pub fn query(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "root",
                "-d",
                "postgres",
                "-qAt",
                "-c",
            ])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

fn psql(database: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "root",
            "-d",
            database,
            "-qAt",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
        ])
        .arg(sql)
        .output()
        .expect("running psql");
    assert!(
        output.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Every line the host printed, shared with the threads that read them.
#[derive(Clone, Default)]
pub struct Logs(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Logs {
    fn push(&self, line: String) {
        let (lines, changed) = &*self.0;
        lines.lock().unwrap().push(line);
        changed.notify_all();
    }

    pub fn lines(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `predicate`, for at most `timeout`.
    pub fn wait_for(&self, timeout: Duration, predicate: impl Fn(&str) -> bool) -> Option<String> {
        let (lines, changed) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(line) = guard.iter().find(|l| predicate(l)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Log lines parsed as JSON (the host logs one object per line).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// A host process that ended before it was ready, with what it printed.
#[derive(Debug)]
pub struct StartupFailure {
    pub status: Option<ExitStatus>,
    pub output: String,
}

pub struct TestApp {
    pub address: String,
    /// The HS256 secret this host verifies tokens with.
    pub jwt_secret: String,
    pub client: reqwest::Client,
    pub logs: Logs,
    pub database: TestDatabase,
    process: Child,
    redis_keys: Mutex<Vec<String>>,
    redis_patterns: Mutex<Vec<String>>,
    /// The AMQP queues this host consumes (renamed for this test).
    pub queues: Vec<String>,
    manifest: PathBuf,
    /// How the host was started, to start it again the same way.
    host_options: TestAppOptions,
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How long a host may take to start: the first start in a fresh checkout
/// compiles every component.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(TestAppOptions::default())
            .await
            .unwrap_or_else(|failure| panic!("sales-host did not start: {failure:#?}"))
    }

    pub async fn spawn_with(options: TestAppOptions) -> Result<TestApp, StartupFailure> {
        let database = TestDatabase::create();
        let suffix = Uuid::new_v4().simple().to_string();
        let (manifest, queues) = test_manifest(&options, &suffix);
        let mut options_clone = options.clone();
        options_clone.manifest = manifest.clone();
        if !options_clone.args.iter().any(|a| a == "--migrations") {
            options_clone.args.extend([
                "--migrations".to_owned(),
                options
                    .manifest
                    .parent()
                    .unwrap()
                    .join("migrations")
                    .display()
                    .to_string(),
            ]);
        }
        let url = database.url();
        let host_options = options_clone.clone();
        let started = tokio::task::spawn_blocking(move || start_host(options_clone, &url))
            .await
            .expect("start_host panicked");
        if started.is_err() {
            let _ = std::fs::remove_file(&manifest);
            delete_queues(&queues);
        }
        started.map(|(process, address, logs, jwt_secret)| TestApp {
            queues,
            manifest,
            host_options,
            address,
            jwt_secret,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("building the HTTP client"),
            logs,
            database,
            process,
            redis_keys: Mutex::default(),
            redis_patterns: Mutex::default(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET failed")
    }

    /// Deletes `key` from Redis when the test ends.
    pub fn track_redis_key(&self, key: String) {
        self.redis_keys.lock().unwrap().push(key);
    }

    /// Deletes every Redis key matching `pattern` (a `SCAN` glob) when the
    /// test ends.
    pub fn track_redis_pattern(&self, pattern: String) {
        self.redis_patterns.lock().unwrap().push(pattern);
    }

    /// A bearer token for `subject`, valid for five minutes, signed with
    /// this host's secret.
    pub fn token(&self, subject: &str, scope: &str) -> String {
        self.token_with(serde_json::json!({
            "sub": subject,
            "scope": scope,
            "exp": unix_now() + 300,
        }))
    }

    /// A token with exactly these claims, signed with this host's secret.
    pub fn token_with(&self, claims: serde_json::Value) -> String {
        orders_auth::testing::hs256_token(&self.jwt_secret, claims)
    }

    pub async fn put_product(
        &self,
        product_id: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.track_redis_key(format!(
            "product-catalog:stock:{}",
            product_id.to_lowercase()
        ));
        self.client
            .put(self.url(&format!("/product-service/products/{product_id}")))
            .json(&body)
            .send()
            .await
            .expect("PUT failed")
    }

    /// `POST /api/v1/orders` for one unit of `product`, with a fresh
    /// idempotency key, as `user` (whose idempotency records are cleaned up).
    pub async fn post_order(&self, user: &str, product: &str) -> reqwest::Response {
        self.post_order_with_headers(user, product, &[]).await
    }

    /// [`TestApp::post_order`] with extra request headers (`x-request-id`,
    /// `traceparent`, ...).
    pub async fn post_order_with_headers(
        &self,
        user: &str,
        product: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        self.track_redis_pattern(format!("orders-api:idempotency:{user}:*"));
        let mut request = self
            .client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(self.token(user, ""));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .json(&serde_json::json!({
                "idempotency_key": Uuid::new_v4().to_string(),
                "user_id": user,
                "product_id": product,
                "quantity": 1,
            }))
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn get_product(&self, product_id: &str) -> reqwest::Response {
        self.get(&format!("/product-service/products/{product_id}"))
            .await
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Kills the host with SIGKILL (no shutdown of any kind) and starts a
    /// new one on the same database, queues and secret.
    pub async fn kill_and_restart(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let (process, address, logs) = self.start_another_host("the host did not restart").await;
        self.process = process;
        self.address = address;
        self.logs = logs;
    }

    /// Starts a second host on this app's database, manifest and secret:
    /// two hosts sharing one outbox and one set of queues. It is killed
    /// when the returned value is dropped.
    pub async fn spawn_peer(&self) -> PeerHost {
        let (process, address, logs) = self.start_another_host("the peer host did not start").await;
        PeerHost {
            process,
            address,
            logs,
        }
    }

    /// A host on this app's database, options and secret; panics with
    /// `failed` if it does not start.
    async fn start_another_host(&self, failed: &'static str) -> (Child, String, Logs) {
        let mut options = self.host_options.clone();
        options
            .env
            .push(("JWT_SECRET".to_owned(), self.jwt_secret.clone()));
        let url = self.database.url();
        let (process, address, logs, _) =
            tokio::task::spawn_blocking(move || start_host(options, &url))
                .await
                .expect("start_host panicked")
                .unwrap_or_else(|failure| panic!("{failed}: {failure:#?}"));
        (process, address, logs)
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the host to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .expect("running kill");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.process.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Deletes test queues with everything the trigger declared for them.
fn delete_queues(queues: &[String]) {
    if queues.is_empty() {
        return;
    }
    let mut names = Vec::new();
    for queue in queues {
        names.push(queue.clone());
        names.push(format!("{queue}.dlq"));
        names.extend((1..=8).map(|n| format!("{queue}.retry.{n}")));
    }
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(broker) = sales_brokers::amqp::AmqpPublisher::connect(AMQP_URL).await {
                for name in names {
                    let _ = broker.delete_queue(&name).await;
                }
            }
        });
    })
    .join()
    .ok();
}

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A second `sales-host` beside a [`TestApp`], on the same database.
pub struct PeerHost {
    process: Child,
    pub address: String,
    pub logs: Logs,
}

impl Drop for PeerHost {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_file(&self.manifest);
        delete_queues(&self.queues);
        let mut keys = self.redis_keys.lock().unwrap().clone();
        for pattern in self.redis_patterns.lock().unwrap().iter() {
            if let Ok(output) = Command::new("redis-cli")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "6379",
                    "--scan",
                    "--pattern",
                    pattern,
                ])
                .output()
            {
                keys.extend(
                    String::from_utf8_lossy(&output.stdout)
                        .lines()
                        .map(str::to_owned),
                );
            }
        }
        if !keys.is_empty() {
            let _ = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", "6379", "DEL"])
                .args(keys)
                .output();
        }
    }
}

/// The environment every test host gets: the local services, this test's
/// database, a fresh JWT secret.
pub fn base_env(database_url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", REDIS_URL.to_owned()),
        (
            "RABBITMQ_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
        ),
        ("KAFKA_BROKERS", "127.0.0.1:9092".to_owned()),
        ("JWT_SECRET", format!("test-secret-{}", Uuid::new_v4())),
        ("LOG_LEVEL", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs `sales-host <args>` to completion with the test environment.
pub fn run_host_command(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    host_command(env, &[])
        .args(args)
        .output()
        .expect("running sales-host")
}

fn host_command(env: &[(String, String)], remove: &[String]) -> Command {
    let mut command = Command::new(host_binary());
    command
        .current_dir(workspace())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("XDG_CACHE_HOME", workspace().join("target/cache"));
    for (name, value) in env {
        if !remove.contains(name) {
            command.env(name, value);
        }
    }
    command
}

fn start_host(
    options: TestAppOptions,
    database_url: &str,
) -> Result<(Child, String, Logs, String), StartupFailure> {
    let mut env = base_env(database_url);
    env.retain(|(name, _)| !options.env.iter().any(|(n, _)| n == name));
    env.extend(options.env.iter().cloned());
    let jwt_secret = env
        .iter()
        .find(|(name, _)| name == "JWT_SECRET")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let mut process = host_command(&env, &options.remove_env)
        .arg("up")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--manifest")
        .arg(&options.manifest)
        .args(&options.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning sales-host");

    let logs = Logs::default();
    for stream in [
        Box::new(process.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(process.stderr.take().unwrap()),
    ] {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                logs.push(line);
            }
        });
    }

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(line) = logs.wait_for(Duration::from_millis(50), |l| {
            l.contains("\"message\":\"listening\"")
        }) {
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            let address = value["addr"]
                .as_str()
                .expect("listening line has addr")
                .to_owned();
            return Ok((process, address, logs, jwt_secret));
        }
        if let Ok(Some(status)) = process.try_wait() {
            // Let the reader threads catch the last lines.
            std::thread::sleep(Duration::from_millis(100));
            return Err(StartupFailure {
                status: Some(status),
                output: logs.lines().join("\n"),
            });
        }
        if Instant::now() >= deadline {
            let _ = process.kill();
            return Err(StartupFailure {
                status: None,
                output: logs.lines().join("\n"),
            });
        }
    }
}
