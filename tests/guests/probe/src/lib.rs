//! A test-only guest that the host's black-box tests (`tests/tests/sandbox.rs`)
//! use to probe what the sandbox allows, denies and stops. Routed at
//! `/probe/...`; `spin-path-info` holds the rest of the path:
//!
//! - `GET /loop`: spins forever without yielding, to test the host's deadline.
//! - `GET /outbound?url=<percent-encoded URL>`: an outbound GET; 200
//!   `{"status","body"}`, or 502 `{"error"}` when sending fails.
//! - `GET /variable/<name>`: the variable's value as text, or 500 `{"error"}`.
//! - `GET /headers`: the request headers as a JSON object.
//! - `GET /log`: one line to stdout, one to stderr; answers `ok`.
//! - `GET /pg`: a Postgres round trip, reported as JSON (see `pg_check`).
//! - `GET /sleep?ms=N`: answers `slept` after N milliseconds.
//! - anything else: 404.

#![deny(unsafe_code)]
#![warn(clippy::dbg_macro)]

mod pg_check;
mod probe_route;

use guest_http::header;
use spin_sdk::http::{IncomingRequest, Method, Request, Response};

use crate::probe_route::ProbeRoute;

/// The exported entry point. Its own module because the bindings the macro
/// generates use `unsafe`, which the rest of the crate may not.
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{IncomingRequest, Response};
    use spin_sdk::http_component;

    #[http_component]
    async fn handle_probe(request: IncomingRequest) -> Response {
        super::respond(request).await
    }
}

async fn respond(request: IncomingRequest) -> Response {
    let path_with_query = request.path_with_query().unwrap_or_default();
    let query = path_with_query
        .split_once('?')
        .map_or("", |(_, query)| query);
    let path_info = header(&request, "spin-path-info").unwrap_or_default();
    let route = match request.method() {
        Method::Get => ProbeRoute::parse(&path_info, query),
        _ => ProbeRoute::NotFound,
    };
    match route {
        ProbeRoute::Loop => spin_forever(),
        ProbeRoute::Outbound(url) => outbound(url).await,
        ProbeRoute::Variable(name) => variable(&name),
        ProbeRoute::Headers => headers(&request),
        ProbeRoute::Log => log(),
        ProbeRoute::Postgres => {
            match pg_check::run(&header(&request, "x-request-id").unwrap_or_default()) {
                Ok(report) => json(200, &report),
                Err(error) => json(500, &serde_json::json!({ "error": error })),
            }
        }
        ProbeRoute::Sleep(ms) => {
            // A blocking wait on a WASI monotonic-clock pollable: the host
            // suspends this guest and serves others meanwhile.
            std::thread::sleep(std::time::Duration::from_millis(ms));
            text(200, "slept")
        }
        ProbeRoute::NotFound => text(404, "not found"),
    }
}

/// Busy work the optimizer cannot remove and that never yields to the host.
fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

async fn outbound(url: String) -> Response {
    match spin_sdk::http::send::<_, Response>(Request::get(url).build()).await {
        Ok(upstream) => json(
            200,
            &serde_json::json!({
                "status": *upstream.status(),
                "body": String::from_utf8_lossy(upstream.body()),
            }),
        ),
        Err(e) => json(502, &serde_json::json!({ "error": format!("{e}; {e:?}") })),
    }
}

fn variable(name: &str) -> Response {
    match spin_sdk::variables::get(name) {
        Ok(value) => text(200, &value),
        Err(e) => json(500, &serde_json::json!({ "error": format!("{e:?}") })),
    }
}

fn headers(request: &IncomingRequest) -> Response {
    let mut object = serde_json::Map::new();
    for (name, value) in request.headers().entries() {
        let value = String::from_utf8_lossy(&value).into_owned();
        // A repeated header is joined the way HTTP allows: with ", ".
        let joined = match object.remove(&name) {
            Some(serde_json::Value::String(earlier)) => format!("{earlier}, {value}"),
            _ => value,
        };
        object.insert(name, serde_json::Value::String(joined));
    }
    json(200, &serde_json::Value::Object(object))
}

fn log() -> Response {
    println!("probe stdout line");
    eprintln!("probe stderr line");
    text(200, "ok")
}

fn text(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body.to_owned())
        .build()
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
