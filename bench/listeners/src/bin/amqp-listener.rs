//! Binds an exclusive, auto-delete queue to an exchange (`orders.created`,
//! key `order.created`) and writes one line per message, `event_id
//! arrival_epoch_seconds`. `bench/messaging.sh` uses it with
//! `BENCH_AMQP_LISTENER=native`.
//!
//! Usage: amqp-listener --url AMQP_URL --exchange NAME --routing-key KEY
//! --out FILE --ready FILE [--prefetch N] (set once in `bench/messaging.sh`
//! and `bench/lib.sh`). Runs until killed (SIGTERM): each batch of lines is
//! flushed as soon as it is written. If the broker goes away it binds a new
//! queue: meanwhile the relay's mandatory publishes are refused and retried,
//! so events arrive late rather than never.

use std::time::Duration;

use anyhow::Context;
use bench_listeners::{event_id, Arrivals, Output};
use clap::builder::NonEmptyStringValueParser;
use clap::Parser;
use futures::{FutureExt, StreamExt};
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties, Consumer};

const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// Binds a queue of its own to an exchange and writes when each message
/// arrived.
#[derive(Parser)]
struct Args {
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    url: String,
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    exchange: String,
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    routing_key: String,
    #[arg(long, default_value_t = 2000)]
    prefetch: u16,
    #[command(flatten)]
    output: Output,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut arrivals = Arrivals::create(&args.output.out)?;
    loop {
        match subscribe(&args).await {
            Ok((connection, mut consumer)) => {
                Arrivals::ready(&args.output.ready)?;
                let lost = listen(&mut consumer, &mut arrivals).await?;
                eprintln!("amqp-listener: {lost}; binding a new queue");
                let _ = connection.close(200, "bye".into()).await;
            }
            Err(error) => eprintln!("amqp-listener: {error:#}; retrying"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn subscribe(args: &Args) -> anyhow::Result<(Connection, Consumer)> {
    let connection = Connection::connect(&args.url, ConnectionProperties::default())
        .await
        .context("connecting")?;
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare(ShortString::default(), exclusive, FieldTable::default())
        .await
        .context("declaring the queue")?;
    channel
        .queue_bind(
            queue.name().clone(),
            short(&args.exchange)?,
            short(&args.routing_key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("binding to {}", args.exchange))?;
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await
        .context("setting the prefetch")?;
    // Without acknowledgements: the listener only notes when each arrived.
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let consumer = channel
        .basic_consume(
            queue.name().clone(),
            ShortString::default(),
            no_ack,
            FieldTable::default(),
        )
        .await
        .context("consuming")?;
    Ok((connection, consumer))
}

/// Records deliveries until the subscription is lost; says how. Fails only
/// if the file cannot be written.
async fn listen(consumer: &mut Consumer, arrivals: &mut Arrivals) -> anyhow::Result<String> {
    while let Some(delivery) = consumer.next().await {
        let mut delivery = Some(delivery);
        // This delivery and whatever else has already arrived, then one flush.
        while let Some(result) = delivery {
            match result {
                Ok(message) => arrivals.record(&event_id(Some(&message.data)), None)?,
                Err(error) => {
                    arrivals.flush()?;
                    return Ok(format!("consumer failed: {error}"));
                }
            }
            delivery = consumer.next().now_or_never().flatten();
        }
        arrivals.flush()?;
    }
    Ok("the broker cancelled the consumer".to_owned())
}

fn short(value: &str) -> anyhow::Result<ShortString> {
    ShortString::try_new(value).with_context(|| format!("{value:?} is longer than 255 bytes"))
}
