//! `GET /health`: one check per service the application uses, run at once,
//! each bounded by [`CHECK_TIMEOUT`], so the answer comes within a second
//! even when a service hangs.
//!
//! The checks live in the host, not in a component: two of the four services
//! (RabbitMQ, Kafka) are reachable only by the host, and a health answer must
//! not depend on the guest machinery it is meant to vouch for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sales_brokers::amqp::{AmqpOptions, AmqpPublisher};
use sales_brokers::kafka::KafkaProducer;
use sales_brokers::BrokerError;
use serde::Serialize;

use crate::services::Services;

/// The longest one check may take; the endpoint answers within it plus the
/// time to write the answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// What the application uses, from its variables (`database_url`,
/// `redis_url`, `rabbitmq_url`, `kafka_brokers`); an undeclared one is not
/// checked.
pub struct HealthChecks {
    services: Arc<Services>,
    database_url: Option<String>,
    redis_url: Option<String>,
    rabbitmq: Option<RabbitProbe>,
    kafka: Option<KafkaProducer>,
}

/// A connection kept for health checks alone, opened on first use and
/// re-opened by the link after a loss.
struct RabbitProbe {
    url: String,
    publisher: tokio::sync::Mutex<Option<AmqpPublisher>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub status: &'static str,
    pub checks: std::collections::BTreeMap<&'static str, Check>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Check {
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.status == "ok"
    }
}

impl HealthChecks {
    pub fn new(
        services: Arc<Services>,
        database_url: Option<String>,
        redis_url: Option<String>,
        rabbitmq_url: Option<String>,
        kafka_brokers: Option<String>,
    ) -> Result<Self, BrokerError> {
        let kafka = kafka_brokers
            .map(|brokers| KafkaProducer::new(&brokers))
            .transpose()?;
        Ok(Self {
            services,
            database_url,
            redis_url,
            rabbitmq: rabbitmq_url.map(|url| RabbitProbe {
                url,
                publisher: tokio::sync::Mutex::new(None),
            }),
            kafka,
        })
    }

    /// Runs every check concurrently.
    pub async fn run(&self) -> Report {
        let (database, redis, rabbitmq, kafka) = tokio::join!(
            optional(self.database_url.as_deref(), |url| self.database(url)),
            optional(self.redis_url.as_deref(), |url| self.redis(url)),
            optional(self.rabbitmq.as_ref(), RabbitProbe::check),
            optional(self.kafka.as_ref(), |kafka| async move {
                kafka
                    .check_connection(CHECK_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())
            }),
        );
        let checks: std::collections::BTreeMap<&'static str, Check> = [
            ("database", database),
            ("redis", redis),
            ("rabbitmq", rabbitmq),
            ("kafka", kafka),
        ]
        .into_iter()
        .filter_map(|(name, check)| check.map(|check| (name, check)))
        .collect();
        for (name, check) in &checks {
            if let Some(error) = &check.error {
                tracing::warn!(check = %name, %error, "health check failed");
            }
        }
        let status = if checks.values().all(|c| c.status == "ok") {
            "ok"
        } else {
            "degraded"
        };
        Report { status, checks }
    }

    async fn database(&self, url: &str) -> Result<(), String> {
        let pool = self.services.pg_pool(url).map_err(|e| e.to_string())?;
        let client = pool.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn redis(&self, url: &str) -> Result<(), String> {
        let mut connection = self.services.redis(url).await.map_err(|e| e.to_string())?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("PING answered {pong:?}"))
        }
    }
}

impl RabbitProbe {
    async fn check(&self) -> Result<(), String> {
        let mut publisher = self.publisher.lock().await;
        if publisher.is_none() {
            let options = AmqpOptions {
                connect_timeout: CHECK_TIMEOUT,
                operation_timeout: CHECK_TIMEOUT,
                ..AmqpOptions::default()
            };
            *publisher = Some(
                AmqpPublisher::connect_with(&self.url, options)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let publisher = publisher.as_ref().expect("connected above");
        publisher
            .check_connection()
            .await
            .map_err(|e| e.to_string())
    }
}

/// Runs `check` on `target` if the application has it, timing it and
/// bounding it by [`CHECK_TIMEOUT`].
async fn optional<T, F, Fut>(target: Option<T>, check: F) -> Option<Check>
where
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let target = target?;
    let started = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check(target)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    Some(match outcome {
        Ok(()) => Check {
            status: "ok",
            latency_ms,
            error: None,
        },
        Err(error) => Check {
            status: "error",
            latency_ms,
            error: Some(error),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_that_hangs_is_cut_off_and_named_failed() {
        let started = Instant::now();
        let check = optional(Some(()), |()| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .expect("the target exists");
        assert!(started.elapsed() < CHECK_TIMEOUT + Duration::from_millis(200));
        assert_eq!(check.status, "error");
        assert!(check.error.unwrap().contains("no answer within"));
    }

    #[tokio::test]
    async fn a_service_the_application_does_not_use_is_not_checked() {
        let check = optional(None::<()>, |()| async { Ok(()) }).await;
        assert_eq!(check, None);
    }
}
