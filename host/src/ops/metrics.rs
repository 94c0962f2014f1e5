//! The host's Prometheus metrics: one process-wide registry, written by the
//! code that sees each event (the HTTP front door, the triggers, the broker
//! producer) and read by `GET /metrics`.
//!
//! The names follow Prometheus' conventions (`_total` counters, `_seconds`
//! histograms). Labels stay bounded: routes are the manifest's patterns,
//! never raw paths, and error codes are the service's own.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets, in seconds: from a cached read (well under 1 ms) to the
/// request deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Events one relay run publishes: at most its batch size (200).
const RELAY_BATCH_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 150.0, 200.0];

/// Instantiating a pre-instantiated component takes microseconds.
const INSTANTIATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.0001, 0.000_25, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
];

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_errors: IntCounterVec,
    pub instantiation: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub messages_consumed: IntCounterVec,
    pub messages_retried: IntCounterVec,
    pub messages_dead_lettered: IntCounterVec,
    pub outbox_backlog: IntGauge,
    pub outbox_oldest_age: prometheus::Gauge,
    pub outbox_published: IntCounterVec,
    pub publish_duration: HistogramVec,
    pub relay_run_duration: HistogramVec,
    pub relay_run_events: HistogramVec,
    pub amqp_unroutable: IntCounterVec,
    pub db_pool_connections: IntGaugeVec,
    pub db_pool_wait: HistogramVec,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            registry
                .register(Box::new(metric.clone()))
                .expect("metric names are unique");
            metric
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            let metric = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("valid histogram");
            registry
                .register(Box::new(metric.clone()))
                .expect("metric names are unique");
            metric
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            registry
                .register(Box::new(metric.clone()))
                .expect("metric names are unique");
            metric
        };
        let outbox_backlog = IntGauge::new(
            "outbox_backlog",
            "Events in the outbox not yet published (polled)",
        )
        .expect("valid gauge");
        registry
            .register(Box::new(outbox_backlog.clone()))
            .expect("metric names are unique");
        let outbox_oldest_age = prometheus::Gauge::new(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event, 0 when none: the relay's lag (polled)",
        )
        .expect("valid gauge");
        registry
            .register(Box::new(outbox_oldest_age.clone()))
            .expect("metric names are unique");

        Self {
            http_requests: counter(
                "http_requests_total",
                "HTTP requests answered, by route pattern, method and status",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                "http_request_duration_seconds",
                "Time from a request's arrival to its response, by route pattern",
                &["route"],
                LATENCY_BUCKETS,
            ),
            http_errors: counter(
                "http_errors_total",
                "Error responses, by route pattern and the body's error_code",
                &["route", "error_code"],
            ),
            instantiation: histogram(
                "component_instantiation_seconds",
                "Time to instantiate a component for one request or message",
                &["component"],
                INSTANTIATION_BUCKETS,
            ),
            queue_depth: gauges(
                "amqp_queue_depth",
                "Messages ready in each consumed queue, its retry queues and its DLQ (polled)",
                &["queue"],
            ),
            messages_consumed: counter(
                "amqp_messages_consumed_total",
                "Messages delivered to a component, by consumed queue",
                &["queue"],
            ),
            messages_retried: counter(
                "amqp_messages_retried_total",
                "Messages sent to a retry queue after a transient failure, by consumed queue",
                &["queue"],
            ),
            messages_dead_lettered: counter(
                "amqp_messages_dead_lettered_total",
                "Messages moved to the DLQ (permanent failure or retries used up), by consumed queue",
                &["queue"],
            ),
            outbox_backlog,
            outbox_oldest_age,
            outbox_published: counter(
                "outbox_events_published_total",
                "Outbox events published by the relay, by relay component",
                &["component"],
            ),
            publish_duration: histogram(
                "broker_publish_duration_seconds",
                "Time for a broker to take a message (its confirm or delivery report; in a batch, the whole batch), by broker and outcome",
                &["broker", "outcome"],
                LATENCY_BUCKETS,
            ),
            relay_run_duration: histogram(
                "outbox_relay_run_duration_seconds",
                "Time of one outbox relay run (read, publish to both brokers, mark), by relay component",
                &["component"],
                LATENCY_BUCKETS,
            ),
            relay_run_events: histogram(
                "outbox_relay_run_events",
                "Events one outbox relay run published, by relay component",
                &["component"],
                RELAY_BATCH_BUCKETS,
            ),
            amqp_unroutable: counter(
                "amqp_unroutable_total",
                "Events RabbitMQ took but dropped because no queue is bound for them, by exchange",
                &["exchange"],
            ),
            db_pool_connections: gauges(
                "db_pool_connections",
                "Postgres connections held by the host's pools, by database and state (in_use, idle)",
                &["database", "state"],
            ),
            db_pool_wait: histogram(
                "db_pool_wait_seconds",
                "Time a component waited for a pooled Postgres connection (a new one's connecting included), by component",
                &["component"],
                LATENCY_BUCKETS,
            ),
            registry,
        }
    }

    /// Records one answered HTTP request.
    pub fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        error_code: Option<&str>,
        elapsed: Duration,
    ) {
        let status = status.to_string();
        self.http_requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error_code {
            self.http_errors.with_label_values(&[route, code]).inc();
        }
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The `error_code` of an error response in the service's body
/// (`{"errors":[{"error_code":..}]}`), if it is one.
pub fn error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        error_code: String,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let code = body.errors.into_iter().next()?.error_code;
    // A label value, so keep it to the shape of the service's codes.
    (code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_the_service_error_body() {
        let body = br#"{"errors":[{"error_code":"VALIDATION_ERROR","error_description":"x","error_severity":"error"}]}"#;
        assert_eq!(error_code(body).as_deref(), Some("VALIDATION_ERROR"));
    }

    #[test]
    fn bodies_that_are_not_error_bodies_have_no_code() {
        assert_eq!(error_code(b"not json"), None);
        assert_eq!(error_code(br#"{"errors":[]}"#), None);
        assert_eq!(error_code(br#"{"order_id":"x"}"#), None);
        assert_eq!(
            error_code(br#"{"errors":[{"error_code":"lower case <script>"}]}"#),
            None
        );
    }

    #[test]
    fn requests_move_the_counter_and_the_histogram() {
        let metrics = metrics();
        let before = metrics
            .http_requests
            .with_label_values(&["/unit-test/...", "GET", "404"])
            .get();
        for _ in 0..3 {
            metrics.observe_request(
                "/unit-test/...",
                "GET",
                404,
                Some("NOT_FOUND"),
                Duration::from_millis(2),
            );
        }
        let after = metrics
            .http_requests
            .with_label_values(&["/unit-test/...", "GET", "404"])
            .get();
        assert_eq!(after - before, 3);
        let text = metrics.render();
        assert!(text.contains(
            "http_request_duration_seconds_bucket{route=\"/unit-test/...\",le=\"0.0025\"}"
        ));
        assert!(
            text.contains("http_errors_total{error_code=\"NOT_FOUND\",route=\"/unit-test/...\"}")
        );
    }
}
