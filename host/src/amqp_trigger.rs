//! The AMQP trigger: every `[[trigger.amqp]]` queue is consumed, and each
//! message runs its component in a fresh instance. The component's verdict
//! decides the message's fate, after its effect has committed:
//!
//! | verdict | the message |
//! |---|---|
//! | `ok` | acknowledged |
//! | `reject` | to `<queue>.dlq` at once |
//! | `retry`, `other`, a trap or the deadline | redelivered after the next delay, then to `<queue>.dlq` |
//!
//! A handler that returned `ok` has committed its effect, outbox rows
//! included, so the trigger then wakes the outbox relays of this process
//! (the handler sends no `NOTIFY` of its own). A host that runs no relay
//! says so at start: those events wait for another host's relay interval.
//!
//! Like Spin's Redis trigger, every subscription is resolved before any
//! starts: a broker that is down or a queue declared differently stops
//! start-up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sales_brokers::amqp::{AmqpConsumer, Delivery, Disposition};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::app::App;
use crate::manifest::{AmqpTrigger, Manifest};
use crate::messaging::{HandleMessageError, Message};
use crate::ops::metrics::metrics;
use crate::outbox_trigger::RelayWake;
use crate::variables::ResolvedVariables;

/// Pause before resubscribing after the broker went away.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

pub async fn start(
    app: Arc<App>,
    manifest: &Manifest,
    variables: &ResolvedVariables,
    relays: RelayWake,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    if relays.wakes_nothing() && !manifest.trigger.amqp.is_empty() {
        tracing::warn!(
            "this host runs no [[trigger.outbox]]: the outbox rows its consumers write wait for another host's relay, up to its interval_ms"
        );
    }
    let mut subscriptions = Vec::new();
    for trigger in &manifest.trigger.amqp {
        let address = variables
            .render(&trigger.address)
            .with_context(|| format!("amqp trigger for queue {:?}: address", trigger.queue))?;
        let delays: Vec<Duration> = trigger
            .retry_delays_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        let consumer = AmqpConsumer::connect(&address, &trigger.queue, &delays, trigger.prefetch)
            .await
            .with_context(|| {
                format!(
                    "amqp trigger: consuming queue {:?} (rabbitmq_url)",
                    trigger.queue
                )
            })?;
        tracing::info!(queue = %trigger.queue, component = %trigger.component, "consuming");
        subscriptions.push((trigger.clone(), consumer));
    }
    Ok(subscriptions
        .into_iter()
        .map(|(trigger, consumer)| {
            tokio::spawn(consume(app.clone(), trigger, consumer, relays.clone()))
        })
        .collect())
}

async fn consume(
    app: Arc<App>,
    trigger: AmqpTrigger,
    mut consumer: AmqpConsumer,
    relays: RelayWake,
) {
    // At most `prefetch` messages in the component at once.
    let permits = Arc::new(Semaphore::new(usize::from(trigger.prefetch)));
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let delivery = match consumer.next().await {
            Ok(delivery) => delivery,
            Err(error) => {
                tracing::warn!(queue = %trigger.queue, %error, "lost the subscription; resubscribing");
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                continue;
            }
        };
        let app = app.clone();
        let trigger = trigger.clone();
        let relays = relays.clone();
        // Boxed: the handler's future (the guest's instantiation and call
        // inside) is kilobytes long, and tokio would copy it into the task
        // and again when the task completes, about seven copies per message
        // (callgrind); now it is copied once, into the box.
        tokio::spawn(Box::pin(async move {
            handle(&app, &trigger, &relays, delivery).await;
            drop(permit);
        }));
    }
}

async fn handle(app: &App, trigger: &AmqpTrigger, relays: &RelayWake, delivery: Delivery) {
    let request_id: Arc<str> = delivery
        .header("x-request-id")
        .or(delivery.message_id.as_deref())
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()));
    let span = tracing::info_span!("message", request_id = %request_id, queue = %trigger.queue);
    let queue = trigger.queue.as_str();
    metrics()
        .messages_consumed
        .with_label_values(&[queue])
        .inc();
    async {
        let mut metadata = delivery.headers.clone();
        if let Some(id) = &delivery.message_id {
            metadata.push(("message-id".to_owned(), id.clone()));
        }
        metadata.retain(|(name, _)| name != "x-attempts");
        metadata.push(("x-attempts".to_owned(), delivery.attempts.to_string()));
        let message = Message {
            topic: trigger.queue.clone(),
            data: delivery.body.clone(),
            content_type: delivery.content_type.clone(),
            metadata,
        };
        let verdict = app
            .handle_message(&trigger.component, message, request_id.clone())
            .await;
        let settled = match verdict {
            Ok(Ok(())) => {
                // Before the ack's round trip: the events are committed.
                relays.wake();
                delivery.ack().await.map(|()| "acknowledged".to_owned())
            }
            Ok(Err(HandleMessageError::Reject(reason))) => {
                tracing::warn!(%reason, "message rejected: dead-lettering");
                let settled = delivery.dead_letter(&reason).await;
                if settled.is_ok() {
                    metrics()
                        .messages_dead_lettered
                        .with_label_values(&[queue])
                        .inc();
                }
                settled.map(|()| "dead-lettered".to_owned())
            }
            Ok(Err(HandleMessageError::Retry(reason) | HandleMessageError::Other(reason))) => {
                retry(queue, delivery, &reason).await
            }
            Err(error) => retry(queue, delivery, &format!("host: {error:#}")).await,
        };
        match settled {
            Ok(outcome) => tracing::info!(outcome = %outcome, "message handled"),
            // Unacknowledged: the broker redelivers it when the channel closes.
            Err(error) => tracing::error!(%error, "could not settle the message"),
        }
    }
    .instrument(span)
    .await
}

async fn retry(
    queue: &str,
    delivery: Delivery,
    reason: &str,
) -> Result<String, sales_brokers::BrokerError> {
    tracing::warn!(%reason, attempts = delivery.attempts, "message failed");
    Ok(match delivery.retry(reason).await? {
        Disposition::Retried { attempt, delay } => {
            metrics().messages_retried.with_label_values(&[queue]).inc();
            format!("retry {attempt} in {} ms", delay.as_millis())
        }
        Disposition::DeadLettered => {
            metrics()
                .messages_dead_lettered
                .with_label_values(&[queue])
                .inc();
            "dead-lettered after the last retry".to_owned()
        }
    })
}
