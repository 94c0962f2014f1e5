//! Which operation a request asks for, from its method and the path below
//! `/api/v1/orders`.

use crate::api_error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateOrder,
    /// The id as given; whether it is a UUID is checked by the handler so
    /// that a bad id is a validation error, not an unknown route.
    GetOrder(String),
}

impl Route {
    pub fn resolve(method: &str, path_info: &str) -> Result<Self, ApiError> {
        let segments: Vec<&str> = path_info.split('/').filter(|s| !s.is_empty()).collect();
        match (segments.as_slice(), method) {
            ([], "POST") => Ok(Self::CreateOrder),
            ([], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            ([id], "GET") => Ok(Self::GetOrder((*id).to_owned())),
            ([_], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            _ => Err(ApiError::RouteNotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collection_takes_posts() {
        assert_eq!(Route::resolve("POST", "").unwrap(), Route::CreateOrder);
        assert_eq!(Route::resolve("POST", "/").unwrap(), Route::CreateOrder);
        assert!(matches!(
            Route::resolve("GET", ""),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn an_order_takes_gets() {
        assert_eq!(
            Route::resolve("GET", "/abc").unwrap(),
            Route::GetOrder("abc".into())
        );
        assert!(matches!(
            Route::resolve("DELETE", "/abc"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            Route::resolve("GET", "/abc/def"),
            Err(ApiError::RouteNotFound)
        ));
    }
}
