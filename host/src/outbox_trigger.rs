//! The outbox trigger: runs the relay component whenever the outbox has
//! news (the Postgres `NOTIFY` that writers send once their insert has
//! committed, migration 0005, through a `LISTEN`ing connection) and every
//! `interval_ms` as a safety net, so nothing waits for long if a
//! notification is lost. Up to `concurrency` runs at a time per
//! host (each takes rows no other run holds, and never an event whose order
//! has an earlier one unpublished); a run that published something is
//! followed by another until the outbox is drained.
//!
//! The relays of this process are also woken in-process, through
//! [`RelayWake`], by the AMQP trigger once a handler's effect has
//! committed: the consumer's events need no `NOTIFY` round trip, which
//! held one of the pool's few connections for a third of each applied
//! event (`bench/results/consumer-local-wake-ab-2026-12-07.txt`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::app::{App, Entry};
use crate::manifest::{Manifest, OutboxTrigger, OUTBOX_CHANNEL};
use crate::ops::metrics::metrics;
use crate::variables::ResolvedVariables;

/// Pause before re-opening a lost `LISTEN` connection.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// The relays a host runs: their tasks, and the handle that wakes them.
pub struct Relays {
    pub tasks: Vec<JoinHandle<()>>,
    pub wake: RelayWake,
}

/// Wakes every relay this process runs (none, if its manifest has no
/// `[[trigger.outbox]]`). A wake while a relay is busy is kept for its next
/// wait, so however many arrive meanwhile, it runs once more.
#[derive(Clone)]
pub struct RelayWake {
    relays: Arc<Vec<Arc<Notify>>>,
}

impl RelayWake {
    pub fn wake(&self) {
        for relay in self.relays.iter() {
            relay.notify_one();
        }
    }

    pub fn wakes_nothing(&self) -> bool {
        self.relays.is_empty()
    }
}

pub async fn start(
    app: Arc<App>,
    manifest: &Manifest,
    variables: &ResolvedVariables,
) -> anyhow::Result<Relays> {
    let mut tasks = Vec::new();
    let mut wakes = Vec::new();
    for trigger in &manifest.trigger.outbox {
        let Some(Entry::Relay { brokers, .. }) = app.entry(&trigger.component) else {
            anyhow::bail!(
                "outbox trigger: component {:?} is not loaded as a relay",
                trigger.component
            );
        };
        let topics: Vec<(String, i32)> = trigger
            .kafka_topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        brokers
            .declare(&trigger.amqp_exchanges, &topics)
            .await
            .with_context(|| {
                format!(
                    "outbox trigger {:?}: declaring exchanges {:?} and topics {:?} (rabbitmq_url, kafka_brokers)",
                    trigger.component, trigger.amqp_exchanges, topics
                )
            })?;
        let database = variables
            .render(&trigger.database)
            .context("outbox trigger: database")?;
        let wake = Arc::new(Notify::new());
        wakes.push(wake.clone());
        tasks.push(tokio::spawn(listen(database, wake.clone())));
        // Each waiting relay loop takes one wake-up: while some are busy
        // publishing, a new notification starts the next.
        for _ in 0..trigger.concurrency {
            tasks.push(tokio::spawn(relay(
                app.clone(),
                trigger.clone(),
                wake.clone(),
            )));
        }
        tracing::info!(
            component = %trigger.component,
            channel = OUTBOX_CHANNEL,
            concurrency = trigger.concurrency,
            "relaying the outbox"
        );
    }
    Ok(Relays {
        tasks,
        wake: RelayWake {
            relays: Arc::new(wakes),
        },
    })
}

/// Keeps a `LISTEN` connection on [`OUTBOX_CHANNEL`] open and turns each
/// notification into a wake-up.
async fn listen(database: String, wake: Arc<Notify>) {
    loop {
        match tokio_postgres::connect(&database, tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let wake_on_notice = wake.clone();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                wake_on_notice.notify_one()
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "outbox LISTEN connection failed");
                                break;
                            }
                        }
                    }
                });
                let listening = client
                    .batch_execute(&format!("LISTEN \"{OUTBOX_CHANNEL}\""))
                    .await;
                if let Err(error) = listening {
                    tracing::warn!(%error, "could not LISTEN for outbox notifications");
                } else {
                    // Whatever was committed before LISTEN took effect.
                    wake.notify_one();
                    let _ = driver.await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot connect to LISTEN for outbox notifications")
            }
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}

async fn relay(app: Arc<App>, trigger: OutboxTrigger, wake: Arc<Notify>) {
    let interval = Duration::from_millis(trigger.interval_ms);
    loop {
        let _ = tokio::time::timeout(interval, wake.notified()).await;
        loop {
            let started = std::time::Instant::now();
            let outcome = app.run_relay(&trigger.component).await;
            observe_run(&trigger.component, started, &outcome);
            match outcome {
                Ok(Ok(0)) => break,
                Ok(Ok(published)) => {
                    metrics()
                        .outbox_published
                        .with_label_values(&[trigger.component.as_str()])
                        .inc_by(u64::from(published));
                    tracing::debug!(published, "outbox relayed");
                }
                Ok(Err(reason)) => {
                    tracing::warn!(%reason, "outbox relay stopped; the next wake-up retries");
                    break;
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "outbox relay failed in the host");
                    break;
                }
            }
        }
    }
}

/// A run's duration, and how many events it published (a run that stopped
/// on a failure counts none: its count is in the failure's text).
fn observe_run(
    component: &str,
    started: std::time::Instant,
    outcome: &Result<Result<u32, String>, crate::host_error::HostError>,
) {
    let metrics = metrics();
    metrics
        .relay_run_duration
        .with_label_values(&[component])
        .observe(started.elapsed().as_secs_f64());
    let published = match outcome {
        Ok(Ok(published)) => *published,
        _ => 0,
    };
    metrics
        .relay_run_events
        .with_label_values(&[component])
        .observe(f64::from(published));
}
