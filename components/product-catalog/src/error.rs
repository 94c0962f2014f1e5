//! The catalog's errors and the one place where they become HTTP responses.
//!
//! Every error reaches the client as
//! `{"errors":[{"error_code","error_description","error_severity"}]}`. Causes of
//! server-side failures are logged to stderr with the request id and never
//! put in the body.

use std::fmt;

use spin_sdk::http::Response;

/// Everything that can go wrong while serving a request.
#[derive(Debug, PartialEq, Eq)]
pub enum CatalogError {
    /// The request is malformed: a bad product id or an invalid body. The text
    /// says what is wrong and is shown to the client.
    Validation(String),
    /// The body is larger than the limit (in bytes).
    PayloadTooLarge { limit: usize },
    /// A product that was never given a stock level.
    ProductNotFound,
    /// No route matches the path.
    NotFound,
    /// The path names a product but the method is not one it supports.
    MethodNotAllowed { allow: &'static str },
    /// Redis (or its address) cannot be used; the text is the cause, for the log.
    Unavailable(String),
    /// Anything else, e.g. a stored value that is not a stock level; the text
    /// is the cause, for the log.
    Internal(String),
}

impl From<guest_http::body::BodyError> for CatalogError {
    fn from(error: guest_http::body::BodyError) -> Self {
        match error {
            guest_http::body::BodyError::TooLarge { limit } => Self::PayloadTooLarge { limit },
            guest_http::body::BodyError::Unreadable(why) => Self::Validation(why),
        }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(why) => write!(f, "{why}"),
            Self::PayloadTooLarge { limit } => {
                write!(f, "request body is larger than {limit} bytes")
            }
            Self::ProductNotFound => write!(f, "product not found"),
            Self::NotFound => write!(f, "not found"),
            Self::MethodNotAllowed { allow } => {
                write!(f, "method not allowed; allowed: {allow}")
            }
            Self::Unavailable(cause) => write!(f, "stock store unavailable: {cause}"),
            Self::Internal(cause) => write!(f, "internal error: {cause}"),
        }
    }
}

impl std::error::Error for CatalogError {}

impl CatalogError {
    /// HTTP status, `error_code` and client-facing description.
    fn parts(&self) -> (u16, &'static str, String) {
        match self {
            Self::Validation(_) => (400, "VALIDATION_ERROR", self.to_string()),
            Self::PayloadTooLarge { .. } => (413, "PAYLOAD_TOO_LARGE", self.to_string()),
            Self::ProductNotFound => (404, "PRODUCT_NOT_FOUND", self.to_string()),
            Self::NotFound => (404, "NOT_FOUND", self.to_string()),
            Self::MethodNotAllowed { .. } => (405, "METHOD_NOT_ALLOWED", self.to_string()),
            Self::Unavailable(_) => (
                503,
                "SERVICE_UNAVAILABLE",
                "the product service is temporarily unavailable".to_owned(),
            ),
            Self::Internal(_) => (
                500,
                "INTERNAL_ERROR",
                "the product service failed to handle the request".to_owned(),
            ),
        }
    }

    /// Whether the cause must be logged: the client is told nothing about it.
    fn is_server_side(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

/// The status, extra headers and body for `error`; pure, so that it can be
/// tested without a Spin host.
pub fn error_parts(error: &CatalogError) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let (status, code, description) = error.parts();
    let body = guest_http::error_body(&[guest_http::ErrorEntry { code, description }]);
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let CatalogError::MethodNotAllowed { allow } = error {
        headers.push(("allow", (*allow).to_owned()));
    }
    (status, headers, body)
}

/// Turns `error` into the response the client sees, logging server-side
/// causes to stderr with `request_id`.
pub fn error_response(error: &CatalogError, request_id: &str) -> Response {
    if error.is_server_side() {
        eprintln!("request_id={request_id:?} error: {error}");
    }
    let (status, headers, body) = error_parts(error);
    let mut builder = Response::builder();
    builder.status(status);
    for (name, value) in headers {
        builder.header(name, value);
    }
    builder.body(body).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(error: &CatalogError) -> (u16, serde_json::Value) {
        let (status, _, body) = error_parts(error);
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn a_validation_error_is_a_400_with_its_description() {
        let (status, body) = parsed(&CatalogError::Validation("bad id".into()));
        assert_eq!(status, 400);
        assert_eq!(
            body,
            serde_json::json!({"errors":[{
                "error_code":"VALIDATION_ERROR",
                "error_description":"bad id",
                "error_severity":"error"
            }]})
        );
    }

    #[test]
    fn each_error_has_its_status_and_code() {
        let cases = [
            (
                CatalogError::PayloadTooLarge { limit: 16 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (CatalogError::ProductNotFound, 404, "PRODUCT_NOT_FOUND"),
            (CatalogError::NotFound, 404, "NOT_FOUND"),
            (
                CatalogError::MethodNotAllowed { allow: "GET, PUT" },
                405,
                "METHOD_NOT_ALLOWED",
            ),
            (
                CatalogError::Unavailable("x".into()),
                503,
                "SERVICE_UNAVAILABLE",
            ),
            (CatalogError::Internal("x".into()), 500, "INTERNAL_ERROR"),
        ];
        for (error, status, code) in cases {
            let (got_status, body) = parsed(&error);
            assert_eq!(got_status, status, "{error:?}");
            assert_eq!(body["errors"][0]["error_code"], code, "{error:?}");
            assert_eq!(body["errors"][0]["error_severity"], "error", "{error:?}");
        }
    }

    #[test]
    fn a_server_side_cause_never_reaches_the_body() {
        for error in [
            CatalogError::Unavailable("connection refused to redis://secret@10.0.0.1".into()),
            CatalogError::Internal("stored value \"abc\"".into()),
        ] {
            let (_, _, body) = error_parts(&error);
            let body = String::from_utf8(body).unwrap();
            assert!(!body.contains("secret"), "{body}");
            assert!(!body.contains("abc"), "{body}");
        }
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let (_, headers, _) = error_parts(&CatalogError::MethodNotAllowed { allow: "GET, PUT" });
        assert!(headers.contains(&("allow", "GET, PUT".to_owned())));
        assert!(headers.contains(&("content-type", "application/json".to_owned())));
    }
}
