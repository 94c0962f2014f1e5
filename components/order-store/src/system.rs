//! The wall clock and random ids, as the domain's `Clock` and `IdGenerator`.

use std::time::{SystemTime, UNIX_EPOCH};

use sales_domain::ports::{Clock, IdGenerator};
use sales_domain::time::Timestamp;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Timestamp::from_unix_millis(millis).expect("the wall clock is within chrono's range")
    }
}

/// Random (v4) UUIDs from WASI's random source.
pub struct UuidGenerator;

impl IdGenerator for UuidGenerator {
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::new_v4()
    }
}
