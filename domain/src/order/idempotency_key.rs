//! The client's key that makes retrying a POST safe.

use serde::{Deserialize, Serialize};

/// 1 to 255 printable ASCII characters (0x20 to 0x7E). A UUID is typical, but
/// the contract accepts any such string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

/// The messages are the ones the client sees, so they name the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("idempotency_key must not be empty")]
    Empty,
    #[error(
        "idempotency_key must be at most {} characters",
        IdempotencyKey::MAX_LEN
    )]
    TooLong,
    #[error("idempotency_key must contain only printable ASCII characters")]
    NotPrintable,
}

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn new(key: impl Into<String>) -> Result<Self, IdempotencyKeyError> {
        let key = key.into();
        if key.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        // Counted in characters so a long non-ASCII key is reported as
        // non-printable rather than as too long by its byte count.
        if key.chars().count() > Self::MAX_LEN {
            return Err(IdempotencyKeyError::TooLong);
        }
        if !key.bytes().all(|byte| (0x20..=0x7E).contains(&byte)) {
            return Err(IdempotencyKeyError::NotPrintable);
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = IdempotencyKeyError;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        Self::new(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_from_one_to_255_characters_is_a_key() {
        assert_eq!(IdempotencyKey::new("a").unwrap().as_str(), "a");
        assert!(IdempotencyKey::new(" ~!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}").is_ok());
        assert!(IdempotencyKey::new("k".repeat(255)).is_ok());
    }

    #[test]
    fn an_empty_key_is_refused() {
        assert_eq!(IdempotencyKey::new(""), Err(IdempotencyKeyError::Empty));
    }

    #[test]
    fn a_key_longer_than_255_characters_is_refused() {
        assert_eq!(
            IdempotencyKey::new("k".repeat(256)),
            Err(IdempotencyKeyError::TooLong)
        );
    }

    #[test]
    fn control_characters_and_non_ascii_are_refused() {
        for key in ["tab\there", "new\nline", "del\u{7f}", "caf\u{e9}"] {
            assert_eq!(
                IdempotencyKey::new(key),
                Err(IdempotencyKeyError::NotPrintable),
                "{key:?}"
            );
        }
    }

    #[test]
    fn a_key_is_checked_when_read_from_json() {
        assert!(serde_json::from_str::<IdempotencyKey>("\"abc\"").is_ok());
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
    }
}
