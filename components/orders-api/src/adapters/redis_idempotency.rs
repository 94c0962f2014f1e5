//! Idempotency records in Redis, per user and key: a short-lived in-flight
//! claim taken atomically (`SET NX EX`), replaced by the completed response,
//! kept for 24 hours. Redis answers most retries fast; when it is away the
//! store says `Unavailable` and the database's unique constraint decides.

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

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        fingerprint: String,
    },
    Completed {
        fingerprint: String,
        status: u16,
        body: String,
    },
}

pub struct RedisIdempotencyStore {
    redis: LazyRedis,
}

impl RedisIdempotencyStore {
    pub fn new(address: &str) -> Self {
        Self {
            redis: LazyRedis::new(address),
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
    fn set(&self, key: &str, record: &Record, seconds: i64, only_if_absent: bool) -> Option<bool> {
        let redis = self.redis.get()?;
        let json = serde_json::to_vec(record).ok()?;
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
        };
        // The record can expire between a failed SET NX and the GET that
        // follows: one more round settles it.
        for _ in 0..2 {
            match self.set(&redis_key, &claim, IN_FLIGHT_SECONDS, true) {
                None => return Claim::Unavailable,
                Some(true) => return Claim::Claimed,
                Some(false) => {}
            }
            match self.read(&redis_key) {
                None => return Claim::Unavailable,
                Some(None) => continue,
                Some(Some(Record::InFlight { fingerprint })) => {
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
        let record = Record::Completed {
            fingerprint: response.fingerprint.clone(),
            status: response.status,
            body: String::from_utf8_lossy(&response.body).into_owned(),
        };
        self.set(&record_key(user, key), &record, COMPLETED_SECONDS, false);
    }

    fn release(&self, user: &UserId, key: &IdempotencyKey) {
        if let Some(redis) = self.redis.get() {
            if let Err(error) = redis.del(&[record_key(user, key)]) {
                eprintln!("idempotency claim release failed: {error:?}");
            }
        }
    }
}
