//! What every HTTP component of the Sales API does alike: read a body within
//! a limit, read a header, and write the service's one error body.

pub mod body;

use spin_sdk::http::IncomingRequest;

/// The first value of the request header `name`, if it is UTF-8.
pub fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .into_iter()
        .next()
        .and_then(|value| String::from_utf8(value).ok())
}

/// One entry of the error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntry {
    pub code: &'static str,
    pub description: String,
}

/// The seed's error body:
/// `{"errors":[{"error_code","error_description","error_severity":"error"}]}`.
pub fn error_body(entries: &[ErrorEntry]) -> Vec<u8> {
    let errors: Vec<serde_json::Value> = entries
        .iter()
        .map(|entry| {
            serde_json::json!({
                "error_code": entry.code,
                "error_description": entry.description,
                "error_severity": "error",
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "errors": errors }))
        .expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_has_one_entry_per_problem() {
        let body = error_body(&[
            ErrorEntry {
                code: "VALIDATION_ERROR",
                description: "a".into(),
            },
            ErrorEntry {
                code: "VALIDATION_ERROR",
                description: "b".into(),
            },
        ]);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
        assert_eq!(body["errors"][1]["error_description"], "b");
        assert_eq!(body["errors"][0]["error_severity"], "error");
    }
}
