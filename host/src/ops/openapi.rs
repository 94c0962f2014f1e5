//! `GET /openapi.json`: the service's OpenAPI document (`docs/openapi.yaml`,
//! compiled into the binary so that the document always matches the build
//! that serves it), as JSON.

use anyhow::Context as _;
use bytes::Bytes;

const DOCUMENT: &str = include_str!("../../../docs/openapi.yaml");

/// The document as JSON; an error if the YAML does not parse (checked at
/// start-up and by a unit test, so a broken document never ships).
pub fn document_json() -> anyhow::Result<Bytes> {
    let document: serde_json::Value =
        serde_yaml_ng::from_str(DOCUMENT).context("docs/openapi.yaml is not valid YAML")?;
    Ok(Bytes::from(serde_json::to_vec(&document)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_service_paths() {
        let json: serde_json::Value = serde_json::from_slice(&document_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/v1/orders",
            "/api/v1/orders/{id}",
            "/health",
            "/metrics",
        ] {
            assert!(json["paths"].get(path).is_some(), "{path} is documented");
        }
    }
}
