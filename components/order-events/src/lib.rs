//! The order-events component: a broker-triggered handler for the queues
//! `orders.shipped` and `orders.delivered` (CONTRACT.md, "Events",
//! "Consumed").
//!
//! Each message is an `OrderShipped` or `OrderDelivered` envelope, applied
//! to its order exactly once by the domain's `ApplyStatusEvent` over the
//! shared adapters of `order-store`. This file only wires: parse, configure,
//! run the use case; [`failure`] says what the host does with a message that
//! could not be handled.

#![deny(unsafe_code)]
#![warn(clippy::dbg_macro)]

mod config;
mod failure;

use order_store::{PgStatusEventStore, RedisOrderCache, SystemClock, UuidGenerator};
use sales_domain::correlation::{Correlation, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use sales_domain::events::StatusEvent;
use sales_domain::update_status::{ApplyStatusEvent, StatusApplied};

use crate::bindings::sales::messaging::types::{HandleMessageError, Message};
use crate::config::Config;

/// The generated bindings and the exported entry point. Their own module
/// because the code the macros generate uses `unsafe`, which the rest of the
/// crate may not.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "sales:messaging/message-handler",
        path: "../../wit",
        additional_derives: [PartialEq, Eq],
    });

    use self::exports::sales::messaging::incoming_handler::Guest;
    use self::sales::messaging::types::{HandleMessageError, Message};

    struct OrderEvents;

    impl Guest for OrderEvents {
        fn handle(message: Message) -> Result<(), HandleMessageError> {
            super::handle(&message)
        }
    }

    export!(OrderEvents);
}

fn handle(message: &Message) -> Result<(), HandleMessageError> {
    let event = match StatusEvent::parse(&message.data) {
        Ok(event) => event,
        Err(error) => {
            let failure = failure::unreadable(&error);
            log(message, None, &failure);
            return Err(failure);
        }
    };
    // The sender's request id and trace context go on with the
    // `OrderStatusChanged` event this message causes.
    let correlation = Correlation::from_headers(
        metadata(message, REQUEST_ID_HEADER),
        metadata(message, TRACEPARENT_HEADER),
    );
    match apply(&event, &correlation) {
        Ok(applied) => {
            log_applied(message, &event, applied);
            Ok(())
        }
        Err(failure) => {
            log(message, Some(&event), &failure);
            Err(failure)
        }
    }
}

fn apply(
    event: &StatusEvent,
    correlation: &Correlation,
) -> Result<StatusApplied, HandleMessageError> {
    let config = Config::load()?;
    let store = PgStatusEventStore::new(&config.database_url);
    let cache = RedisOrderCache::new(&config.redis_url, config.order_cache_ttl_seconds);
    ApplyStatusEvent {
        store: &store,
        cache: &cache,
        clock: &SystemClock,
        ids: &UuidGenerator,
    }
    .execute(event, correlation)
    .map_err(|error| failure::not_applied(&error))
}

/// One line per handled message, so that a request id can be followed from
/// the request that took the order to the consumer (the host tags the line
/// with the message's `x-request-id`).
fn log_applied(message: &Message, event: &StatusEvent, applied: StatusApplied) {
    let outcome = match applied {
        StatusApplied::Changed => "status changed",
        StatusApplied::AlreadyThere => "already in that status",
        StatusApplied::DuplicateEvent => "duplicate event, ignored",
    };
    println!(
        "order-events: {} {} for order {} from {:?}: {outcome}",
        event.event_type.as_str(),
        event.event_id,
        event.order_id,
        message.topic,
    );
}

/// One line per failure: what, which event, which request.
fn log(message: &Message, event: Option<&StatusEvent>, failure: &HandleMessageError) {
    let event_id = event.map_or_else(|| "unknown".to_owned(), |e| e.event_id.to_string());
    let request_id = metadata(message, REQUEST_ID_HEADER).unwrap_or("none");
    eprintln!(
        "order-events: message from {:?} not handled: event_id={event_id} x-request-id={request_id}: {}",
        message.topic,
        failure::describe(failure),
    );
}

fn metadata<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .metadata
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}
