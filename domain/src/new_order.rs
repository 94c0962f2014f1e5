//! A client's request to create an order: checked field by field, and
//! fingerprinted so a retry can be told apart from a different request that
//! reuses the same idempotency key.

mod parse;

use sha2::{Digest, Sha256};

pub use parse::ValidationProblem;

use crate::ids::{ProductId, UserId};
use crate::order::{IdempotencyKey, Quantity};

/// The body of `POST /api/v1/orders`, every field valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub idempotency_key: IdempotencyKey,
    pub user_id: UserId,
    pub product_id: ProductId,
    pub quantity: Quantity,
}

impl NewOrder {
    /// Hex SHA-256 of the request's canonical JSON: the four fields in a
    /// fixed order, as parsed and normalised (lowercase UUIDs), so the same
    /// request spelled differently has the same fingerprint and any change of
    /// value a different one.
    pub fn fingerprint(&self) -> String {
        let canonical = format!(
            r#"{{"idempotency_key":"{}","user_id":"{}","product_id":"{}","quantity":{}}}"#,
            escape_printable_ascii(self.idempotency_key.as_str()),
            self.user_id,
            self.product_id,
            self.quantity.get(),
        );
        Sha256::digest(canonical)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// JSON string escaping for printable ASCII, which is all an
/// [`IdempotencyKey`] may hold: only `"` and `\` need it. Written out rather
/// than left to a JSON map, whose key order depends on `serde_json` features.
fn escape_printable_ascii(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> NewOrder {
        NewOrder {
            idempotency_key: IdempotencyKey::new("key-1").unwrap(),
            user_id: UserId::parse("6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f").unwrap(),
            product_id: ProductId::parse("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d").unwrap(),
            quantity: Quantity::new(2).unwrap(),
        }
    }

    #[test]
    fn a_fingerprint_is_64_lowercase_hex_digits() {
        let fingerprint = request().fingerprint();
        assert_eq!(fingerprint.len(), 64);
        assert!(fingerprint
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }

    #[test]
    fn the_same_request_always_has_the_same_fingerprint() {
        assert_eq!(request().fingerprint(), request().fingerprint());
        // Pinned so a change to the canonical form, which would make every
        // stored fingerprint stop matching its retries, cannot go unnoticed.
        let canonical = r#"{"idempotency_key":"key-1","user_id":"6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f","product_id":"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d","quantity":2}"#;
        let expected: String = Sha256::digest(canonical)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(request().fingerprint(), expected);
    }

    #[test]
    fn uuid_letter_case_does_not_change_the_fingerprint() {
        let shouting = NewOrder {
            user_id: UserId::parse("6F1C2B1E-3D4A-4C5B-8E9F-0A1B2C3D4E5F").unwrap(),
            ..request()
        };
        assert_eq!(shouting.fingerprint(), request().fingerprint());
    }

    #[test]
    fn any_different_field_changes_the_fingerprint() {
        let original = request().fingerprint();
        let variants = [
            NewOrder {
                idempotency_key: IdempotencyKey::new("key-2").unwrap(),
                ..request()
            },
            NewOrder {
                user_id: UserId::parse("6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e50").unwrap(),
                ..request()
            },
            NewOrder {
                product_id: ProductId::parse("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c30").unwrap(),
                ..request()
            },
            NewOrder {
                quantity: Quantity::new(3).unwrap(),
                ..request()
            },
        ];
        for variant in variants {
            assert_ne!(variant.fingerprint(), original, "{variant:?}");
        }
    }

    #[test]
    fn swapping_user_and_product_changes_the_fingerprint() {
        let original = request();
        let swapped = NewOrder {
            user_id: UserId::from_uuid(*original.product_id.as_uuid()),
            product_id: ProductId::from_uuid(*original.user_id.as_uuid()),
            ..request()
        };
        assert_ne!(swapped.fingerprint(), original.fingerprint());
    }

    #[test]
    fn quotes_in_the_key_cannot_forge_another_requests_canonical_form() {
        let tricky = NewOrder {
            idempotency_key: IdempotencyKey::new(r#"a","user_id":"x"#).unwrap(),
            ..request()
        };
        assert_eq!(
            escape_printable_ascii(tricky.idempotency_key.as_str()),
            r#"a\",\"user_id\":\"x"#
        );
        assert_eq!(escape_printable_ascii(r"back\slash"), r"back\\slash");
        assert_ne!(tricky.fingerprint(), request().fingerprint());
    }
}
