//! What the listeners of `bench/messaging.sh` share: their output flags and
//! the file of arrivals that `bench/messaging.py report` reads, one line per
//! event, `event_id arrival_epoch_seconds [extra]`.
//!
//! Native listeners, because on this two-CPU machine Python ones, starved by
//! the load they measure, added their own delay to the arrival times:
//! tens of milliseconds for kafka-python, at times hundreds at p99 for pika.
//! (The bench still binds pika by default: with the native AMQP listener
//! bound, the relay's own tail was worse; see
//! `bench/results/amqp-listener-ab-2026-12-06.txt`.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::builder::NonEmptyStringValueParser;

/// Where a listener writes: the arrivals, and the file whose creation tells
/// `bench/messaging.sh` that it reads from now on.
#[derive(clap::Args)]
pub struct Output {
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub out: String,
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub ready: String,
}

/// The file of arrivals. Lines are buffered: call [`Arrivals::flush`] once
/// what has been received so far is written, so that the report, which
/// reads the file while the listener runs, only sees whole lines.
pub struct Arrivals {
    out: BufWriter<File>,
}

impl Arrivals {
    pub fn create(path: &str) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {path}"))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, file),
        })
    }

    /// Tells `bench/messaging.sh` that the listener reads from now on.
    pub fn ready(path: &str) -> anyhow::Result<()> {
        File::create(path).with_context(|| format!("creating {path}"))?;
        Ok(())
    }

    /// One event, arrived now; `extra` goes at the end of its line.
    pub fn record(&mut self, event_id: &str, extra: Option<i64>) -> anyhow::Result<()> {
        let arrival = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        match extra {
            Some(extra) => writeln!(self.out, "{event_id} {arrival:.6} {extra}")?,
            None => writeln!(self.out, "{event_id} {arrival:.6}")?,
        }
        Ok(())
    }

    /// With nothing buffered this writes nothing.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.out.flush()?)
    }
}

/// The envelope's `event_id`, or `?` for a payload without one (counted by
/// the report as an unknown arrival).
pub fn event_id(payload: Option<&[u8]>) -> String {
    /// The only field read from the envelope.
    #[derive(serde::Deserialize)]
    struct Envelope {
        event_id: String,
    }
    payload
        .and_then(|payload| serde_json::from_slice::<Envelope>(payload).ok())
        .map_or_else(|| "?".to_owned(), |envelope| envelope.event_id)
}

#[cfg(test)]
mod tests {
    use super::event_id;

    #[test]
    fn an_envelope_gives_its_event_id_and_anything_else_a_question_mark() {
        let envelope =
            br#"{"event_id":"5b0c9a34-0c55-4f39-9c1e-3f6c2b1f0a11","event_type":"OrderCreated"}"#;
        assert_eq!(
            event_id(Some(envelope)),
            "5b0c9a34-0c55-4f39-9c1e-3f6c2b1f0a11"
        );
        assert_eq!(event_id(Some(b"not json")), "?");
        assert_eq!(event_id(None), "?");
    }
}
