//! The outbox-relay component (CONTRACT.md, "Events", "Published"): the host
//! calls `relay.run` when the outbox has news and on an interval; each run
//! publishes the oldest unpublished events through the host's `producer`
//! and marks them in the `outbox` table.
//!
//! This file only wires: configuration ([`config`]), the database
//! ([`postgres`]), the host's producer (below), and the batch ([`relay`]).

#![deny(unsafe_code)]
#![warn(clippy::dbg_macro)]

mod config;
mod postgres;
mod relay;

use crate::bindings::sales::messaging::producer::{self, OutgoingMessage};
use crate::config::Config;
use crate::postgres::PgOutbox;
use crate::relay::{Message, Producer, PublishError};

/// The generated bindings and the exported entry point. Their own module
/// because the code the macros generate uses `unsafe`, which the rest of the
/// crate may not.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "sales:messaging/outbox-relay",
        path: "../../wit",
    });

    use self::exports::sales::messaging::relay::Guest;

    struct OutboxRelay;

    impl Guest for OutboxRelay {
        fn run() -> Result<u32, String> {
            super::run()
        }
    }

    export!(OutboxRelay);
}

fn run() -> Result<u32, String> {
    let config = Config::load()?;
    let outbox = PgOutbox::open(&config.database_url)?;
    relay::run(&outbox, &HostProducer)
}

/// The host's `producer` import.
struct HostProducer;

fn outgoing(message: &Message) -> OutgoingMessage {
    OutgoingMessage {
        data: message.data.clone(),
        content_type: message.content_type.clone(),
        message_id: message.message_id.clone(),
        headers: message.headers.clone(),
    }
}

fn publish_error(error: producer::PublishError) -> PublishError {
    match error {
        producer::PublishError::Unavailable(why) => PublishError::Unavailable(why),
        producer::PublishError::Rejected(why) => PublishError::Rejected(why),
    }
}

impl Producer for HostProducer {
    fn publish_amqp_batch(
        &self,
        exchange: &str,
        messages: &[(String, Message)],
    ) -> Vec<Result<(), PublishError>> {
        producer::publish_amqp_batch(exchange, &outgoing_batch(messages))
            .into_iter()
            .map(|result| result.map_err(publish_error))
            .collect()
    }

    fn send_kafka_batch(
        &self,
        topic: &str,
        messages: &[(String, Message)],
    ) -> Vec<Result<(), PublishError>> {
        producer::send_kafka_batch(topic, &outgoing_batch(messages))
            .into_iter()
            .map(|result| result.map_err(publish_error))
            .collect()
    }
}

fn outgoing_batch(messages: &[(String, Message)]) -> Vec<(String, OutgoingMessage)> {
    messages
        .iter()
        .map(|(key, message)| (key.clone(), outgoing(message)))
        .collect()
}
