//! What the domain needs from the outside world, as traits the adapters
//! implement: database, cache, product service, clock and id source.
//!
//! Methods take `&self` and are synchronous: each guest handles one request
//! or message at a time on one thread, so adapters keep any state behind
//! `Cell`/`RefCell` and block on their host calls.

mod cache;
mod catalog;
mod clock;
mod idempotency;
mod repository;
mod status_events;

pub use cache::OrderCache;
pub use catalog::{CatalogError, ProductCatalog};
pub use clock::{Clock, IdGenerator};
pub use idempotency::{Claim, IdempotencyStore, StoredResponse};
pub use repository::{OrderRepository, RepositoryError};
pub use status_events::{StatusChange, StatusDecision, StatusEventOutcome, StatusEventStore};
