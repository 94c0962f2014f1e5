//! The events the service publishes and consumes, all in the contract's one
//! envelope: `{"event_id","event_type","order_id","timestamp","data"}`.

mod consumed;
mod envelope;
mod event_type;

pub use consumed::{EnvelopeError, StatusEvent};
pub use envelope::EventEnvelope;
pub use event_type::{EventType, UnknownEventType};
