//! Idempotency records in Redis, per user and key: a short-lived in-flight
//! claim taken atomically (`SET NX EX`), replaced by the completed response,
//! kept for 24 hours. Redis answers most retries fast; when it is away the
//! store says `Unavailable` and the database's unique constraint decides.
//!
//! Each claim carries a token of its own, and a request releases the key
//! only while it still holds its own claim (compare and delete, in one Lua
//! script): a request that outlived its claim must not drop the claim another
//! request took since.

use std::cell::RefCell;

use sales_domain::ids::UserId;
use sales_domain::order::IdempotencyKey;
use sales_domain::ports::{Claim, IdempotencyStore, StoredResponse};
use serde::{Deserialize, Serialize};
use spin_sdk::redis::{RedisParameter, RedisResult};

use order_store::LazyRedis;

/// How long a claim holds while its request runs: longer than any request
/// may take (product check timeout plus the database), short enough that a
/// crashed request does not block its retries for long.
const IN_FLIGHT_SECONDS: i64 = 30;
/// How long a completed response is replayed (the contract: at least 24 h;
/// the database keeps the order itself for good).
const COMPLETED_SECONDS: i64 = 24 * 60 * 60;

/// Deletes KEYS[1] only while it holds ARGV[1], the claim this request
/// wrote; answers how many keys it deleted.
const RELEASE_OWN_CLAIM: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        fingerprint: String,
        /// Which request holds the claim (records from before tokens have
        /// none, and are released by no one: they expire).
        #[serde(default)]
        claim: String,
    },
    Completed {
        fingerprint: String,
        status: u16,
        body: String,
    },
}

pub struct RedisIdempotencyStore {
    redis: LazyRedis,
    /// The value this request's claim was written with, while it holds one.
    held: RefCell<Option<Vec<u8>>>,
}

impl RedisIdempotencyStore {
    pub fn new(address: &str) -> Self {
        Self {
            redis: LazyRedis::new(address),
            held: RefCell::new(None),
        }
    }
}

fn record_key(user: &UserId, key: &IdempotencyKey) -> String {
    format!("orders-api:idempotency:{user}:{}", key.as_str())
}

fn binary(text: impl Into<Vec<u8>>) -> RedisParameter {
    RedisParameter::Binary(text.into())
}

impl RedisIdempotencyStore {
    fn set(&self, key: &str, json: &[u8], seconds: i64, only_if_absent: bool) -> Option<bool> {
        let redis = self.redis.get()?;
        let mut arguments = vec![
            binary(key),
            binary(json),
            binary("EX"),
            RedisParameter::Int64(seconds),
        ];
        if only_if_absent {
            arguments.push(binary("NX"));
        }
        match redis.execute("SET", &arguments) {
            Ok(results) => {
                Some(matches!(results.first(), Some(RedisResult::Status(s)) if s == "OK"))
            }
            Err(error) => {
                eprintln!("idempotency store write failed: {error:?}");
                None
            }
        }
    }

    fn read(&self, key: &str) -> Option<Option<Record>> {
        match self.redis.get()?.get(key) {
            Ok(None) => Some(None),
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(record) => Some(Some(record)),
                Err(error) => {
                    eprintln!("idempotency record {key:?} unreadable: {error}");
                    None
                }
            },
            Err(error) => {
                eprintln!("idempotency store read failed: {error:?}");
                None
            }
        }
    }
}

impl IdempotencyStore for RedisIdempotencyStore {
    fn claim(&self, user: &UserId, key: &IdempotencyKey, fingerprint: &str) -> Claim {
        let redis_key = record_key(user, key);
        let claim = Record::InFlight {
            fingerprint: fingerprint.to_owned(),
            claim: uuid::Uuid::new_v4().to_string(),
        };
        let Ok(claim) = serde_json::to_vec(&claim) else {
            return Claim::Unavailable;
        };
        // The record can expire between a failed SET NX and the GET that
        // follows: one more round settles it.
        for _ in 0..2 {
            match self.set(&redis_key, &claim, IN_FLIGHT_SECONDS, true) {
                None => return Claim::Unavailable,
                Some(true) => {
                    self.held.replace(Some(claim));
                    return Claim::Claimed;
                }
                Some(false) => {}
            }
            match self.read(&redis_key) {
                None => return Claim::Unavailable,
                Some(None) => continue,
                Some(Some(Record::InFlight { fingerprint, .. })) => {
                    return Claim::InFlight { fingerprint }
                }
                Some(Some(Record::Completed {
                    fingerprint,
                    status,
                    body,
                })) => {
                    return Claim::Completed(StoredResponse {
                        fingerprint,
                        status,
                        body: body.into_bytes(),
                    })
                }
            }
        }
        Claim::Unavailable
    }

    fn complete(&self, user: &UserId, key: &IdempotencyKey, response: &StoredResponse) {
        // The response is the key's answer whoever holds the claim now: a
        // retry is owed it.
        self.held.replace(None);
        let record = Record::Completed {
            fingerprint: response.fingerprint.clone(),
            status: response.status,
            body: String::from_utf8_lossy(&response.body).into_owned(),
        };
        if let Ok(json) = serde_json::to_vec(&record) {
            self.set(&record_key(user, key), &json, COMPLETED_SECONDS, false);
        }
    }

    fn release(&self, user: &UserId, key: &IdempotencyKey) {
        let (Some(claim), Some(redis)) = (self.held.take(), self.redis.get()) else {
            return;
        };
        let arguments = [
            binary(RELEASE_OWN_CLAIM),
            RedisParameter::Int64(1),
            binary(record_key(user, key)),
            RedisParameter::Binary(claim),
        ];
        if let Err(error) = redis.execute("EVAL", &arguments) {
            eprintln!("idempotency claim release failed: {error:?}");
        }
    }
}
