//! The HTTP front door: accepts connections, gives every request its
//! `x-request-id`, hands it to the [`App`], and drains in-flight requests on
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::Instrument as _;
use wasmtime_wasi_http::WasiBody;

use crate::app::App;
use crate::ops::metrics::{error_code, metrics};
use crate::ops::OpsRoute;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's own id when it is usable (1-128 printable ASCII
/// characters), else a new UUID.
pub fn request_id(request: &Request<Incoming>) -> Arc<str> {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| valid_request_id(id))
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()))
}

fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Serves until `shutdown` completes, then stops accepting and gives
/// in-flight requests up to `drain` to finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause, don't spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(app, request, client).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%client, error = %error, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "in-flight requests still running after the drain period"
        );
    }
}

async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    client: SocketAddr,
) -> Response<WasiBody> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    async move {
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(
            REQUEST_ID,
            HeaderValue::from_str(&id).expect("validated request id"),
        );
        let body = body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync();
        let request = Request::from_parts(parts, body);
        let (response, route) = match OpsRoute::from_path(&path) {
            Some(ops) => (app.ops().handle(ops, &method).await, ops.path()),
            None => app.handle_routed(request, id.clone(), Some(client)).await,
        };
        let (mut response, small_body) = crate::response_body::coalesce_small_body(response).await;
        response.headers_mut().insert(
            REQUEST_ID,
            HeaderValue::from_str(&id).expect("validated request id"),
        );
        let status = response.status().as_u16();
        let code = (status >= 400)
            .then(|| small_body.as_deref().and_then(error_code))
            .flatten();
        let elapsed = started.elapsed();
        metrics().observe_request(
            route,
            method_label(&method),
            status,
            code.as_deref(),
            elapsed,
        );
        tracing::info!(
            method = %method,
            path = %path,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        );
        response
    }
    .instrument(span)
    .await
}

/// Methods as metric labels: the standard ones, and `OTHER` for the rest
/// (a client must not be able to mint label values).
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_be_short_printable_ascii() {
        assert!(valid_request_id("abc-123"));
        assert!(valid_request_id(&"a".repeat(128)));
        assert!(!valid_request_id(&"a".repeat(129)));
        assert!(!valid_request_id(""));
        assert!(valid_request_id("has space"));
        assert!(!valid_request_id("tab\there"));
    }
}
