//! The benchmark's native baseline: `GET /product-service/products/:id` as a
//! trivial hyper handler doing the same Redis GET as the product-catalog
//! component and answering the same JSON body. Comparing the two measures
//! what the sandbox costs.
//!
//! `GET /headers` answers the request's headers as a JSON object, with no
//! I/O: the same work as the probe guest's `/probe/headers`, for the floor
//! of the sandbox's cost (what a component that does next to nothing costs).
//!
//! Usage: `native-baseline [--listen ADDR]` (default 127.0.0.1:3001), Redis at
//! `REDIS_URL` (default redis://127.0.0.1:6379). Prints
//! `listening on ADDR` once it accepts connections.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use uuid::Uuid;

const DEFAULT_LISTEN: &str = "127.0.0.1:3001";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
const ROUTE_PREFIX: &str = "/product-service/products/";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = listen_address(std::env::args().skip(1))?;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    let client = redis::Client::open(redis_url.as_str()).context("invalid REDIS_URL")?;
    let redis = ConnectionManager::new(client)
        .await
        .context("connecting to redis")?;

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("listening on {}", listener.local_addr()?);

    loop {
        let (stream, _) = listener.accept().await.context("accepting")?;
        // Small responses: do not wait for more data before sending them.
        let _ = stream.set_nodelay(true);
        let redis = redis.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, redis.clone()));
            // A client that goes away mid-request is not the server's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `--listen ADDR` from the command line.
fn listen_address(mut args: impl Iterator<Item = String>) -> anyhow::Result<SocketAddr> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().context("--listen needs an address")?,
            other => bail!("unknown argument {other:?}; usage: native-baseline [--listen ADDR]"),
        }
    }
    listen
        .parse()
        .with_context(|| format!("invalid listen address {listen:?}"))
}

async fn handle(
    request: Request<Incoming>,
    mut redis: ConnectionManager,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() == Method::GET && request.uri().path() == "/headers" {
        return Ok(json(StatusCode::OK, headers_body(request.headers())));
    }
    let id = match (request.method(), product_id(request.uri().path())) {
        (&Method::GET, Some(Ok(id))) => id,
        (&Method::GET, Some(Err(()))) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "product id is not a UUID",
            ))
        }
        (_, Some(_)) => {
            return Ok(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "method not allowed",
            ))
        }
        (_, None) => return Ok(error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")),
    };
    let key = format!("product-catalog:stock:{id}");
    let stored: Result<Option<String>, _> = redis.get(&key).await;
    Ok(match stored {
        Ok(Some(stored)) => match stored.parse::<u64>() {
            Ok(quantity) => json(StatusCode::OK, product_body(id, quantity)),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error",
            ),
        },
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_FOUND",
            "product not found",
        ),
        Err(e) => {
            eprintln!("redis GET {key:?}: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "the product service is temporarily unavailable",
            )
        }
    })
}

/// The product id in `path`: `None` when the path is not a product's,
/// `Some(Err(()))` when the id is not a hyphenated UUID.
fn product_id(path: &str) -> Option<Result<Uuid, ()>> {
    let id = path
        .strip_prefix(ROUTE_PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))?;
    Some(if id.len() == 36 {
        Uuid::try_parse(id).map_err(|_| ())
    } else {
        Err(())
    })
}

/// The component's body, fields in the same order (`json!` would sort them).
/// The headers as a JSON object; a repeated header joined with ", ".
fn headers_body(headers: &hyper::HeaderMap) -> String {
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let joined = match object.remove(name.as_str()) {
            Some(serde_json::Value::String(earlier)) => format!("{earlier}, {value}"),
            _ => value,
        };
        object.insert(name.as_str().to_owned(), serde_json::Value::String(joined));
    }
    serde_json::Value::Object(object).to_string()
}

fn product_body(id: Uuid, quantity: u64) -> String {
    format!(
        r#"{{"product_id":"{}","available_quantity":{quantity}}}"#,
        id.hyphenated()
    )
}

fn error(status: StatusCode, code: &str, description: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errors": [{
        "error_code": code,
        "error_description": description,
        "error_severity": "error",
    }]});
    json(status, body.to_string())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_answered_as_an_object_with_repeats_joined() {
        let mut headers = hyper::HeaderMap::new();
        headers.append("accept", "*/*".parse().unwrap());
        headers.append("x-twice", "a".parse().unwrap());
        headers.append("x-twice", "b".parse().unwrap());
        let body: serde_json::Value = serde_json::from_str(&headers_body(&headers)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"accept": "*/*", "x-twice": "a, b"})
        );
    }

    const ID: &str = "0b9f5c3e-8f43-4d0a-9d6e-2a1c3b4d5e6f";

    #[test]
    fn a_product_path_yields_its_lowercase_id() {
        let id = product_id(&format!("{ROUTE_PREFIX}{}", ID.to_uppercase()));
        assert_eq!(id.unwrap().unwrap().hyphenated().to_string(), ID);
    }

    #[test]
    fn a_product_path_with_a_bad_id_is_an_error_and_other_paths_are_none() {
        assert_eq!(product_id("/product-service/products/nope"), Some(Err(())));
        assert_eq!(product_id("/product-service/products/"), None);
        assert_eq!(product_id("/elsewhere"), None);
    }

    #[test]
    fn the_body_matches_the_component_s() {
        let body = product_body(Uuid::parse_str(ID).unwrap(), 5);
        assert_eq!(
            body,
            format!(r#"{{"product_id":"{ID}","available_quantity":5}}"#)
        );
    }

    #[test]
    fn the_listen_address_comes_from_the_command_line() {
        let args = ["--listen", "127.0.0.1:0"].map(String::from).into_iter();
        assert_eq!(
            listen_address(args).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            listen_address(std::iter::empty()).unwrap(),
            DEFAULT_LISTEN.parse().unwrap()
        );
        assert!(listen_address(["--port".to_owned()].into_iter()).is_err());
    }
}
