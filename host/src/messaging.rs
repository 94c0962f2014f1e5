//! Bindings for `sales:messaging` (wit/messaging.wit): the handler world a
//! broker-triggered component exports.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "sales:messaging/message-handler",
    exports: { default: async },
});

pub use exports::sales::messaging::incoming_handler::{HandleMessageError, Message};
