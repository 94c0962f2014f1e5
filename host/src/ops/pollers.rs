//! Gauges that cost a round trip to read (queue depths, the outbox backlog)
//! are polled every [`POLL_EVERY`] in the background rather than on each
//! scrape, so a scrape never waits on a broker and scrapers cannot add load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sales_brokers::amqp::{dlq_name, retry_queue_name, AmqpPublisher};
use tokio::task::JoinHandle;

use super::metrics::metrics;
use crate::manifest::Manifest;
use crate::services::Services;
use crate::variables::ResolvedVariables;

pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Starts one poller per broker of the consumed queues and one per outbox
/// database. A poller that cannot reach its service logs it and tries again
/// on the next round; the gauges keep their last value meanwhile.
pub fn start(
    manifest: &Manifest,
    variables: &ResolvedVariables,
    services: Arc<Services>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    // One connection per broker, however many of its queues are consumed.
    let mut queues_by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for trigger in &manifest.trigger.amqp {
        let queues = queues_by_address
            .entry(variables.render(&trigger.address)?)
            .or_default();
        queues.push(trigger.queue.clone());
        queues.push(dlq_name(&trigger.queue));
        queues.extend(
            (1..=trigger.retry_delays_ms.len()).map(|n| retry_queue_name(&trigger.queue, n)),
        );
    }
    let mut tasks: Vec<JoinHandle<()>> = queues_by_address
        .into_iter()
        .map(|(address, queues)| tokio::spawn(poll_queues(address, queues)))
        .collect();
    for trigger in &manifest.trigger.outbox {
        let database = variables.render(&trigger.database)?;
        tasks.push(tokio::spawn(poll_outbox(services.clone(), database)));
    }
    Ok(tasks)
}

async fn poll_queues(address: String, queues: Vec<String>) {
    let mut publisher: Option<AmqpPublisher> = None;
    let mut every = tokio::time::interval(POLL_EVERY);
    loop {
        every.tick().await;
        if publisher.is_none() {
            match AmqpPublisher::connect(&address).await {
                Ok(connected) => publisher = Some(connected),
                Err(error) => {
                    tracing::debug!(%error, "queue depth poller: cannot connect");
                    continue;
                }
            }
        }
        let Some(publisher) = &publisher else {
            continue;
        };
        for queue in &queues {
            match publisher.queue_depth(queue).await {
                Ok(depth) => metrics()
                    .queue_depth
                    .with_label_values(&[queue.as_str()])
                    .set(i64::from(depth)),
                Err(error) => tracing::debug!(%queue, %error, "queue depth poller: cannot read"),
            }
        }
    }
}

async fn poll_outbox(services: Arc<Services>, database: String) {
    let mut every = tokio::time::interval(POLL_EVERY);
    loop {
        every.tick().await;
        match outbox_backlog(&services, &database).await {
            Ok((backlog, oldest_age)) => {
                metrics().outbox_backlog.set(backlog);
                metrics().outbox_oldest_age.set(oldest_age);
            }
            Err(error) => tracing::debug!(%error, "outbox poller: cannot read the backlog"),
        }
    }
}

/// Unpublished events and the age in seconds of the oldest (0 when none).
/// The partial index on unpublished rows keeps this cheap.
async fn outbox_backlog(services: &Services, database: &str) -> anyhow::Result<(i64, f64)> {
    let client = services.pg_pool(database)?.get().await?;
    let row = client
        .query_one(
            "SELECT count(*)::bigint, \
                    COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 \
             FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
