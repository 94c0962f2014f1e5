//! Bindings for `sales:messaging` (wit/messaging.wit): the handler world a
//! broker-triggered component exports, and the outbox relay's world with the
//! producer the host provides it.

pub mod handler {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sales:messaging/message-handler",
        exports: { default: async },
    });
}

pub mod relay {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sales:messaging/outbox-relay",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use handler::exports::sales::messaging::incoming_handler::{HandleMessageError, Message};
pub use handler::MessageHandlerPre;
pub use relay::OutboxRelayPre;
