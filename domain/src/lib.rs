//! The order service's domain: what an order is, which changes it allows, the
//! events it emits, the ports it needs from the outside world and the use cases
//! that combine them.
//!
//! No I/O happens here: no clock, no randomness, no network, no environment.
//! Time and ids come in through [`ports::Clock`] and [`ports::IdGenerator`], so
//! every rule is tested with plain unit tests and the crate builds for
//! `wasm32-wasip2` as well as natively.

pub mod auth;
pub mod correlation;
pub mod create_order;
pub mod events;
pub mod get_order;
pub mod ids;
pub mod new_order;
pub mod order;
pub mod ports;
pub mod time;
pub mod update_status;

#[cfg(test)]
mod testing;
