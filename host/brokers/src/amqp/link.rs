//! One AMQP connection and its confirm-mode channel, re-established on demand.
//!
//! Reconnection is lazy: the next call after a loss tries again, unless the previous
//! attempt failed less than the current back-off ago, in which case it fails at once with
//! `Unavailable`. Callers (an outbox relay, a consumer loop) already retry, so a lazy link
//! never hides a broker outage behind a long wait.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use futures::future::Either;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::{timeout, Instant};

use super::{map_lapin_error, short, AmqpOptions};
use crate::BrokerError;

pub(super) struct Link {
    uri: AMQPUri,
    options: AmqpOptions,
    state: Mutex<LinkState>,
}

struct LinkState {
    connection: Option<Connection>,
    confirm_channel: Option<Channel>,
    backoff: Duration,
    next_attempt: Option<Instant>,
}

impl Link {
    /// Parses `url` and connects once, so a wrong URL or a broker that is down is reported
    /// at start-up.
    pub(super) async fn connect(url: &str, options: AmqpOptions) -> Result<Self, BrokerError> {
        let uri: AMQPUri = url
            .parse()
            .map_err(|e| BrokerError::Config(format!("invalid amqp url: {e}")))?;
        let link = Self {
            uri,
            state: Mutex::new(LinkState {
                connection: None,
                confirm_channel: None,
                backoff: options.reconnect_backoff_min,
                next_attempt: None,
            }),
            options,
        };
        link.confirm_channel().await?;
        Ok(link)
    }

    pub(super) fn options(&self) -> &AmqpOptions {
        &self.options
    }

    /// The shared confirm-mode channel, reopened (and the connection re-established) if
    /// the broker closed it.
    pub(super) async fn confirm_channel(&self) -> Result<Channel, BrokerError> {
        let mut state = self.lock().await?;
        if let Some(channel) = &state.confirm_channel {
            if channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        state.confirm_channel = None;
        let channel = self.open_channel_locked(&mut state).await?;
        self.bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        state.confirm_channel = Some(channel.clone());
        Ok(channel)
    }

    /// A fresh channel on the shared connection, for consumers.
    pub(super) async fn open_channel(&self) -> Result<Channel, BrokerError> {
        let mut state = self.lock().await?;
        self.open_channel_locked(&mut state).await
    }

    /// Runs one broker round trip on the confirm channel, bounded by the operation
    /// timeout. A channel that failed or timed out is not handed out again.
    pub(super) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, BrokerError>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = lapin::Result<T>>,
    {
        let channel = self.confirm_channel().await?;
        match timeout(self.options.operation_timeout, op(channel.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.discard_if_closed(&channel).await;
                Err(map_lapin_error(what, &error))
            }
            Err(_) => {
                self.discard(&channel).await;
                Err(self.timed_out(what))
            }
        }
    }

    /// Publishes with `mandatory` set and waits for the broker's confirm. A nack or a
    /// return (no queue bound) is `Rejected`.
    pub(super) async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let exchange_name = short(exchange, "exchange name")?;
        let key = short(routing_key, "routing key")?;
        let what = format!("publishing to exchange {exchange:?} with routing key {routing_key:?}");
        let confirmation = self
            .run(&what, |channel| async move {
                let options = BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                };
                channel
                    .basic_publish(exchange_name, key, options, body, properties)
                    .await?
                    .await
            })
            .await?;
        confirmed(&what, confirmation)
    }

    /// Publishes each `(routing key, body, properties)` with `mandatory` set, in order
    /// on the confirm channel, then awaits all the confirms: one result per message, in
    /// order, each as [`Link::publish_confirmed`] would give it. The whole batch is
    /// bounded by the operation timeout; a channel failure part way fails every message
    /// (some may have been taken: publish again, consumers deduplicate).
    pub(super) async fn publish_confirmed_batch(
        &self,
        exchange: &str,
        messages: Vec<(ShortString, Vec<u8>, BasicProperties)>,
    ) -> Result<Vec<Result<(), BrokerError>>, BrokerError> {
        let exchange_name = short(exchange, "exchange name")?;
        let what = format!(
            "publishing {} message(s) to exchange {exchange:?}",
            messages.len()
        );
        let confirmations = self
            .run(&what, |channel| async move {
                let options = BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                };
                // lapin queues a publish's frames (and takes its delivery tag)
                // on the first poll, before it waits for the frames to be
                // written: polling each once, in order, puts them on the wire
                // in order without one wait per message.
                let mut sends = Vec::with_capacity(messages.len());
                for (key, body, properties) in &messages {
                    let mut send = Box::pin(channel.basic_publish(
                        exchange_name.clone(),
                        key.clone(),
                        options,
                        body,
                        properties.clone(),
                    ));
                    sends.push(match futures::poll!(send.as_mut()) {
                        Poll::Ready(sent) => Either::Left(sent),
                        Poll::Pending => Either::Right(send),
                    });
                }
                let mut confirms = Vec::with_capacity(sends.len());
                for send in sends {
                    confirms.push(match send {
                        Either::Left(sent) => sent?,
                        Either::Right(send) => send.await?,
                    });
                }
                let mut confirmations = Vec::with_capacity(confirms.len());
                for confirm in confirms {
                    confirmations.push(confirm.await?);
                }
                Ok(confirmations)
            })
            .await?;
        Ok(confirmations
            .into_iter()
            .map(|confirmation| confirmed(&what, confirmation))
            .collect())
    }

    /// Awaits `fut`, turning a timeout or a lapin error into a `BrokerError`.
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        fut: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, BrokerError> {
        match timeout(self.options.operation_timeout, fut).await {
            Ok(result) => result.map_err(|e| map_lapin_error(what, &e)),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    /// The link state; waiting for it is bounded too, since another task may be in the
    /// middle of a (bounded) reconnect.
    async fn lock(&self) -> Result<MutexGuard<'_, LinkState>, BrokerError> {
        let limit = self.options.connect_timeout + self.options.operation_timeout;
        timeout(limit, self.state.lock())
            .await
            .map_err(|_| BrokerError::Unavailable("amqp connection busy reconnecting".into()))
    }

    fn timed_out(&self, what: &str) -> BrokerError {
        BrokerError::Unavailable(format!(
            "{what}: no answer from the broker within {:?}",
            self.options.operation_timeout
        ))
    }

    async fn discard_if_closed(&self, channel: &Channel) {
        if !channel.status().connected() {
            self.discard(channel).await;
        }
    }

    /// Stops handing out `channel` and closes it in the background if it is still open
    /// (its state is unknown after a timeout).
    async fn discard(&self, channel: &Channel) {
        if let Ok(mut state) = self.lock().await {
            if state
                .confirm_channel
                .as_ref()
                .is_some_and(|current| current.id() == channel.id())
            {
                state.confirm_channel = None;
            }
            if let Some(connection) = &state.connection {
                if !connection.status().connected() {
                    state.connection = None;
                }
            }
        }
        if channel.status().connected() {
            let channel = channel.clone();
            let limit = self.options.operation_timeout;
            tokio::spawn(async move {
                let _ = timeout(limit, channel.close(200, "discarded".into())).await;
            });
        }
    }

    async fn open_channel_locked(&self, state: &mut LinkState) -> Result<Channel, BrokerError> {
        let connection = self.connection_locked(state).await?;
        match timeout(self.options.operation_timeout, connection.create_channel()).await {
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(error)) => {
                if !connection.status().connected() {
                    state.connection = None;
                }
                Err(map_lapin_error("opening a channel", &error))
            }
            Err(_) => {
                state.connection = None;
                Err(self.timed_out("opening a channel"))
            }
        }
    }

    async fn connection_locked<'a>(
        &self,
        state: &'a mut LinkState,
    ) -> Result<&'a Connection, BrokerError> {
        let healthy = state
            .connection
            .as_ref()
            .is_some_and(|connection| connection.status().connected());
        if !healthy {
            state.connection = None;
            state.confirm_channel = None;
            let connection = self.reconnect(state).await?;
            state.connection = Some(connection);
        }
        state
            .connection
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("amqp connection lost".into()))
    }

    async fn reconnect(&self, state: &mut LinkState) -> Result<Connection, BrokerError> {
        let now = Instant::now();
        if let Some(next_attempt) = state.next_attempt {
            if now < next_attempt {
                return Err(BrokerError::Unavailable(format!(
                    "amqp broker unreachable; next connection attempt in {:?}",
                    next_attempt - now
                )));
            }
        }
        let attempt = timeout(
            self.options.connect_timeout,
            Connection::connect_uri(self.uri.clone(), ConnectionProperties::default()),
        )
        .await;
        let error = match attempt {
            Ok(Ok(connection)) => {
                state.backoff = self.options.reconnect_backoff_min;
                state.next_attempt = None;
                return Ok(connection);
            }
            Ok(Err(error)) => map_lapin_error("connecting to the amqp broker", &error),
            Err(_) => BrokerError::Unavailable(format!(
                "connecting to the amqp broker: no answer within {:?}",
                self.options.connect_timeout
            )),
        };
        tracing::warn!(error = %error, retry_in = ?state.backoff, "amqp connection failed");
        state.next_attempt = Some(now + state.backoff);
        state.backoff = (state.backoff * 2).min(self.options.reconnect_backoff_max);
        Err(error)
    }
}

/// What a publisher confirm says about one message.
fn confirmed(what: &str, confirmation: Confirmation) -> Result<(), BrokerError> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => Err(BrokerError::Unroutable(format!(
            "{what}: returned by the broker ({} {})",
            returned.reply_code, returned.reply_text
        ))),
        Confirmation::Nack(Some(returned)) => Err(BrokerError::Rejected(format!(
            "{what}: returned and nacked by the broker ({} {})",
            returned.reply_code, returned.reply_text
        ))),
        Confirmation::Nack(None) => Err(BrokerError::Rejected(format!(
            "{what}: nacked by the broker"
        ))),
        Confirmation::NotRequested => Err(BrokerError::Config(format!(
            "{what}: channel is not in confirm mode"
        ))),
    }
}
