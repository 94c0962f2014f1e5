//! The product service, asked how much of a product is in stock.

use crate::ids::ProductId;

/// Why the product service gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The service was unreachable, timed out or answered with a 5xx (or
    /// with something unreadable). The text is for logs, not for clients.
    #[error("product service unavailable: {0}")]
    Unavailable(String),
}

pub trait ProductCatalog {
    /// Units available now: `Ok(None)` for a product the service does not
    /// know (its 404), `Ok(Some(0))` for one out of stock.
    fn available_quantity(&self, product: &ProductId) -> Result<Option<u32>, CatalogError>;
}
