//! The outbox trigger: runs the relay component whenever the outbox has
//! news (Postgres `NOTIFY` from the insert, through a `LISTEN`ing
//! connection) and every `interval_ms` as a safety net, so nothing waits for
//! long if a notification is lost. One run at a time per host; a run that
//! published something is followed by another until the outbox is drained.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::app::{App, Entry};
use crate::manifest::{Manifest, OutboxTrigger};
use crate::ops::metrics::metrics;
use crate::variables::ResolvedVariables;

/// Pause before re-opening a lost `LISTEN` connection.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

pub async fn start(
    app: Arc<App>,
    manifest: &Manifest,
    variables: &ResolvedVariables,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
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
        tasks.push(tokio::spawn(listen(
            database,
            trigger.notify_channel.clone(),
            wake.clone(),
        )));
        tasks.push(tokio::spawn(relay(app.clone(), trigger.clone(), wake)));
        tracing::info!(component = %trigger.component, channel = %trigger.notify_channel, "relaying the outbox");
    }
    Ok(tasks)
}

/// Keeps a `LISTEN` connection open and turns each notification into a wake-up.
async fn listen(database: String, channel: String, wake: Arc<Notify>) {
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
                let listening = client.batch_execute(&format!("LISTEN \"{channel}\"")).await;
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
            match app.run_relay(&trigger.component).await {
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
