//! The catalog's values, validated on construction: a product id, a stock
//! level, the body of a stock update and the product representation returned
//! to clients.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CatalogError;

/// Largest stock level a product can be given.
pub const MAX_AVAILABLE_QUANTITY: u64 = 1_000_000_000;

/// A product id: a UUID in its hyphenated form, in either case. Displayed
/// lowercase, so that `0B9F...` and `0b9f...` are the same product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductId(Uuid);

impl ProductId {
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        // `Uuid::try_parse` also takes the simple, braced and URN forms; only
        // the hyphenated one is a product id.
        if text.len() != 36 {
            return Err(invalid_id(text));
        }
        Uuid::try_parse(text)
            .map(Self)
            .map_err(|_| invalid_id(text))
    }
}

fn invalid_id(text: &str) -> CatalogError {
    // Quote only a bounded prefix: the id comes from the client.
    let shown: String = text.chars().take(64).collect();
    CatalogError::Validation(format!("product id {shown:?} is not a UUID"))
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// How many units of a product can be ordered: 0 to [`MAX_AVAILABLE_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvailableQuantity(u64);

impl AvailableQuantity {
    pub fn new(quantity: u64) -> Option<Self> {
        (quantity <= MAX_AVAILABLE_QUANTITY).then_some(Self(quantity))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// The body of `PUT /products/:id`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockUpdate {
    // A `Value`, so that a float, a negative or a too-large number gets the
    // range message instead of serde's type message.
    available_quantity: serde_json::Value,
}

/// Parses and validates the body of a stock update.
pub fn parse_stock_update(body: &[u8]) -> Result<AvailableQuantity, CatalogError> {
    let update: StockUpdate = serde_json::from_slice(body)
        .map_err(|e| CatalogError::Validation(format!("invalid request body: {e}")))?;
    update
        .available_quantity
        .as_u64()
        .and_then(AvailableQuantity::new)
        .ok_or_else(|| {
            CatalogError::Validation(format!(
                "available_quantity must be an integer between 0 and {MAX_AVAILABLE_QUANTITY}"
            ))
        })
}

/// What `GET` and `PUT /products/:id` answer.
#[derive(Debug, Serialize)]
pub struct ProductStock {
    pub product_id: String,
    pub available_quantity: u64,
}

impl ProductStock {
    pub fn new(id: ProductId, quantity: AvailableQuantity) -> Self {
        Self {
            product_id: id.to_string(),
            available_quantity: quantity.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f";

    #[test]
    fn a_hyphenated_uuid_is_a_product_id_displayed_lowercase() {
        let id = ProductId::parse(&ID.to_uppercase()).unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(id, ProductId::parse(ID).unwrap());
    }

    #[test]
    fn other_texts_are_not_product_ids() {
        for text in [
            "",
            "abc",
            "0b9f5c3e8f434d0a9d6e2a1c3b4d5e6f",
            "{0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f}",
            "urn:uuid:0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f",
            "0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6g",
            "0b9f5c3e-8f43-4d0a-9d6e_2a1c3b4d5e6f",
        ] {
            let err = ProductId::parse(text).unwrap_err();
            assert!(matches!(err, CatalogError::Validation(_)), "{text:?}");
        }
    }

    #[test]
    fn a_long_invalid_id_is_quoted_only_in_part() {
        let text = "x".repeat(10_000);
        let CatalogError::Validation(why) = ProductId::parse(&text).unwrap_err() else {
            panic!("expected a validation error");
        };
        assert!(why.len() < 200, "{why}");
    }

    #[test]
    fn a_stock_update_within_range_is_accepted() {
        for (body, expected) in [
            (r#"{"available_quantity":0}"#, 0),
            (r#"{"available_quantity":5}"#, 5),
            (r#" { "available_quantity" : 1000000000 } "#, 1_000_000_000),
        ] {
            let quantity = parse_stock_update(body.as_bytes()).unwrap();
            assert_eq!(quantity.get(), expected, "{body}");
        }
    }

    #[test]
    fn a_stock_update_out_of_range_or_not_an_integer_is_refused() {
        for body in [
            r#"{"available_quantity":-1}"#,
            r#"{"available_quantity":1000000001}"#,
            r#"{"available_quantity":18446744073709551616}"#,
            r#"{"available_quantity":1.5}"#,
            r#"{"available_quantity":5.0}"#,
            r#"{"available_quantity":"5"}"#,
            r#"{"available_quantity":null}"#,
            r#"{"available_quantity":true}"#,
        ] {
            let err = parse_stock_update(body.as_bytes()).unwrap_err();
            let CatalogError::Validation(why) = err else {
                panic!("{body}: expected a validation error");
            };
            assert!(why.contains("between 0 and 1000000000"), "{body}: {why}");
        }
    }

    #[test]
    fn a_malformed_or_incomplete_stock_update_is_refused() {
        for body in [
            "",
            "{",
            "[]",
            "5",
            "{}",
            r#"{"available_quantity":5,"extra":1}"#,
            r#"{"available_quantity":5}{"#,
            r#"{"available_quantity":5,"available_quantity":6}"#,
        ] {
            let err = parse_stock_update(body.as_bytes()).unwrap_err();
            let CatalogError::Validation(why) = err else {
                panic!("{body}: expected a validation error");
            };
            assert!(why.starts_with("invalid request body"), "{body}: {why}");
        }
    }

    #[test]
    fn the_product_representation_has_the_contract_fields() {
        let id = ProductId::parse(ID).unwrap();
        let body = ProductStock::new(id, AvailableQuantity::new(7).unwrap());
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            format!(r#"{{"product_id":"{ID}","available_quantity":7}}"#)
        );
    }
}
