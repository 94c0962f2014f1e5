//! Reads a topic (`order-events`) from its current end, without joining a
//! consumer group, and writes one line per record, `event_id
//! arrival_epoch_seconds record_timestamp_ms`.
//!
//! Usage: kafka-listener --bootstrap HOST:PORT --topic NAME --out FILE
//! --ready FILE [--fetch-max-wait-ms N] (the address and the topic come from
//! `bench/messaging.sh`, which sets them once for both Kafka listeners). Runs
//! until killed (SIGTERM): each batch of lines is flushed as soon as it is
//! written, so what was read before the signal is in the file.

use std::time::Duration;

use anyhow::{bail, Context};
use bench_listeners::{event_id, Arrivals, Output};
use clap::builder::NonEmptyStringValueParser;
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Reads a topic from its end, without a consumer group, and writes when
/// each record arrived.
#[derive(Parser)]
struct Args {
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    bootstrap: String,
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    topic: String,
    #[arg(long, default_value_t = 10)]
    fetch_max_wait_ms: u32,
    #[command(flatten)]
    output: Output,
}

fn main() -> anyhow::Result<()> {
    let Args {
        bootstrap,
        topic,
        fetch_max_wait_ms,
        output,
    } = Args::parse();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        // Required by librdkafka's consumer; never joined: partitions are
        // assigned, nothing is committed.
        .set("group.id", "bench-kafka-listener")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", fetch_max_wait_ms.to_string())
        .set("fetch.min.bytes", "1")
        .set("socket.nagle.disable", "true")
        .create()
        .context("creating the consumer")?;

    // The end of each partition, resolved now, before the load starts.
    let metadata = consumer
        .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
        .context("reading the topic's metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_low, high) = consumer
            .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
            .with_context(|| format!("reading the end of partition {partition}"))?;
        assignment.add_partition_offset(&topic, partition, Offset::Offset(high))?;
    }
    consumer
        .assign(&assignment)
        .context("assigning the partitions")?;

    let mut arrivals = Arrivals::create(&output.out)?;
    Arrivals::ready(&output.ready)?;
    loop {
        let mut next = consumer.poll(POLL);
        while let Some(result) = next {
            let record = result.context("reading a record")?;
            let timestamp = record.timestamp().to_millis().unwrap_or(-1);
            arrivals.record(&event_id(record.payload()), Some(timestamp))?;
            // What is already fetched, without waiting.
            next = consumer.poll(Duration::ZERO);
        }
        arrivals.flush()?;
    }
}
