//! Which operation a request asks for, from its method and the path below
//! `/product-service` (Spin's `spin-path-info`). Pure: no I/O.

use crate::error::CatalogError;
use crate::product::ProductId;

/// Methods that `/products/:id` supports, for the `allow` header.
pub const PRODUCT_METHODS: &str = "GET, PUT";

/// An operation the catalog performs.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /products/:id`
    GetStock(ProductId),
    /// `PUT /products/:id`
    SetStock(ProductId),
}

impl Route {
    /// Resolves `method` and `path_info`: 404 for a path the catalog does not
    /// serve, 405 for a method `/products/:id` does not support, 400 for an id
    /// that is not a UUID.
    pub fn resolve(method: &str, path_info: &str) -> Result<Self, CatalogError> {
        let path = path_info
            .split_once('?')
            .map_or(path_info, |(path, _)| path);
        let id = path
            .strip_prefix("/products/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or(CatalogError::NotFound)?;
        let build = match method {
            "GET" => Route::GetStock,
            "PUT" => Route::SetStock,
            _ => {
                return Err(CatalogError::MethodNotAllowed {
                    allow: PRODUCT_METHODS,
                })
            }
        };
        Ok(build(ProductId::parse(id)?))
    }

    /// Whether the operation takes a request body.
    pub fn takes_body(&self) -> bool {
        matches!(self, Route::SetStock(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f";

    fn id() -> ProductId {
        ProductId::parse(ID).unwrap()
    }

    #[test]
    fn get_and_put_on_a_product_resolve_to_their_operations() {
        let path = format!("/products/{ID}");
        assert_eq!(Route::resolve("GET", &path), Ok(Route::GetStock(id())));
        assert_eq!(Route::resolve("PUT", &path), Ok(Route::SetStock(id())));
    }

    #[test]
    fn an_uppercase_id_is_the_same_product() {
        let path = format!("/products/{}", ID.to_uppercase());
        assert_eq!(Route::resolve("GET", &path), Ok(Route::GetStock(id())));
    }

    #[test]
    fn a_query_string_is_ignored() {
        let path = format!("/products/{ID}?x=1");
        assert_eq!(Route::resolve("GET", &path), Ok(Route::GetStock(id())));
    }

    #[test]
    fn an_id_that_is_not_a_uuid_is_a_validation_error() {
        let err = Route::resolve("GET", "/products/not-a-uuid").unwrap_err();
        assert!(matches!(err, CatalogError::Validation(_)), "{err:?}");
    }

    #[test]
    fn other_methods_on_a_product_are_not_allowed() {
        let path = format!("/products/{ID}");
        for method in ["POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"] {
            assert_eq!(
                Route::resolve(method, &path),
                Err(CatalogError::MethodNotAllowed { allow: "GET, PUT" }),
                "{method}"
            );
        }
    }

    #[test]
    fn other_paths_are_not_found() {
        for path in [
            "",
            "/",
            "/products",
            "/products/",
            &format!("/products/{ID}/"),
            &format!("/products/{ID}/stock"),
            &format!("/product/{ID}"),
            &format!("/api/products/{ID}"),
            &format!("products/{ID}"),
        ] {
            assert_eq!(
                Route::resolve("GET", path),
                Err(CatalogError::NotFound),
                "{path:?}"
            );
        }
    }

    #[test]
    fn only_a_stock_update_takes_a_body() {
        assert!(Route::SetStock(id()).takes_body());
        assert!(!Route::GetStock(id()).takes_body());
    }
}
