//! The product service, reached over outbound HTTP at `product_service_url`:
//! `GET {url}/products/{id}` answers `{"available_quantity": N}`, 404 for an
//! unknown product.
//!
//! Written against WASI's HTTP interface directly because spin-sdk's `send`
//! cannot set request options: without a first-byte timeout a hung product
//! service would hold every order request for the host's limit.

use std::time::Duration;

use sales_domain::ids::ProductId;
use sales_domain::ports::{CatalogError, ProductCatalog};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingResponse, Method, OutgoingRequest, RequestOptions, Scheme,
};

/// A product description is small; anything larger is not the mock's answer.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub struct HttpProductCatalog<'a> {
    base_url: &'a str,
    timeout: Duration,
}

impl<'a> HttpProductCatalog<'a> {
    pub fn new(base_url: &'a str, timeout: Duration) -> Self {
        Self { base_url, timeout }
    }
}

fn unavailable(why: impl Into<String>) -> CatalogError {
    CatalogError::Unavailable(why.into())
}

/// `scheme://authority` and the path prefix of the base URL.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), CatalogError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| unavailable(format!("product_service_url {url:?} has no scheme")))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(unavailable(format!("unsupported scheme {other:?}"))),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    Ok((scheme, authority, path))
}

impl ProductCatalog for HttpProductCatalog<'_> {
    fn available_quantity(&self, product: &ProductId) -> Result<Option<u32>, CatalogError> {
        let (scheme, authority, prefix) = split_url(self.base_url)?;
        let request = OutgoingRequest::new(Fields::new());
        let path = format!("{prefix}/products/{product}");
        let set = request
            .set_method(&Method::Get)
            .and(request.set_scheme(Some(&scheme)))
            .and(request.set_authority(Some(authority)))
            .and(request.set_path_with_query(Some(&path)));
        set.map_err(|()| unavailable(format!("invalid product_service_url {:?}", self.base_url)))?;

        let nanos = self.timeout.as_nanos() as u64;
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));

        let pending = outgoing_handler::handle(request, Some(options))
            .map_err(|e| unavailable(format!("sending: {e:?}")))?;
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(unavailable(format!("{code:?}"))),
            Some(Err(())) | None => return Err(unavailable("response already taken")),
        };
        match response.status() {
            200 => parse_stock(&read_body(&response)?).map(Some),
            404 => Ok(None),
            status => Err(unavailable(format!("product service answered {status}"))),
        }
    }
}

fn read_body(response: &IncomingResponse) -> Result<Vec<u8>, CatalogError> {
    let body = response
        .consume()
        .map_err(|()| unavailable("body already taken"))?;
    let stream = body
        .stream()
        .map_err(|()| unavailable("body stream already taken"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(16 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_RESPONSE_BYTES {
                    return Err(unavailable("product service response too large"));
                }
            }
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(error) => return Err(unavailable(format!("reading body: {error:?}"))),
        }
    }
    Ok(bytes)
}

fn parse_stock(body: &[u8]) -> Result<u32, CatalogError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| unavailable(format!("product service answered invalid JSON: {e}")))?;
    value["available_quantity"]
        .as_u64()
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
        .ok_or_else(|| unavailable("product service answer has no available_quantity"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split_into_scheme_authority_and_prefix() {
        let (scheme, authority, prefix) = split_url("http://self/product-service").unwrap();
        assert!(matches!(scheme, Scheme::Http));
        assert_eq!((authority, prefix), ("self", "/product-service"));
        let (_, authority, prefix) = split_url("https://products.example:8443").unwrap();
        assert_eq!((authority, prefix), ("products.example:8443", ""));
        assert!(split_url("products.example").is_err());
        assert!(split_url("ftp://x").is_err());
    }

    #[test]
    fn stock_answers_are_parsed_strictly() {
        assert_eq!(
            parse_stock(br#"{"product_id":"x","available_quantity":5}"#).unwrap(),
            5
        );
        assert!(parse_stock(br#"{"available_quantity":-1}"#).is_err());
        assert!(parse_stock(b"not json").is_err());
    }
}
