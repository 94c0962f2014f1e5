//! One relay batch (CONTRACT.md, "Events", "Published"): the oldest
//! unpublished outbox rows that no other relay holds, locked for the
//! transaction, are published in order, each broker's batch at once (one
//! wait for all its confirms / delivery reports, not one per event), and
//! marked; the first failure stops the batch there. Relays run side by side
//! (the host starts several, and hosts several): [`Outbox::unpublished`]
//! gives a row only once no earlier row of its order is unpublished, so one
//! order's events leave in the order they were written.
//!
//! Written against two small traits, [`Outbox`] (the database) and
//! [`Producer`] (the brokers), so that it runs natively in unit tests with
//! fakes; `lib.rs` supplies the real ones.
//!
//! Delivery is at-least-once: events after a failed one may already have
//! reached a broker (a batch is sent whole before its results are known);
//! they stay unpublished and the next run sends them again, as it does the
//! whole batch if the final COMMIT is lost. Consumers deduplicate by
//! `event_id` (the AMQP `message_id`).

use std::fmt;

/// Rows read per run; the host runs again on the next NOTIFY or interval.
pub const BATCH_SIZE: u32 = 200;

/// `OrderCreated` goes to RabbitMQ too.
pub const ORDER_CREATED: &str = "OrderCreated";
pub const AMQP_EXCHANGE: &str = "orders.created";
pub const AMQP_ROUTING_KEY: &str = "order.created";
/// Every event goes to Kafka, keyed by its order.
pub const KAFKA_TOPIC: &str = "order-events";
pub const CONTENT_TYPE: &str = "application/json";
/// The header naming the event's type, which the relay sets itself.
pub const EVENT_TYPE_HEADER: &str = "event-type";
/// Headers the relay or the host set on every message; a row's own header
/// of the same name (in any case) is not published.
const RESERVED_HEADERS: [&str; 3] = [EVENT_TYPE_HEADER, "message-id", "content-type"];

/// An unpublished `outbox` row, its UUIDs and JSON payload as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub order_id: String,
    /// The event envelope, as written.
    pub payload: String,
    /// The row's `headers` (the request id and trace context of what
    /// caused the event), as name-value pairs.
    pub headers: Vec<(String, String)>,
}

/// A message for either broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub data: Vec<u8>,
    pub content_type: String,
    pub message_id: String,
    pub headers: Vec<(String, String)>,
}

impl Message {
    fn for_row(row: &OutboxRow) -> Self {
        Self {
            data: row.payload.as_bytes().to_vec(),
            content_type: CONTENT_TYPE.to_owned(),
            message_id: row.event_id.clone(),
            headers: headers(row),
        }
    }
}

/// What every message carries: `event-type`, then the row's own headers
/// (`x-request-id`, `traceparent`, ...) except the reserved ones, so a row
/// can never disguise its type or clash with what the host sets.
fn headers(row: &OutboxRow) -> Vec<(String, String)> {
    let mut headers = vec![(EVENT_TYPE_HEADER.to_owned(), row.event_type.clone())];
    headers.extend(
        row.headers
            .iter()
            .filter(|(name, _)| {
                !RESERVED_HEADERS
                    .iter()
                    .any(|reserved| name.eq_ignore_ascii_case(reserved))
            })
            .cloned(),
    );
    headers
}

/// Why a broker did not take a message (the WIT `publish-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    Unavailable(String),
    Rejected(String),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "unavailable: {why}"),
            Self::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

/// The brokers. Each call sends every message, in order, and returns one
/// result per message, in order.
pub trait Producer {
    /// `(routing key, message)` pairs to one exchange.
    fn publish_amqp_batch(
        &self,
        exchange: &str,
        messages: &[(String, Message)],
    ) -> Vec<Result<(), PublishError>>;
    /// `(key, message)` pairs to one topic.
    fn send_kafka_batch(
        &self,
        topic: &str,
        messages: &[(String, Message)],
    ) -> Vec<Result<(), PublishError>>;
}

/// The outbox, on one database connection; errors are already text.
pub trait Outbox {
    fn begin(&self) -> Result<(), String>;
    /// Up to `limit` of the oldest unpublished rows, by id, locked until the
    /// transaction ends: only rows no other relay holds, and only rows with
    /// no unpublished earlier row of their order.
    fn unpublished(&self, limit: u32) -> Result<Vec<OutboxRow>, String>;
    /// Sets `published_at` and counts the attempt, for every one of `ids`.
    fn mark_published(&self, ids: &[i64]) -> Result<(), String>;
    /// Counts a failed attempt.
    fn mark_attempted(&self, id: i64) -> Result<(), String>;
    fn commit(&self) -> Result<(), String>;
    fn rollback(&self) -> Result<(), String>;
}

/// Runs one batch: `Ok(published)`, or the first failure with how many
/// events went out before it. On a database error the transaction is rolled
/// back (best effort) and the error returned.
pub fn run(outbox: &impl Outbox, producer: &impl Producer) -> Result<u32, String> {
    outbox
        .begin()
        .map_err(|e| format!("database: BEGIN: {e}"))?;
    match batch(outbox, producer) {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Database(error)) => {
            // Best effort: the connection may be gone, and the transaction
            // dies with it anyway.
            let _ = outbox.rollback();
            Err(error)
        }
        Err(Failure::Publish(error)) => Err(error),
    }
}

enum Failure {
    /// Rolled back by [`run`].
    Database(String),
    /// Already committed (the attempt is counted).
    Publish(String),
}

fn db(step: &str) -> impl Fn(String) -> Failure + '_ {
    move |e| Failure::Database(format!("database: {step}: {e}"))
}

fn batch(outbox: &impl Outbox, producer: &impl Producer) -> Result<u32, Failure> {
    let rows = outbox
        .unpublished(BATCH_SIZE)
        .map_err(db("reading the outbox"))?;
    let messages: Vec<Message> = rows.iter().map(Message::for_row).collect();
    let (published, failure) = publish(producer, &rows, &messages);
    if published > 0 {
        let ids: Vec<i64> = rows[..published].iter().map(|row| row.id).collect();
        outbox
            .mark_published(&ids)
            .map_err(db("marking events published"))?;
    }
    let failure = match failure {
        None => None,
        Some(error) => {
            let row = &rows[published];
            outbox
                .mark_attempted(row.id)
                .map_err(db("counting a failed attempt"))?;
            Some(format!(
                "event {} ({}, outbox id {}) not published: {error}; \
                 {published} event(s) published before it",
                row.event_id, row.event_type, row.id
            ))
        }
    };
    outbox.commit().map_err(db("COMMIT"))?;
    let published = u32::try_from(published).expect("a batch is at most BATCH_SIZE rows");
    match failure {
        None => Ok(published),
        Some(error) => Err(Failure::Publish(error)),
    }
}

/// Sends the rows to their brokers: `OrderCreated` to RabbitMQ, then every
/// row before the first RabbitMQ failure to Kafka (so that no event reaches
/// Kafka ahead of one of its order that has not). Returns how many rows, from
/// the first, both brokers took, and why the next one failed.
fn publish(
    producer: &impl Producer,
    rows: &[OutboxRow],
    messages: &[Message],
) -> (usize, Option<String>) {
    let mut taken = rows.len();
    let mut failure = None;

    let created: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].event_type == ORDER_CREATED)
        .collect();
    if !created.is_empty() {
        let batch: Vec<(String, Message)> = created
            .iter()
            .map(|&i| (AMQP_ROUTING_KEY.to_owned(), messages[i].clone()))
            .collect();
        let results = producer.publish_amqp_batch(AMQP_EXCHANGE, &batch);
        if let Some((k, error)) = first_failure(&results, batch.len()) {
            taken = created[k];
            failure = Some(format!("RabbitMQ exchange {AMQP_EXCHANGE}: {error}"));
        }
    }

    if taken > 0 {
        let batch: Vec<(String, Message)> = rows[..taken]
            .iter()
            .zip(messages)
            .map(|(row, message)| (row.order_id.clone(), message.clone()))
            .collect();
        let results = producer.send_kafka_batch(KAFKA_TOPIC, &batch);
        if let Some((k, error)) = first_failure(&results, batch.len()) {
            taken = k;
            failure = Some(format!("Kafka topic {KAFKA_TOPIC}: {error}"));
        }
    }
    (taken, failure)
}

/// The first message of `sent` that failed, or that has no result at all.
fn first_failure(
    results: &[Result<(), PublishError>],
    sent: usize,
) -> Option<(usize, PublishError)> {
    (0..sent).find_map(|k| match results.get(k) {
        Some(Ok(())) => None,
        Some(Err(error)) => Some((k, error.clone())),
        None => Some((
            k,
            PublishError::Unavailable(format!(
                "the host answered {} result(s) for {sent} message(s)",
                results.len()
            )),
        )),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;

    #[derive(Default)]
    struct FakeOutbox {
        rows: Vec<OutboxRow>,
        fail: Option<&'static str>,
        calls: RefCell<Vec<String>>,
    }

    impl FakeOutbox {
        fn with_rows(rows: Vec<OutboxRow>) -> Self {
            Self {
                rows,
                ..Self::default()
            }
        }

        fn step(&self, call: String) -> Result<(), String> {
            let failing = self.fail.is_some_and(|prefix| call.starts_with(prefix));
            self.calls.borrow_mut().push(call);
            if failing {
                Err("connection lost".to_owned())
            } else {
                Ok(())
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Outbox for FakeOutbox {
        fn begin(&self) -> Result<(), String> {
            self.step("BEGIN".into())
        }
        fn unpublished(&self, limit: u32) -> Result<Vec<OutboxRow>, String> {
            self.step(format!("SELECT {limit}"))?;
            Ok(self.rows.clone())
        }
        fn mark_published(&self, ids: &[i64]) -> Result<(), String> {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            self.step(format!("PUBLISHED {}", ids.join(",")))
        }
        fn mark_attempted(&self, id: i64) -> Result<(), String> {
            self.step(format!("ATTEMPTED {id}"))
        }
        fn commit(&self) -> Result<(), String> {
            self.step("COMMIT".into())
        }
        fn rollback(&self) -> Result<(), String> {
            self.step("ROLLBACK".into())
        }
    }

    #[derive(Default)]
    struct FakeProducer {
        /// Results handed out in order; `Ok` once they run out.
        amqp_results: RefCell<VecDeque<Result<(), PublishError>>>,
        kafka_results: RefCell<VecDeque<Result<(), PublishError>>>,
        sent: RefCell<Vec<(String, String, String, Message)>>,
    }

    impl Producer for FakeProducer {
        fn publish_amqp_batch(
            &self,
            exchange: &str,
            messages: &[(String, Message)],
        ) -> Vec<Result<(), PublishError>> {
            self.take("amqp", exchange, messages, &self.amqp_results)
        }
        fn send_kafka_batch(
            &self,
            topic: &str,
            messages: &[(String, Message)],
        ) -> Vec<Result<(), PublishError>> {
            self.take("kafka", topic, messages, &self.kafka_results)
        }
    }

    impl FakeProducer {
        /// Records each message sent to `broker` and hands out the next
        /// planned result (`Ok` once they run out).
        fn take(
            &self,
            broker: &str,
            destination: &str,
            messages: &[(String, Message)],
            results: &RefCell<VecDeque<Result<(), PublishError>>>,
        ) -> Vec<Result<(), PublishError>> {
            messages
                .iter()
                .map(|(key, message)| {
                    self.sent.borrow_mut().push((
                        broker.into(),
                        format!("{destination}/{key}"),
                        message.message_id.clone(),
                        message.clone(),
                    ));
                    results.borrow_mut().pop_front().unwrap_or(Ok(()))
                })
                .collect()
        }

        /// (broker, destination, message id) per call.
        fn sends(&self) -> Vec<(String, String, String)> {
            self.sent
                .borrow()
                .iter()
                .map(|(b, d, id, _)| (b.clone(), d.clone(), id.clone()))
                .collect()
        }
    }

    fn row(id: i64, event_type: &str, order: &str) -> OutboxRow {
        let event_id = format!("e{id}");
        OutboxRow {
            id,
            payload: format!(
                r#"{{"event_id":"{event_id}","event_type":"{event_type}","order_id":"{order}"}}"#
            ),
            event_id,
            event_type: event_type.to_owned(),
            order_id: order.to_owned(),
            headers: Vec::new(),
        }
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn send(broker: &str, destination: &str, id: &str) -> (String, String, String) {
        (broker.into(), destination.into(), id.into())
    }

    #[test]
    fn order_created_goes_to_amqp_then_kafka_with_the_envelope() {
        let outbox = FakeOutbox::with_rows(vec![row(1, "OrderCreated", "o1")]);
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(1));

        assert_eq!(
            producer.sends(),
            vec![
                send("amqp", "orders.created/order.created", "e1"),
                send("kafka", "order-events/o1", "e1"),
            ]
        );
        let expected = Message {
            data: outbox.rows[0].payload.as_bytes().to_vec(),
            content_type: "application/json".into(),
            message_id: "e1".into(),
            headers: vec![("event-type".into(), "OrderCreated".into())],
        };
        for (_, _, _, message) in producer.sent.borrow().iter() {
            assert_eq!(message, &expected);
        }
        assert_eq!(
            outbox.calls(),
            ["BEGIN", "SELECT 200", "PUBLISHED 1", "COMMIT"]
        );
    }

    #[test]
    fn order_status_changed_goes_only_to_kafka() {
        let outbox = FakeOutbox::with_rows(vec![row(4, "OrderStatusChanged", "o9")]);
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(1));

        assert_eq!(
            producer.sends(),
            vec![send("kafka", "order-events/o9", "e4")]
        );
        assert_eq!(
            producer.sent.borrow()[0].3.headers,
            vec![("event-type".to_owned(), "OrderStatusChanged".to_owned())]
        );
        assert_eq!(
            outbox.calls(),
            ["BEGIN", "SELECT 200", "PUBLISHED 4", "COMMIT"]
        );
    }

    #[test]
    fn a_rows_headers_go_to_both_brokers_after_the_event_type() {
        let outbox = FakeOutbox::with_rows(vec![OutboxRow {
            headers: pairs(&[("traceparent", TRACEPARENT), ("x-request-id", "corr-1")]),
            ..row(1, "OrderCreated", "o1")
        }]);
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(1));

        let expected = pairs(&[
            ("event-type", "OrderCreated"),
            ("traceparent", TRACEPARENT),
            ("x-request-id", "corr-1"),
        ]);
        let sent = producer.sent.borrow();
        assert_eq!(sent.len(), 2);
        for (broker, _, _, message) in sent.iter() {
            assert_eq!(message.headers, expected, "{broker}");
        }
    }

    #[test]
    fn a_status_change_carries_its_rows_headers_to_kafka() {
        let outbox = FakeOutbox::with_rows(vec![OutboxRow {
            headers: pairs(&[("x-request-id", "shipping-9")]),
            ..row(2, "OrderStatusChanged", "o1")
        }]);
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(1));

        assert_eq!(
            producer.sent.borrow()[0].3.headers,
            pairs(&[
                ("event-type", "OrderStatusChanged"),
                ("x-request-id", "shipping-9")
            ])
        );
    }

    #[test]
    fn a_row_cannot_override_the_headers_the_relay_and_host_set() {
        let row = OutboxRow {
            headers: pairs(&[
                ("Event-Type", "OrderDeleted"),
                ("message-id", "forged"),
                ("CONTENT-TYPE", "text/plain"),
                ("x-request-id", "corr-2"),
            ]),
            ..row(3, "OrderCreated", "o1")
        };

        assert_eq!(
            Message::for_row(&row).headers,
            pairs(&[("event-type", "OrderCreated"), ("x-request-id", "corr-2")])
        );
    }

    #[test]
    fn publishes_every_row_in_order_and_counts_them() {
        let outbox = FakeOutbox::with_rows(vec![
            row(1, "OrderCreated", "o1"),
            row(2, "OrderStatusChanged", "o1"),
            row(3, "OrderCreated", "o2"),
        ]);
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(3));

        assert_eq!(
            producer.sends(),
            vec![
                send("amqp", "orders.created/order.created", "e1"),
                send("amqp", "orders.created/order.created", "e3"),
                send("kafka", "order-events/o1", "e1"),
                send("kafka", "order-events/o1", "e2"),
                send("kafka", "order-events/o2", "e3"),
            ]
        );
        assert_eq!(
            outbox.calls(),
            ["BEGIN", "SELECT 200", "PUBLISHED 1,2,3", "COMMIT"]
        );
    }

    #[test]
    fn a_kafka_failure_stops_the_batch_counts_the_attempt_and_commits() {
        let outbox = FakeOutbox::with_rows(vec![
            row(1, "OrderStatusChanged", "o1"),
            row(2, "OrderCreated", "o2"),
            row(3, "OrderStatusChanged", "o2"),
        ]);
        let producer = FakeProducer::default();
        producer
            .kafka_results
            .borrow_mut()
            .extend([Ok(()), Err(PublishError::Unavailable("broker down".into()))]);

        let error = run(&outbox, &producer).unwrap_err();

        assert!(error.contains("e2"), "{error}");
        assert!(
            error.contains("Kafka topic order-events: unavailable: broker down"),
            "{error}"
        );
        assert!(error.contains("1 event(s) published before it"), "{error}");
        // The whole batch went out before the results were known: e2 (and
        // e3) are sent again next run.
        assert_eq!(
            producer.sends(),
            vec![
                send("amqp", "orders.created/order.created", "e2"),
                send("kafka", "order-events/o1", "e1"),
                send("kafka", "order-events/o2", "e2"),
                send("kafka", "order-events/o2", "e3"),
            ]
        );
        assert_eq!(
            outbox.calls(),
            [
                "BEGIN",
                "SELECT 200",
                "PUBLISHED 1",
                "ATTEMPTED 2",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn an_amqp_failure_skips_kafka_and_stops_the_batch() {
        let outbox = FakeOutbox::with_rows(vec![
            row(1, "OrderCreated", "o1"),
            row(2, "OrderStatusChanged", "o3"),
        ]);
        let producer = FakeProducer::default();
        producer
            .amqp_results
            .borrow_mut()
            .push_back(Err(PublishError::Rejected("no exchange".into())));

        let error = run(&outbox, &producer).unwrap_err();

        assert!(
            error.contains("RabbitMQ exchange orders.created: rejected: no exchange"),
            "{error}"
        );
        assert!(error.contains("0 event(s) published before it"), "{error}");
        assert_eq!(
            producer.sends(),
            vec![send("amqp", "orders.created/order.created", "e1")]
        );
        assert_eq!(
            outbox.calls(),
            ["BEGIN", "SELECT 200", "ATTEMPTED 1", "COMMIT"]
        );
    }

    #[test]
    fn an_empty_outbox_commits_and_returns_zero() {
        let outbox = FakeOutbox::default();
        let producer = FakeProducer::default();

        assert_eq!(run(&outbox, &producer), Ok(0));

        assert_eq!(outbox.calls(), ["BEGIN", "SELECT 200", "COMMIT"]);
    }

    #[test]
    fn a_database_error_rolls_back_and_is_returned() {
        let outbox = FakeOutbox {
            fail: Some("PUBLISHED"),
            ..FakeOutbox::with_rows(vec![
                row(1, "OrderStatusChanged", "o1"),
                row(2, "OrderStatusChanged", "o1"),
                row(3, "OrderStatusChanged", "o1"),
            ])
        };
        let producer = FakeProducer::default();

        let error = run(&outbox, &producer).unwrap_err();

        assert_eq!(error, "database: marking events published: connection lost");
        assert_eq!(
            outbox.calls(),
            ["BEGIN", "SELECT 200", "PUBLISHED 1,2,3", "ROLLBACK"]
        );
        assert_eq!(producer.sends().len(), 3);
    }

    #[test]
    fn an_amqp_failure_part_way_stops_the_batch_at_that_event() {
        let outbox = FakeOutbox::with_rows(vec![
            row(1, "OrderCreated", "o1"),
            row(2, "OrderStatusChanged", "o1"),
            row(3, "OrderCreated", "o2"),
            row(4, "OrderStatusChanged", "o2"),
        ]);
        let producer = FakeProducer::default();
        producer.amqp_results.borrow_mut().extend([
            Ok(()),
            Err(PublishError::Unavailable("connection lost".into())),
        ]);

        let error = run(&outbox, &producer).unwrap_err();

        assert!(error.contains("event e3"), "{error}");
        assert!(error.contains("2 event(s) published before it"), "{error}");
        // Kafka gets only what comes before e3, so nothing of o2 overtakes it.
        assert_eq!(
            producer.sends(),
            vec![
                send("amqp", "orders.created/order.created", "e1"),
                send("amqp", "orders.created/order.created", "e3"),
                send("kafka", "order-events/o1", "e1"),
                send("kafka", "order-events/o1", "e2"),
            ]
        );
        assert_eq!(
            outbox.calls(),
            [
                "BEGIN",
                "SELECT 200",
                "PUBLISHED 1,2",
                "ATTEMPTED 3",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn fewer_results_than_messages_counts_as_a_failure() {
        struct ShortProducer;
        impl Producer for ShortProducer {
            fn publish_amqp_batch(
                &self,
                _: &str,
                _: &[(String, Message)],
            ) -> Vec<Result<(), PublishError>> {
                Vec::new()
            }
            fn send_kafka_batch(
                &self,
                _: &str,
                _: &[(String, Message)],
            ) -> Vec<Result<(), PublishError>> {
                Vec::new()
            }
        }
        let outbox = FakeOutbox::with_rows(vec![row(1, "OrderStatusChanged", "o1")]);

        let error = run(&outbox, &ShortProducer).unwrap_err();

        assert!(error.contains("0 result(s) for 1 message(s)"), "{error}");
        assert!(outbox.calls().contains(&"ATTEMPTED 1".to_owned()));
    }

    #[test]
    fn a_failed_begin_is_returned() {
        let outbox = FakeOutbox {
            fail: Some("BEGIN"),
            ..FakeOutbox::default()
        };

        let error = run(&outbox, &FakeProducer::default()).unwrap_err();

        assert_eq!(error, "database: BEGIN: connection lost");
        assert_eq!(outbox.calls(), ["BEGIN"]);
    }

    #[test]
    fn a_failed_commit_rolls_back_and_is_returned() {
        let outbox = FakeOutbox {
            fail: Some("COMMIT"),
            ..FakeOutbox::with_rows(vec![row(1, "OrderCreated", "o1")])
        };

        let error = run(&outbox, &FakeProducer::default()).unwrap_err();

        assert_eq!(error, "database: COMMIT: connection lost");
        assert_eq!(outbox.calls().last().map(String::as_str), Some("ROLLBACK"));
    }
}
