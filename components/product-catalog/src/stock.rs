//! Where stock levels live: the [`StockStore`] port and its Redis adapter.
//!
//! A product's stock is the decimal text of its quantity at
//! `product-catalog:stock:<uuid>` (the uuid lowercase and hyphenated), so that
//! `redis-cli GET` shows it and the native benchmark baseline reads the same
//! key.

use spin_sdk::redis::Connection;

use crate::error::CatalogError;
use crate::product::{AvailableQuantity, ProductId};

/// The Spin variable holding the Redis address.
const REDIS_URL_VARIABLE: &str = "redis_url";

/// Reads and writes stock levels.
///
/// Errors: [`CatalogError::Unavailable`] when the store cannot be reached;
/// [`CatalogError::Internal`] when it holds something that is not a stock level.
pub trait StockStore {
    /// The stock of `id`, or `None` for a product never set.
    fn get(&self, id: ProductId) -> Result<Option<AvailableQuantity>, CatalogError>;
    /// Sets the stock of `id`, creating the product if it was never set.
    fn set(&self, id: ProductId, quantity: AvailableQuantity) -> Result<(), CatalogError>;
}

/// The Redis key of a product's stock.
pub fn stock_key(id: ProductId) -> String {
    format!("product-catalog:stock:{id}")
}

/// Reads a stored stock level.
pub fn decode_quantity(stored: &[u8]) -> Result<AvailableQuantity, CatalogError> {
    std::str::from_utf8(stored)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .and_then(AvailableQuantity::new)
        .ok_or_else(|| {
            let shown = String::from_utf8_lossy(&stored[..stored.len().min(64)]).into_owned();
            CatalogError::Internal(format!("stored stock {shown:?} is not a stock level"))
        })
}

/// Writes a stock level the way [`decode_quantity`] reads it.
pub fn encode_quantity(quantity: AvailableQuantity) -> Vec<u8> {
    quantity.get().to_string().into_bytes()
}

/// Stock in Redis, through Spin's outbound Redis interface.
pub struct RedisStock {
    connection: Connection,
}

impl RedisStock {
    /// Opens a connection to the Redis named by the `redis_url` variable.
    pub fn open() -> Result<Self, CatalogError> {
        let address = spin_sdk::variables::get(REDIS_URL_VARIABLE).map_err(|e| {
            CatalogError::Unavailable(format!("variable {REDIS_URL_VARIABLE:?}: {e:?}"))
        })?;
        // The address may hold a password: the error names only the variable.
        let connection = Connection::open(&address).map_err(|e| {
            CatalogError::Unavailable(format!(
                "opening redis at variable {REDIS_URL_VARIABLE:?}: {e:?}"
            ))
        })?;
        Ok(Self { connection })
    }
}

impl StockStore for RedisStock {
    fn get(&self, id: ProductId) -> Result<Option<AvailableQuantity>, CatalogError> {
        let key = stock_key(id);
        let stored = self
            .connection
            .get(&key)
            .map_err(|e| CatalogError::Unavailable(format!("redis GET {key:?}: {e:?}")))?;
        stored.as_deref().map(decode_quantity).transpose()
    }

    fn set(&self, id: ProductId, quantity: AvailableQuantity) -> Result<(), CatalogError> {
        let key = stock_key(id);
        self.connection
            .set(&key, &encode_quantity(quantity))
            .map_err(|e| CatalogError::Unavailable(format!("redis SET {key:?}: {e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_uses_the_lowercase_uuid() {
        let id = ProductId::parse("0B9F5C3E-8F43-4D0A-9D6E-2A1C3B4D5E6F").unwrap();
        assert_eq!(
            stock_key(id),
            "product-catalog:stock:0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f"
        );
    }

    #[test]
    fn a_stock_level_survives_encoding() {
        for n in [0, 1, 42, 1_000_000_000] {
            let quantity = AvailableQuantity::new(n).unwrap();
            assert_eq!(decode_quantity(&encode_quantity(quantity)), Ok(quantity));
        }
        assert_eq!(encode_quantity(AvailableQuantity::new(5).unwrap()), b"5");
    }

    #[test]
    fn a_stored_value_that_is_not_a_stock_level_is_an_internal_error() {
        for stored in [
            &b""[..],
            b"abc",
            b"-1",
            b"1.5",
            b" 5",
            b"1000000001",
            b"\xff",
        ] {
            let err = decode_quantity(stored).unwrap_err();
            assert!(matches!(err, CatalogError::Internal(_)), "{stored:?}");
        }
    }
}
