//! The fast path for idempotent retries: a short-lived record per
//! `(user_id, idempotency_key)` of a request in flight or its response.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::order::IdempotencyKey;

/// A response as first sent, kept so a retry gets it again byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// Fingerprint of the request that produced it.
    pub fingerprint: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// The answer to [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No record existed; this request now holds the key and must
    /// `complete` or `release` it.
    Claimed,
    /// Another request holds the key and has not finished.
    InFlight { fingerprint: String },
    /// A request with this key finished with this response.
    Completed(StoredResponse),
    /// The store could not answer. The request goes on without a claim and
    /// relies on the database's unique constraint; it must not `complete` or
    /// `release` a key it does not hold.
    Unavailable,
}

/// Infallible by contract: the database's `(user_id, idempotency_key)`
/// unique constraint is the final word on duplicates and a cache outage must
/// not fail orders, so the adapter logs its own failures and answers
/// [`Claim::Unavailable`] (or does nothing, for `complete` and `release`).
/// Claims should expire on their own so a crashed request cannot hold a key
/// for ever; completed responses are kept at least 24 hours.
pub trait IdempotencyStore {
    /// Atomically claims the key for a request with `fingerprint`, or says
    /// who has it.
    fn claim(&self, user: &UserId, key: &IdempotencyKey, fingerprint: &str) -> Claim;

    /// Replaces this request's claim with its response.
    fn complete(&self, user: &UserId, key: &IdempotencyKey, response: &StoredResponse);

    /// Drops this request's claim, so the client can retry.
    fn release(&self, user: &UserId, key: &IdempotencyKey);
}
