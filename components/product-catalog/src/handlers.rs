//! The catalog's operations, against any [`StockStore`]: what `GET` and `PUT
//! /products/:id` do once the request has been routed and its body read.

use crate::error::CatalogError;
use crate::product::{parse_stock_update, ProductStock};
use crate::routes::Route;
use crate::stock::StockStore;

/// Performs `route` with `body`, returning the product representation. The
/// store is opened only once the request is known to be valid, so that a
/// client error is reported as such even while the store is down.
pub fn handle<S: StockStore>(
    route: Route,
    body: &[u8],
    open_store: impl FnOnce() -> Result<S, CatalogError>,
) -> Result<ProductStock, CatalogError> {
    match route {
        Route::GetStock(id) => open_store()?
            .get(id)?
            .map(|quantity| ProductStock::new(id, quantity))
            .ok_or(CatalogError::ProductNotFound),
        Route::SetStock(id) => {
            let quantity = parse_stock_update(body)?;
            open_store()?.set(id, quantity)?;
            Ok(ProductStock::new(id, quantity))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::product::{AvailableQuantity, ProductId};
    use crate::stock::stock_key;

    /// Stock in memory, or a store that is down.
    #[derive(Default)]
    struct MemoryStock {
        stock: RefCell<HashMap<String, AvailableQuantity>>,
        down: bool,
    }

    impl StockStore for MemoryStock {
        fn get(&self, id: ProductId) -> Result<Option<AvailableQuantity>, CatalogError> {
            if self.down {
                return Err(CatalogError::Unavailable("down".into()));
            }
            Ok(self.stock.borrow().get(&stock_key(id)).copied())
        }

        fn set(&self, id: ProductId, quantity: AvailableQuantity) -> Result<(), CatalogError> {
            if self.down {
                return Err(CatalogError::Unavailable("down".into()));
            }
            self.stock.borrow_mut().insert(stock_key(id), quantity);
            Ok(())
        }
    }

    impl StockStore for &MemoryStock {
        fn get(&self, id: ProductId) -> Result<Option<AvailableQuantity>, CatalogError> {
            (*self).get(id)
        }

        fn set(&self, id: ProductId, quantity: AvailableQuantity) -> Result<(), CatalogError> {
            (*self).set(id, quantity)
        }
    }

    const ID: &str = "0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f";

    fn id() -> ProductId {
        ProductId::parse(ID).unwrap()
    }

    fn opened<'a>(
        store: &'a MemoryStock,
    ) -> impl FnOnce() -> Result<&'a MemoryStock, CatalogError> {
        move || Ok(store)
    }

    fn unreachable_store() -> Result<MemoryStock, CatalogError> {
        Err(CatalogError::Unavailable("connection refused".into()))
    }

    #[test]
    fn a_product_never_set_is_not_found() {
        let store = MemoryStock::default();
        let err = handle(Route::GetStock(id()), b"", opened(&store)).unwrap_err();
        assert_eq!(err, CatalogError::ProductNotFound);
    }

    #[test]
    fn a_stock_level_set_is_read_back() {
        let store = MemoryStock::default();
        let set = handle(
            Route::SetStock(id()),
            br#"{"available_quantity":5}"#,
            opened(&store),
        )
        .unwrap();
        assert_eq!(set.available_quantity, 5);
        assert_eq!(set.product_id, ID);

        let upper = ProductId::parse(&ID.to_uppercase()).unwrap();
        let got = handle(Route::GetStock(upper), b"", opened(&store)).unwrap();
        assert_eq!((got.product_id.as_str(), got.available_quantity), (ID, 5));
    }

    #[test]
    fn zero_stock_is_a_known_product() {
        let store = MemoryStock::default();
        handle(
            Route::SetStock(id()),
            br#"{"available_quantity":0}"#,
            opened(&store),
        )
        .unwrap();
        let got = handle(Route::GetStock(id()), b"", opened(&store)).unwrap();
        assert_eq!(got.available_quantity, 0);
    }

    #[test]
    fn an_invalid_update_changes_nothing() {
        let store = MemoryStock::default();
        let err = handle(
            Route::SetStock(id()),
            br#"{"available_quantity":-1}"#,
            opened(&store),
        )
        .unwrap_err();
        assert!(matches!(err, CatalogError::Validation(_)), "{err:?}");
        assert!(store.stock.borrow().is_empty());
    }

    #[test]
    fn an_invalid_update_is_refused_even_while_the_store_is_unreachable() {
        let err = handle(Route::SetStock(id()), b"{", unreachable_store).unwrap_err();
        assert!(matches!(err, CatalogError::Validation(_)), "{err:?}");
    }

    #[test]
    fn an_unreachable_store_makes_the_catalog_unavailable() {
        for (route, body) in [
            (Route::GetStock(id()), &b""[..]),
            (Route::SetStock(id()), br#"{"available_quantity":1}"#),
        ] {
            let err = handle(route, body, unreachable_store).unwrap_err();
            assert!(matches!(err, CatalogError::Unavailable(_)), "{err:?}");
        }
    }

    #[test]
    fn a_store_that_is_down_makes_the_catalog_unavailable() {
        let store = MemoryStock {
            down: true,
            ..MemoryStock::default()
        };
        for (route, body) in [
            (Route::GetStock(id()), &b""[..]),
            (Route::SetStock(id()), br#"{"available_quantity":1}"#),
        ] {
            let err = handle(route, body, opened(&store)).unwrap_err();
            assert!(matches!(err, CatalogError::Unavailable(_)), "{err:?}");
        }
    }
}
