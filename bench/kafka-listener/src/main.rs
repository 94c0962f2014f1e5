//! Benchmark helper of `bench/messaging.sh`: reads a topic (`order-events`)
//! from its current end, without joining a consumer group, and writes one
//! line per record, `event_id arrival_epoch_seconds record_timestamp_ms`,
//! the format `bench/messaging.py report` reads.
//!
//! Native (librdkafka, as the host's producer) rather than kafka-python:
//! on this two-CPU machine the Python listener, starved by the load it
//! measures, added tens of milliseconds of its own to the arrival times.
//!
//! Usage: kafka-listener --bootstrap HOST:PORT --topic NAME --out FILE
//! --ready FILE [--fetch-max-wait-ms N] (the address and the topic come from
//! `bench/messaging.sh`, which sets them once for both listeners). Runs
//! until killed (SIGTERM): each batch of lines is flushed as soon as it is
//! written, so what was read before the signal is in the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

struct Args {
    out: String,
    ready: String,
    bootstrap: String,
    topic: String,
    fetch_max_wait_ms: u32,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Self {
            out: String::new(),
            ready: String::new(),
            bootstrap: String::new(),
            topic: String::new(),
            fetch_max_wait_ms: 10,
        };
        let mut words = std::env::args().skip(1);
        while let Some(flag) = words.next() {
            let value = words
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--out" => args.out = value,
                "--ready" => args.ready = value,
                "--bootstrap" => args.bootstrap = value,
                "--topic" => args.topic = value,
                "--fetch-max-wait-ms" => {
                    args.fetch_max_wait_ms = value.parse().context("--fetch-max-wait-ms")?;
                }
                other => bail!("unknown argument {other:?}"),
            }
        }
        if [&args.out, &args.ready, &args.bootstrap, &args.topic]
            .iter()
            .any(|value| value.is_empty())
        {
            bail!("usage: kafka-listener --bootstrap HOST:PORT --topic NAME --out FILE --ready FILE [--fetch-max-wait-ms N]");
        }
        Ok(args)
    }
}

/// The only field read from the envelope.
#[derive(serde::Deserialize)]
struct Envelope {
    event_id: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        // Required by librdkafka's consumer; never joined: partitions are
        // assigned, nothing is committed.
        .set("group.id", "bench-kafka-listener")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", args.fetch_max_wait_ms.to_string())
        .set("fetch.min.bytes", "1")
        .set("socket.nagle.disable", "true")
        .create()
        .context("creating the consumer")?;

    // The end of each partition, resolved now, before the load starts.
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .context("reading the topic's metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.name() == args.topic)
        .flat_map(|topic| topic.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {} has no partitions", args.topic);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_low, high) = consumer
            .fetch_watermarks(&args.topic, partition, METADATA_TIMEOUT)
            .with_context(|| format!("reading the end of partition {partition}"))?;
        assignment.add_partition_offset(&args.topic, partition, Offset::Offset(high))?;
    }
    consumer
        .assign(&assignment)
        .context("assigning the partitions")?;

    let mut out = BufWriter::with_capacity(1 << 16, File::create(&args.out)?);
    File::create(&args.ready)?;
    loop {
        let mut next = consumer.poll(POLL);
        while let Some(result) = next {
            let arrival = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
            let record = result.context("reading a record")?;
            let event_id = record
                .payload()
                .and_then(|payload| serde_json::from_slice::<Envelope>(payload).ok())
                .map_or_else(|| "?".to_owned(), |envelope| envelope.event_id);
            let timestamp = record.timestamp().to_millis().unwrap_or(-1);
            writeln!(out, "{event_id} {arrival:.6} {timestamp}")?;
            // What is already fetched, without waiting.
            next = consumer.poll(Duration::ZERO);
        }
        // Whole lines: the report may read the file while this runs. With
        // nothing buffered this writes nothing.
        out.flush()?;
    }
}
