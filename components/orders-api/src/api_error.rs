//! The one place where a failure becomes a response: the contract's status
//! codes and error codes, in the seed's error body. Causes of server-side
//! failures go to the log with the request id, never to the client.

use guest_http::body::BodyError;
use guest_http::{error_body, ErrorEntry};
use orders_auth::AuthError;
use sales_domain::create_order::CreateOrderError;
use sales_domain::get_order::GetOrderError;
use sales_domain::new_order::ValidationProblem;
use spin_sdk::http::Response;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Validation(Vec<String>),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("the token may not act for this user")]
    Forbidden,
    #[error("order not found")]
    OrderNotFound,
    #[error("no such resource")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("the product is unknown or has too little stock")]
    ProductUnavailable,
    #[error("the idempotency key was already used for a different request")]
    DuplicateIdempotencyKey,
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyKeyInUse,
    #[error("product service unavailable: {0}")]
    ProductServiceUnavailable(String),
    #[error("database unavailable: {0}")]
    ServiceUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Status, error code and the description the client may see.
    fn parts(&self) -> (u16, &'static str, String) {
        match self {
            Self::Validation(_) => (400, "VALIDATION_ERROR", String::new()),
            Self::PayloadTooLarge { .. } => (413, "PAYLOAD_TOO_LARGE", self.to_string()),
            Self::Unauthorized(_) => (401, "UNAUTHORIZED", self.to_string()),
            Self::Forbidden => (403, "FORBIDDEN", self.to_string()),
            Self::OrderNotFound => (404, "ORDER_NOT_FOUND", self.to_string()),
            Self::RouteNotFound => (404, "NOT_FOUND", self.to_string()),
            Self::MethodNotAllowed { .. } => (405, "METHOD_NOT_ALLOWED", self.to_string()),
            Self::ProductUnavailable => (409, "PRODUCT_UNAVAILABLE", self.to_string()),
            Self::DuplicateIdempotencyKey => (409, "DUPLICATE_IDEMPOTENCY_KEY", self.to_string()),
            Self::IdempotencyKeyInUse => (409, "IDEMPOTENCY_KEY_IN_USE", self.to_string()),
            Self::ProductServiceUnavailable(_) => (
                503,
                "PRODUCT_SERVICE_UNAVAILABLE",
                "the product service is unavailable; try again later".to_owned(),
            ),
            Self::ServiceUnavailable(_) => (
                503,
                "SERVICE_UNAVAILABLE",
                "the service is temporarily unavailable; try again later".to_owned(),
            ),
            Self::Internal(_) => (500, "INTERNAL_ERROR", "internal server error".to_owned()),
        }
    }

    fn is_server_side(&self) -> bool {
        matches!(
            self,
            Self::ProductServiceUnavailable(_) | Self::ServiceUnavailable(_) | Self::Internal(_)
        )
    }

    /// Status, headers and body: pure, so it is tested without a host.
    pub fn response_parts(&self) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
        let (status, code, description) = self.parts();
        let entries: Vec<ErrorEntry> = match self {
            Self::Validation(problems) => problems
                .iter()
                .map(|problem| ErrorEntry {
                    code,
                    description: problem.clone(),
                })
                .collect(),
            _ => vec![ErrorEntry { code, description }],
        };
        let mut headers = vec![("content-type", "application/json".to_owned())];
        match self {
            Self::Unauthorized(error) => {
                headers.push(("www-authenticate", error.www_authenticate()))
            }
            Self::MethodNotAllowed { allow } => headers.push(("allow", (*allow).to_owned())),
            Self::ProductServiceUnavailable(_) | Self::ServiceUnavailable(_) => {
                headers.push(("retry-after", "1".to_owned()))
            }
            _ => {}
        }
        (status, headers, error_body(&entries))
    }

    pub fn into_response(self, request_id: &str) -> Response {
        if self.is_server_side() {
            eprintln!("request_id={request_id} error: {self}");
        }
        let (status, headers, body) = self.response_parts();
        let mut builder = Response::builder();
        builder.status(status);
        for (name, value) in headers {
            builder.header(name, value);
        }
        builder.body(body).build()
    }
}

impl From<Vec<ValidationProblem>> for ApiError {
    fn from(problems: Vec<ValidationProblem>) -> Self {
        Self::Validation(problems.into_iter().map(|p| p.to_string()).collect())
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => Self::PayloadTooLarge { limit },
            BodyError::Unreadable(why) => Self::Validation(vec![why]),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::Unauthorized(error)
    }
}

impl From<CreateOrderError> for ApiError {
    fn from(error: CreateOrderError) -> Self {
        match error {
            CreateOrderError::Forbidden => Self::Forbidden,
            CreateOrderError::ProductUnavailable => Self::ProductUnavailable,
            CreateOrderError::DuplicateIdempotencyKey => Self::DuplicateIdempotencyKey,
            CreateOrderError::IdempotencyKeyInUse => Self::IdempotencyKeyInUse,
            CreateOrderError::ProductServiceUnavailable(why) => {
                Self::ProductServiceUnavailable(why)
            }
            CreateOrderError::StorageUnavailable(why) => Self::ServiceUnavailable(why),
            CreateOrderError::Internal(why) => Self::Internal(why),
        }
    }
}

impl From<GetOrderError> for ApiError {
    fn from(error: GetOrderError) -> Self {
        match error {
            GetOrderError::NotFound => Self::OrderNotFound,
            GetOrderError::Unavailable(why) => Self::ServiceUnavailable(why),
            GetOrderError::Internal(why) => Self::Internal(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(error: ApiError) -> (u16, Vec<(&'static str, String)>, serde_json::Value) {
        let (status, headers, body) = error.response_parts();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn every_validation_problem_is_its_own_entry() {
        let (status, _, body) = parsed(ApiError::Validation(vec!["a".into(), "b".into()]));
        assert_eq!(status, 400);
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|e| e["error_code"] == "VALIDATION_ERROR"));
    }

    #[test]
    fn internal_causes_never_reach_the_body() {
        let (status, _, body) = parsed(ApiError::Internal("secret detail".into()));
        assert_eq!(status, 500);
        assert_eq!(body["errors"][0]["error_code"], "INTERNAL_ERROR");
        assert!(!body.to_string().contains("secret detail"));
        let (status, _, body) = parsed(ApiError::ServiceUnavailable("pg at 10.0.0.1".into()));
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn the_contracts_codes_and_statuses() {
        let cases = [
            (ApiError::Forbidden, 403, "FORBIDDEN"),
            (ApiError::OrderNotFound, 404, "ORDER_NOT_FOUND"),
            (ApiError::ProductUnavailable, 409, "PRODUCT_UNAVAILABLE"),
            (
                ApiError::DuplicateIdempotencyKey,
                409,
                "DUPLICATE_IDEMPOTENCY_KEY",
            ),
            (ApiError::IdempotencyKeyInUse, 409, "IDEMPOTENCY_KEY_IN_USE"),
            (
                ApiError::ProductServiceUnavailable("x".into()),
                503,
                "PRODUCT_SERVICE_UNAVAILABLE",
            ),
            (
                ApiError::PayloadTooLarge { limit: 16384 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                ApiError::Unauthorized(AuthError::MissingToken),
                401,
                "UNAUTHORIZED",
            ),
        ];
        for (error, expected_status, expected_code) in cases {
            let (status, _, body) = parsed(error);
            assert_eq!(status, expected_status);
            assert_eq!(body["errors"][0]["error_code"], expected_code);
        }
    }

    #[test]
    fn a_401_says_how_to_authenticate() {
        let (_, headers, _) = parsed(ApiError::Unauthorized(AuthError::Expired));
        assert!(headers
            .iter()
            .any(|(name, value)| *name == "www-authenticate" && value.starts_with("Bearer")));
    }
}
