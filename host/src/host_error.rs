//! Errors the host itself answers (no route, a guest that failed or ran out
//! of time), in the service's one error body. Causes go to the log, never to
//! the client.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiBody;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no route matches the request")]
    NoRoute,
    #[error("the guest answered with an error: {0}")]
    GuestError(String),
    #[error("the guest ended without sending a response")]
    NoResponse,
    #[error("the guest did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl HostError {
    fn status_and_code(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            HostError::NoRoute => (StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource"),
            HostError::GuestError(_)
            | HostError::NoResponse
            | HostError::Timeout(_)
            | HostError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal server error",
            ),
        }
    }

    pub fn into_response(self) -> Response<WasiBody> {
        let (status, code, description) = self.status_and_code();
        error_response(status, code, description)
    }
}

/// The seed's error body: `{"errors":[{error_code, error_description, error_severity}]}`.
pub fn error_response(status: StatusCode, code: &str, description: &str) -> Response<WasiBody> {
    let body = serde_json::json!({
        "errors": [{
            "error_code": code,
            "error_description": description,
            "error_severity": "error",
        }]
    });
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a static response is valid")
}
